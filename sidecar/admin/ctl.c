/* The client of `meshreg drain|undrain|status`. Blocking sockets under one
 * deadline per call (poll), so a hung sidecar cannot hang a preStop hook
 * for longer than the timeout of each call. */
#include "sidecar/admin/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/http1.h"
#include "proto/netaddr.h"

#define CTL_DEFAULT_ADMIN "127.0.0.1:6666"
#define CTL_TIMEOUT_S 5.0          /* connect + request + answer, per call */
#define CTL_POLL_S 0.15            /* --wait: period of GET /status */
#define CTL_WAIT_SLACK_S 30.0      /* --wait: give up this long after the promised end */
#define CTL_WAIT_MAX_ERRORS 3      /* --wait: consecutive failed polls before giving up */
#define CTL_MAX_ANSWER (16u << 20) /* a /status of many checks stays far below */

struct ctl_opts {
    const char *admin;
    const char *reason;
    const char *expires;
    bool wait;
};

struct ctl_answer {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

/* How a call failed, for --wait: a sidecar that exited after its window
 * refuses connections, which is success there. */
enum ctl_fail { CTL_OK, CTL_GONE, CTL_ERROR };

static void usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "drain") == 0)
        fprintf(f, "usage: meshreg drain [--reason R] [--expires SECONDS] [--wait] [--admin ADDR]\n"
                   "  Takes every registration out of the backend (POST /drain), like hadown.\n"
                   "  --reason R         shown in /status and the logs\n"
                   "  --expires SECONDS  the drain ends by itself after this long (0 = never)\n"
                   "  --wait             return only once the drain window has passed (or the\n"
                   "                     sidecar has exited): for a preStop hook\n");
    else if (strcmp(cmd, "undrain") == 0)
        fprintf(f, "usage: meshreg undrain [--admin ADDR]\n"
                   "  Ends an admin drain (POST /undrain): healthy registrations return, like "
                   "haup.\n");
    else
        fprintf(f, "usage: meshreg status [--admin ADDR]\n"
                   "  Prints the sidecar's state (GET /status), like hastatus.\n");
    fprintf(f,
            "  --admin ADDR       the sidecar's admin endpoint, HOST:PORT or [IPv6]:PORT\n"
            "                     (default: $MESHREG_ADMIN, else %s; 0.0.0.0 and ::\n"
            "                     mean this host's loopback)\n"
            "  -h, --help         this text\n"
            "Exit status: 0 done, 1 failure (cannot connect, refused, error answer%s),\n"
            "2 bad usage.\n",
            CTL_DEFAULT_ADMIN, strcmp(cmd, "status") == 0 ? ", not 200" : "");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits for fd to become ready before the deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)ceil(left * 1000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 1; /* let the following call report the error */
    }
}

