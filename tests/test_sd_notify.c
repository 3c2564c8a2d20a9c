/* sd_notify without libsystemd (sidecar/sd_notify.c): every datagram is
 * received on a real unix datagram socket bound by the test, at a file path
 * and in the abstract namespace ("@name"), as systemd binds its own; the
 * watchdog's keep-alives come from a real libev loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/sd_notify.h"
#include "sidecar/sidecar.h"

struct fx {
    int fd;
    char dir[64];
    char path[96];
};

/* Binds a datagram socket at NAME ("@x" = abstract) and sets NOTIFY_SOCKET. */
static int bind_at(struct fx *f, const char *name)
{
    struct sockaddr_un sa;
    socklen_t len;
    size_t n = strlen(name);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, name, n);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
        len--;
    }
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sa, len) != 0)
        return -1;
    struct timeval tv = {2, 0};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return setenv("NOTIFY_SOCKET", name, 1);
}

/* The next datagram, or "" when none arrives (non-blocking peek). */
static const char *next_dgram(struct fx *f, int flags)
{
    static char buf[256];
    ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, flags);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->fd = -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/meshreg-test-notify-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
    sd_notify_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    unsetenv("NOTIFY_SOCKET");
    free(f);
    return 0;
}

static void test_path_socket(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(bind_at(f, f->path), 0);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), 1);
    assert_string_equal(next_dgram(f, 0), "READY=1");
    assert_int_equal(sd_notify_send("STOPPING=1\nSTATUS=draining", err, sizeof(err)), 1);
    assert_string_equal(next_dgram(f, 0), "STOPPING=1\nSTATUS=draining");
}

static void test_abstract_socket(void **state)
{
    struct fx *f = *state;
    char name[64], err[256] = "";
    snprintf(name, sizeof(name), "@meshreg-test-notify-%d", (int)getpid());
    assert_int_equal(bind_at(f, name), 0);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), 1);
    assert_string_equal(next_dgram(f, 0), "READY=1");
}

static void test_unset_is_noop(void **state)
{
    char err[64] = "untouched";
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), 0);
    assert_string_equal(err, "untouched");
}

static void test_bad_addresses(void **state)
{
    struct fx *f = *state;
    char err[256], longp[200];
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not an absolute path"));
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longp, 1);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "length"));
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), -1);
    /* Nobody bound there: the kernel's reason is reported. */
    setenv("NOTIFY_SOCKET", f->path, 1);
    assert_int_equal(sd_notify_send("READY=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, strerror(ENOENT)));
}

/* READY=1 waits for every check's first probe result, and is sent once. */
static void test_ready_once_after_first_probes(void **state)
{
    struct fx *f = *state;
    struct check checks[2];
    struct sidecar sc;
    memset(checks, 0, sizeof(checks));
    memset(&sc, 0, sizeof(sc));
    sc.checks = checks;
    sc.nchecks = 2;
    assert_int_equal(bind_at(f, f->path), 0);

    sd_notify_ready_if_probed(&sc);
    checks[0].last_at = 1.0;
    sd_notify_ready_if_probed(&sc);
    assert_string_equal(next_dgram(f, MSG_DONTWAIT), "");
    checks[1].last_at = 2.0;
    sd_notify_ready_if_probed(&sc);
    assert_string_equal(next_dgram(f, 0), "READY=1");
    sd_notify_ready_if_probed(&sc);
    assert_string_equal(next_dgram(f, MSG_DONTWAIT), "");

    sd_notify_stopping();
    assert_string_equal(next_dgram(f, 0), "STOPPING=1");
}

static void test_ready_without_checks(void **state)
{
    struct fx *f = *state;
    struct sidecar sc;
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(bind_at(f, f->path), 0);
    sd_notify_ready_if_probed(&sc);
    assert_string_equal(next_dgram(f, 0), "READY=1");
}

static void stop_loop(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop for `seconds`, then counts the WATCHDOG=1 datagrams. */
static int watchdog_pings(struct fx *f, struct ev_loop *loop, double seconds)
{
    ev_timer stop;
    int n = 0;
    ev_timer_init(&stop, stop_loop, seconds, 0.);
    ev_timer_start(loop, &stop);
    ev_run(loop, 0);
    ev_timer_stop(loop, &stop);
    while (strcmp(next_dgram(f, MSG_DONTWAIT), "WATCHDOG=1") == 0)
        n++;
    return n;
}

/* WATCHDOG_USEC=200000: a ping at once, then every 100 ms from the loop. */
static void test_watchdog_pings(void **state)
{
    struct fx *f = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256] = "";
    char pid[32];
    assert_int_equal(bind_at(f, f->path), 0);
    setenv("WATCHDOG_USEC", "200000", 1);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sd_notify_watchdog_start(loop, err, sizeof(err)), 1);
    int n = watchdog_pings(f, loop, 0.35);
    assert_in_range(n, 2, 5); /* at 0, 100, 200, 300 ms; 2 if the machine stalls */
    sd_notify_watchdog_stop(loop);
    assert_int_equal(watchdog_pings(f, loop, 0.25), 0);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    ev_loop_destroy(loop);
}

/* No watchdog asked for, one meant for another process, a bad value. */
static void test_watchdog_off(void **state)
{
    struct fx *f = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256] = "";
    assert_int_equal(bind_at(f, f->path), 0);
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(sd_notify_watchdog_start(loop, err, sizeof(err)), 0);
    setenv("WATCHDOG_USEC", "100000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    assert_int_equal(sd_notify_watchdog_start(loop, err, sizeof(err)), 0);
    assert_int_equal(watchdog_pings(f, loop, 0.15), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "30s", 1);
    assert_int_equal(sd_notify_watchdog_start(loop, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "WATCHDOG_USEC=30s"));
    unsetenv("WATCHDOG_USEC");
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abstract_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unset_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_once_after_first_probes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_without_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_pings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
