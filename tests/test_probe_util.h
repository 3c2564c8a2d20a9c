/* Shared by the probe tests (test_probe*.c): a loopback listener, a loop
 * run bounded in time, a raw canned-answer peer, and a recorder of probe results with the
 * probe-once / expect-one helpers. Header-only, static inline, so each test
 * links only what it uses. Include after cmocka.h, ev.h and sidecar/probe/probe.h. */
#ifndef MESHREG_TEST_PROBE_UTIL_H
#define MESHREG_TEST_PROBE_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/failalloc.h"

static inline int listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    assert_int_equal(listen(fd, 128), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static inline int dead_port(void)
{
    int port;
    int fd = listen_any(&port);
    close(fd);
    return port;
}

static inline void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static inline void run_for(struct ev_loop *loop, double seconds)
{
    ev_timer guard;

    ev_timer_init(&guard, guard_cb, seconds, 0.);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

/* The simple recorder and helpers; test_probe.c keeps a richer one of its
 * own and defines PROBE_TEST_OWN_REC. */
#ifndef PROBE_TEST_OWN_REC
#define MAXRES 16

struct rec {
    struct ev_loop *loop;
    int n, want;
    bool pass[MAXRES];
    char detail[MAXRES][256];
    double at[MAXRES];
    double t0;
};

static inline void on_result(struct probe *p, bool pass, const char *detail, void *arg)
{
    struct rec *r = arg;

    assert_false(p->running);
    if (r->n < MAXRES) {
        r->pass[r->n] = pass;
        snprintf(r->detail[r->n], sizeof(r->detail[0]), "%s", detail);
        r->at[r->n] = ev_time() - r->t0;
    }
    r->n++;
    if (r->n >= r->want)
        ev_break(r->loop, EVBREAK_ALL);
}

/* A probe of s on the default loop reporting to r (emptied; the loop
 * breaks at `want` results), not started yet. */
static inline struct probe *rec_probe(const struct check_spec *s, struct rec *r, int want)
{
    struct ev_loop *loop = ev_default_loop(0);
    char err[256] = "";
    struct probe *p;

    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->want = want;
    ev_now_update(loop);
    r->t0 = ev_time();
    p = probe_new(loop, s, on_result, r, err, sizeof(err));
    if (!p)
        print_error("probe_new: %s\n", err);
    assert_non_null(p);
    return p;
}

/* Starts a probe, runs until `want` results (or `guard` s), frees it. */
static inline void probe_once(const struct check_spec *s, struct rec *r, int want, double guard)
{
    struct probe *p = rec_probe(s, r, want);

    probe_start(p);
    run_for(r->loop, guard);
    probe_free(p);
}

/* A probe whose first attempt meets allocation n failing, then a second
 * attempt with allocations back (each within `guard` s); r has both
 * results. Returns how many allocations failed. */
static inline unsigned probe_failing_alloc(const struct check_spec *s, unsigned n, struct rec *r,
                                           double guard)
{
    struct probe *p = rec_probe(s, r, 1);

    failalloc_arm(n, false);
    probe_start(p);
    run_for(r->loop, guard);
    unsigned failed = failalloc_failed();
    failalloc_off();
    /* the probe goes on working afterwards */
    r->want = 2;
    if (r->n == 1)
        run_for(r->loop, guard);
    probe_free(p);
    return failed;
}

/* Fails each allocation of an attempt of s in turn (the 1st, the 2nd, ...,
 * until one fails none, fewer than max): every failing attempt must fail,
 * and the next, with allocations back, pass. Returns how many of them said
 * "out of memory". */
static inline int probe_oom_sweep(const struct check_spec *s, unsigned max, double guard)
{
    int oom = 0;
    unsigned n;

    for (n = 1; n < max; n++) {
        struct rec r;
        unsigned failed = probe_failing_alloc(s, n, &r, guard);

        if (r.n != 2)
            fail_msg("allocation %u failing: %d results", n, r.n);
        if (!r.pass[1])
            fail_msg("allocation %u failing: the next attempt failed: %s", n, r.detail[1]);
        if (failed == 0) {
            assert_true(r.pass[0]);
            break;
        }
        if (r.pass[0])
            fail_msg("allocation %u failed, yet the attempt passed: %s", n, r.detail[0]);
        oom += strcmp(r.detail[0], "out of memory") == 0;
    }
    assert_true(n < max);
    return oom;
}

static inline void expect_one(const struct check_spec *s, bool pass, const char *detail_prefix)
{
    struct rec r;

    probe_once(s, &r, 1, 5.0);
    assert_int_equal(r.n, 1);
    if (r.pass[0] != pass || strncmp(r.detail[0], detail_prefix, strlen(detail_prefix)) != 0)
        print_error("got %s \"%s\", want %s \"%s...\"\n", r.pass[0] ? "pass" : "fail", r.detail[0],
                    pass ? "pass" : "fail", detail_prefix);
    assert_int_equal(r.pass[0], pass);
    assert_true(strncmp(r.detail[0], detail_prefix, strlen(detail_prefix)) == 0);
}

static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}
#endif

/* A raw TCP peer for what no real server does: canned bytes (resp; NULL:
 * never answer) once after the client's first bytes, then a FIN if
 * shut_after; the first 8 KiB the client sent are kept in req. */
struct raw {
    struct ev_loop *loop;
    int lfd, port;
    ev_io accept_w;
    const unsigned char *resp; /* NULL: never answer */
    size_t resp_len;
    bool shut_after; /* half-close (FIN) after the answer */
    int accepted, open_conns;
    unsigned char req[8192]; /* what the client sent first */
    size_t req_len;
    struct raw_conn *conns;
};

struct raw_conn {
    struct raw *r;
    int fd;
    ev_io io;
    bool answered;
    struct raw_conn *next;
};

static inline void raw_conn_close(struct raw_conn *c)
{
    ev_io_stop(c->r->loop, &c->io);
    if (c->fd >= 0) {
        close(c->fd);
        c->r->open_conns--;
    }
    c->fd = -1;
}

static inline void raw_conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct raw_conn *c = w->data;
    struct raw *r = c->r;
    unsigned char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        raw_conn_close(c); /* the client went away */
        return;
    }
    if (r->req_len + (size_t)n <= sizeof(r->req)) {
        memcpy(r->req + r->req_len, buf, (size_t)n);
        r->req_len += (size_t)n;
    }
    if (c->answered || !r->resp)
        return;
    c->answered = true;
    assert_int_equal(send(c->fd, r->resp, r->resp_len, MSG_NOSIGNAL), (ssize_t)r->resp_len);
    /* FIN, not close: closing with unread request bytes would send RST
     * and could destroy the answer before the client reads it. */
    if (r->shut_after)
        shutdown(c->fd, SHUT_WR);
}