static int parse_target(const char *s, struct netaddr *na, char *err, size_t errlen)
{
    if (netaddr_parse(s, na, err, errlen) < 0)
        return -1;
    /* A sidecar listening on every address is reached on loopback. */
    if (netaddr_is_any((struct sockaddr *)&na->ss)) {
        int port = netaddr_port((struct sockaddr *)&na->ss);
        char lo[32];
        snprintf(lo, sizeof(lo), na->ss.ss_family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", port);
        return netaddr_parse(lo, na, err, errlen);
    }
    return 0;
}

/* One request on a fresh connection ("Connection: close"), answer read to
 * its end. */
static enum ctl_fail call(const struct netaddr *na, const char *method, const char *target,
                          const char *body, struct ctl_answer *ans, char *err, size_t errlen)
{
    char hostport[NETADDR_STRLEN], head[1024];
    double deadline = now_s() + CTL_TIMEOUT_S;
    enum ctl_fail rc = CTL_ERROR;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd;

    memset(ans, 0, sizeof(*ans));
    netaddr_format((const struct sockaddr *)&na->ss, hostport, sizeof(hostport));
    size_t blen = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: meshreg-ctl\r\n"
                      "Connection: close\r\n%s%s%zu\r\n\r\n",
                      method, target, hostport,
                      body ? "Content-Type: application/x-www-form-urlencoded\r\n" : "",
                      "Content-Length: ", blen);
    if (hl < 0 || (size_t)hl >= sizeof(head)) {
        snprintf(err, errlen, "request too long");
        return CTL_ERROR;
    }

    fd = socket(na->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return CTL_ERROR;
    }
    if (connect(fd, (const struct sockaddr *)&na->ss, na->len) < 0) {
        if (errno != EINPROGRESS) {
            snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(errno));
            rc = errno == ECONNREFUSED ? CTL_GONE : CTL_ERROR;
            goto out;
        }
        if (!wait_fd(fd, POLLOUT, deadline)) {
            snprintf(err, errlen, "cannot connect to %s: timed out after %.0f s", hostport,
                     CTL_TIMEOUT_S);
            goto out;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(soerr));
            rc = soerr == ECONNREFUSED ? CTL_GONE : CTL_ERROR;
            goto out;
        }
    }

    /* send head then body */
    for (int part = 0; part < 2; part++) {
        const char *p = part ? body : head;
        size_t n = part ? blen : (size_t)hl;
        while (n > 0) {
            ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (!wait_fd(fd, POLLOUT, deadline)) {
                    snprintf(err, errlen, "%s: sending timed out", hostport);
                    goto out;
                }
                continue;
            }
            if (w < 0) {
                snprintf(err, errlen, "%s: send: %s", hostport, strerror(errno));
                rc = errno == ECONNRESET || errno == EPIPE ? CTL_GONE : CTL_ERROR;
                goto out;
            }
            p += w;
            n -= (size_t)w;
        }
    }

    /* read until the declared body is complete, or EOF */
    struct http1_response res;
    long rhl = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            if (cap >= CTL_MAX_ANSWER) {
                snprintf(err, errlen, "%s: answer too large", hostport);
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLIN, deadline)) {
                snprintf(err, errlen, "%s: no answer within %.0f s", hostport, CTL_TIMEOUT_S);
                goto out;
            }
            continue;
        }
        if (r < 0) {
            snprintf(err, errlen, "%s: receive: %s", hostport, strerror(errno));
            rc = errno == ECONNRESET ? CTL_GONE : CTL_ERROR;
            goto out;
        }
        len += (size_t)r;
        while (rhl == 0) {
            rhl = http1_parse_response(buf, len, 64 * 1024, &res);
            if (rhl < 0) {
                snprintf(err, errlen, "%s: not an HTTP answer", hostport);
                goto out;
            }
            if (rhl == 0 || res.status != 100)
                break;
            /* an interim answer: drop it; the real one follows, and may
             * already be in the buffer (the server need not send more) */
            memmove(buf, buf + rhl, len - (size_t)rhl);
            len -= (size_t)rhl;
            rhl = 0;
        }
        if (rhl > 0 && res.content_length >= 0 && len >= (size_t)rhl + (size_t)res.content_length) {
            len = (size_t)rhl + (size_t)res.content_length;
            break;
        }
        if (r == 0) {
            if (rhl == 0) {
                /* closed before answering: a sidecar on its way out */
                snprintf(err, errlen, "%s: connection closed without an answer", hostport);
                rc = CTL_GONE;
                goto out;
            }
            if (res.content_length >= 0) {
                snprintf(err, errlen, "%s: answer cut short", hostport);
                goto out;
            }
            break; /* body delimited by the close */
        }
    }
    ans->status = res.status;
    ans->len = len - (size_t)rhl;
    memmove(buf, buf + rhl, ans->len);
    buf[ans->len] = '\0';
    ans->body = buf;
    buf = NULL;
    rc = CTL_OK;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Percent-encodes a form value. */
static void form_append(char *out, size_t cap, const char *key, const char *val)
{
    size_t o = strlen(out);
    int n = snprintf(out + o, cap - o, "%s%s=", o ? "&" : "", key);
    if (n < 0 || (size_t)n >= cap - o)
        return;
    o += (size_t)n;
    for (const unsigned char *p = (const unsigned char *)val; *p && o + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* Reads drain.window_remaining_ms (or window_remaining_ms at the top, as
 * POST /drain answers it). Returns -1 when absent. */
static long long window_ms(const char *body)
{
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    long long ms = -1;
    if (!o)
        return -1;
    json_t *d = json_object_get(o, "drain");
    json_t *w = json_object_get(d ? d : o, "window_remaining_ms");
    if (json_is_number(w))
        ms = (long long)json_number_value(w);
    json_decref(o);
    return ms;
}

static void print_body(FILE *f, const struct ctl_answer *a)
{
    json_error_t jerr;
    json_t *o = a->len ? json_loads(a->body, 0, &jerr) : NULL;
    if (o) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) {
            fprintf(f, "%s\n", s);
            free(s);
        }
        json_decref(o);
    } else if (a->len) {
        fprintf(f, "%s%s", a->body, a->body[a->len - 1] == '\n' ? "" : "\n");
    }
}

static int fail_answer(const char *cmd, const char *admin, const struct ctl_answer *a)
{
    fprintf(stderr, "meshreg %s: %s answered %d%s\n", cmd, admin, a->status,
            a->status == 403 ? " (changing routes only from loopback or --admin-allow)" : "");
    print_body(stderr, a);
    return 1;
}

