/* sd_notify(3) without libsystemd: see sd_notify.h for why. */
#include "sidecar/sd_notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sidecar/log.h"
#include "sidecar/sidecar.h"

static bool ready_sent;

/* Fills a sockaddr_un from $NOTIFY_SOCKET's value: an absolute path, or
 * "@name" for a Linux abstract socket (the address is then "\0name", and
 * its length counts exactly the name's bytes, no terminator). */
static int notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *len, char *err,
                       size_t errlen)
{
    size_t n = strlen(path);
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (path[0] != '/' && path[0] != '@') {
        snprintf(err, errlen, "NOTIFY_SOCKET=%s: not an absolute path or @abstract name", path);
        return -1;
    }
    if (n >= sizeof(sa->sun_path) || (path[0] == '@' && n < 2)) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%s: bad socket address length %zu", path, n);
        return -1;
    }
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@') {
        sa->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int sd_notify_send(const char *state, char *err, size_t errlen)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t len;

    if (!path || !path[0])
        return 0;
    if (notify_addr(path, &sa, &len, err, errlen) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return -1;
    }
    size_t n = strlen(state);
    ssize_t w = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    int saved = errno;
    close(fd);
    if (w < 0 || (size_t)w != n) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%s: %s", path, w < 0 ? strerror(saved) : "short send");
        return -1;
    }
    return 1;
}

static void notify(const char *state)
{
    static bool warned; /* a dead socket would otherwise warn at every keep-alive */
    char err[256];
    if (sd_notify_send(state, err, sizeof(err)) < 0) {
        if (!warned)
            log_warn(NULL, "systemd notify %s: %s (further failures not logged)", state, err);
        warned = true;
    } else if (getenv("NOTIFY_SOCKET"))
        log_debug(NULL, "systemd notified %s", state);
}

bool sd_notify_ready_if_probed(const struct sidecar *sc)
{
    if (ready_sent)
        return false;
    for (size_t i = 0; i < sc->nchecks; i++)
        if (!sc->checks[i].last_at)
            return false;
    ready_sent = true;
    notify("READY=1");
    return true;
}

void sd_notify_stopping(void)
{
    notify("STOPPING=1");
}

/* The process-wide keep-alive timer (see sd_notify.h). */
static ev_timer watchdog;

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    notify("WATCHDOG=1");
}

int sd_notify_watchdog_start(struct ev_loop *loop, char *err, size_t errlen)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;

    if (!usec || !usec[0] || !getenv("NOTIFY_SOCKET"))
        return 0;
    /* Inherited from a parent that was the watched one: not ours to feed. */
    if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    errno = 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (errno || *end || us == 0) {
        snprintf(err, errlen, "WATCHDOG_USEC=%s: not a positive number of microseconds", usec);
        return -1;
    }
    double half = (double)us / 2e6;
    ev_timer_init(&watchdog, watchdog_cb, 0., half);
    ev_timer_start(loop, &watchdog);
    return 1;
}

void sd_notify_watchdog_stop(struct ev_loop *loop)
{
    ev_timer_stop(loop, &watchdog);
}

void sd_notify_reset(void)
{
    ready_sent = false;
}