static inline void raw_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct raw *r = w->data;
    int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct raw_conn *c;

    if (fd < 0)
        return;
    r->accepted++;
    r->open_conns++;
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->r = r;
    c->fd = fd;
    c->next = r->conns;
    r->conns = c;
    ev_io_init(&c->io, raw_conn_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(loop, &c->io);
}

static inline void raw_init(struct raw *r, struct ev_loop *loop, const void *resp, size_t resp_len)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->resp = resp;
    r->resp_len = resp_len;
    r->lfd = listen_any(&r->port);
    ev_io_init(&r->accept_w, raw_accept_cb, r->lfd, EV_READ);
    r->accept_w.data = r;
    ev_io_start(loop, &r->accept_w);
}

static inline void raw_free(struct raw *r)
{
    ev_io_stop(r->loop, &r->accept_w);
    close(r->lfd);
    while (r->conns) {
        struct raw_conn *c = r->conns;
        r->conns = c->next;
        raw_conn_close(c);
        free(c);
    }
}

/* Starts p with no fd to be had (RLIMIT_NOFILE down to the lowest free fd)
 * and runs its loop until the result (or `guard` s); the limit is back
 * after. */
static inline void probe_start_without_fds(struct probe *p, struct ev_loop *loop, double guard)
{
    struct rlimit rl, saved;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free one: the limit */

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = (rlim_t)fd;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    probe_start(p);
    run_for(loop, guard);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* After an attempt against r: the probe closed its connection (r saw the
 * end of it within 50 ms more of the loop); then frees r. */
static inline void raw_free_closed(struct raw *r)
{
    run_for(r->loop, 0.05);
    assert_int_equal(r->open_conns, 0);
    raw_free(r);
}

/* Starts a test server (argv[0] is the program) that prints "PORT n" on its
 * first line once it listens; sets *pid and *port. Returns -1 (server gone,
 * message on stderr naming `what`) if no such line comes within 20 s. */
static inline int spawn_port_server(char *const argv[], const char *what, pid_t *pid, int *port)
{
    char line[64];
    int pfd[2];
    size_t got = 0;

    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        dup2(pfd[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    while (got < sizeof(line) - 1) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        ssize_t n;

        if (poll(&pf, 1, 20000) <= 0)
            break;
        n = read(pfd[0], line + got, sizeof(line) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        line[got] = '\0';
        if (strchr(line, '\n'))
            break;
    }
    close(pfd[0]);
    line[got] = '\0';
    if (sscanf(line, "PORT %d", port) != 1) {
        fprintf(stderr, "%s did not start (\"%s\")\n", what, line);
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        return -1;
    }
    return 0;
}

#endif