/* --wait: polls /status until the window is over or the sidecar is gone. */
static int wait_window(const struct netaddr *na, const char *admin, long long first_ms)
{
    double end = now_s() + first_ms / 1000.0 + CTL_WAIT_SLACK_S;
    long long ms = first_ms;
    int errors = 0;
    char err[256];

    fprintf(stderr, "meshreg drain: waiting for the drain window (%.1f s)\n", first_ms / 1000.0);
    while (ms != 0) {
        if (now_s() > end) {
            fprintf(stderr, "meshreg drain: window still not over %.0f s past its end; giving up\n",
                    CTL_WAIT_SLACK_S);
            return 1;
        }
        sleep_s(CTL_POLL_S);
        struct ctl_answer a;
        enum ctl_fail f = call(na, "GET", "/status", NULL, &a, err, sizeof(err));
        if (f == CTL_GONE) {
            fprintf(stderr, "meshreg drain: sidecar gone (%s): window over\n", err);
            return 0;
        }
        if (f == CTL_OK && a.status == 200 && (ms = window_ms(a.body)) >= 0) {
            errors = 0;
        } else {
            if (f == CTL_OK)
                snprintf(err, sizeof(err), "GET /status answered %d without a drain window",
                         a.status);
            ms = -1;
            if (++errors >= CTL_WAIT_MAX_ERRORS) {
                fprintf(stderr, "meshreg drain: %s: %s\n", admin, err);
                free(a.body);
                return 1;
            }
        }
        free(a.body);
    }
    fprintf(stderr, "meshreg drain: window over\n");
    return 0;
}

/* Returns 0 to go on, 1 when --help was given, -1 on bad usage. */
static int parse_args(const char *cmd, int argc, char **argv, struct ctl_opts *o)
{
    bool is_drain = strcmp(cmd, "drain") == 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        const char *names[] = {"--admin", "--reason", "--expires"};
        const char **slot[] = {&o->admin, &o->reason, &o->expires};
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--wait") == 0 && is_drain) {
            o->wait = true;
            continue;
        }
        size_t k;
        for (k = 0; k < 3; k++) {
            size_t nl = strlen(names[k]);
            if (k > 0 && !is_drain)
                break;
            if (strcmp(a, names[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "meshreg %s: %s needs a value\n", cmd, a);
                    return -1;
                }
                val = argv[++i];
                break;
            }
            if (strncmp(a, names[k], nl) == 0 && a[nl] == '=') {
                val = a + nl + 1;
                break;
            }
        }
        if (!val) {
            fprintf(stderr, "meshreg %s: unknown option \"%s\"\n", cmd, a);
            return -1;
        }
        *slot[k] = val;
    }
    if (o->expires) {
        char *end;
        errno = 0;
        double e = strtod(o->expires, &end);
        if (!*o->expires || *end || errno || !isfinite(e) || e < 0) {
            fprintf(stderr, "meshreg %s: --expires wants seconds (>= 0), got \"%s\"\n", cmd,
                    o->expires);
            return -1;
        }
    }
    return 0;
}

int ctl_main(const char *cmd, int argc, char **argv)
{
    struct ctl_opts o = {0};
    struct netaddr na;
    struct ctl_answer a;
    char err[256];
    int rc;

    if (strcmp(cmd, "drain") != 0 && strcmp(cmd, "undrain") != 0 && strcmp(cmd, "status") != 0) {
        fprintf(stderr, "meshreg: unknown subcommand \"%s\"\n", cmd);
        return 2;
    }
    rc = parse_args(cmd, argc, argv, &o);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr, cmd);
        return rc > 0 ? 0 : 2;
    }
    if (!o.admin)
        o.admin = getenv("MESHREG_ADMIN");
    if (!o.admin || !*o.admin)
        o.admin = CTL_DEFAULT_ADMIN;
    if (parse_target(o.admin, &na, err, sizeof(err)) < 0) {
        fprintf(stderr, "meshreg %s: --admin: %s\n", cmd, err);
        return 2;
    }

    if (strcmp(cmd, "status") == 0) {
        if (call(&na, "GET", "/status", NULL, &a, err, sizeof(err)) != CTL_OK) {
            fprintf(stderr, "meshreg status: %s\n", err);
            return 1;
        }
        print_body(a.status == 200 ? stdout : stderr, &a);
        rc = a.status == 200 ? 0 : 1;
        if (rc)
            fprintf(stderr, "meshreg status: %s answered %d\n", o.admin, a.status);
        free(a.body);
        return rc;
    }

    char form[512] = "";
    bool drain = strcmp(cmd, "drain") == 0;
    if (o.reason)
        form_append(form, sizeof(form), "reason", o.reason);
    if (o.expires)
        form_append(form, sizeof(form), "expires", o.expires);
    if (call(&na, "POST", drain ? "/drain" : "/undrain", form[0] ? form : NULL, &a, err,
             sizeof(err)) != CTL_OK) {
        fprintf(stderr, "meshreg %s: %s\n", cmd, err);
        return 1;
    }
    if (a.status != 200) {
        rc = fail_answer(cmd, o.admin, &a);
        free(a.body);
        return rc;
    }
    print_body(stdout, &a);
    fflush(stdout);
    rc = 0;
    if (drain && o.wait) {
        long long ms = window_ms(a.body);
        rc = wait_window(&na, o.admin, ms < 0 ? 0 : ms);
    }
    free(a.body);
    return rc;
}
