/* Probes against real servers and real processes on the default libev loop
 * (ev_child works only there): http, tcp and cmd kinds, deadlines, the
 * scheduler's jitter and its one-attempt-at-a-time rule. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/probe.h"
#define PROBE_TEST_OWN_REC
#include "tests/test_probe_util.h"

/* ---- an app: answers every request with one canned response, or hangs -- */

struct app {
    struct ev_loop *loop;
    int lfd, port;
    ev_io accept_w;
    const char *resp; /* NULL: accept and never answer */
    int accepted;
    int open_conns; /* connections accepted and not yet closed by the peer */
    char req[4096]; /* last request head */
    struct app_conn *conns;
};

struct app_conn {
    struct app *a;
    int fd;
    ev_io io;
    char buf[4096];
    size_t len;
    bool answered;
    struct app_conn *next;
};

static void app_conn_close(struct app_conn *c)
{
    ev_io_stop(c->a->loop, &c->io);
    if (c->fd >= 0) {
        close(c->fd);
        c->a->open_conns--;
    }
    c->fd = -1;
}

static void app_conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct app_conn *c = w->data;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        app_conn_close(c); /* the client went away */
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (c->answered || !strstr(c->buf, "\r\n\r\n"))
        return;
    memcpy(c->a->req, c->buf, c->len + 1);
    c->answered = true;
    if (c->a->resp) {
        /* small responses: one send fits the socket buffer */
        assert_int_equal(send(c->fd, c->a->resp, strlen(c->a->resp), MSG_NOSIGNAL),
                         (ssize_t)strlen(c->a->resp));
        app_conn_close(c);
    }
}

static void app_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct app *a = w->data;
    int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct app_conn *c;

    if (fd < 0)
        return;
    a->accepted++;
    a->open_conns++;
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->a = a;
    c->fd = fd;
    c->next = a->conns;
    a->conns = c;
    ev_io_init(&c->io, app_conn_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(loop, &c->io);
}

static void app_init(struct app *a, struct ev_loop *loop, const char *resp)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->resp = resp;
    a->lfd = listen_any(&a->port);
    ev_io_init(&a->accept_w, app_accept_cb, a->lfd, EV_READ);
    a->accept_w.data = a;
    ev_io_start(loop, &a->accept_w);
}

static void app_free(struct app *a)
{
    ev_io_stop(a->loop, &a->accept_w);
    close(a->lfd);
    while (a->conns) {
        struct app_conn *c = a->conns;
        a->conns = c->next;
        app_conn_close(c);
        free(c);
    }
}

/* ---- recording results ---------------------------------------------------- */

#define MAXRES 16

struct rec {
    struct ev_loop *loop;
    int n, want;
    bool pass[MAXRES];
    char detail[MAXRES][256];
    double at[MAXRES]; /* seconds since t0 */
    double t0;
    struct app *app;
    int accepted_at[MAXRES]; /* app connections accepted when the result came */
    bool free_in_cb;
};

static void on_result(struct probe *p, bool pass, const char *detail, void *arg)
{
    struct rec *r = arg;

    assert_false(p->running);
    if (r->n < MAXRES) {
        r->pass[r->n] = pass;
        snprintf(r->detail[r->n], sizeof(r->detail[0]), "%s", detail);
        r->at[r->n] = ev_time() - r->t0;
        r->accepted_at[r->n] = r->app ? r->app->accepted : 0;
    }
    r->n++;
    if (r->free_in_cb)
        probe_free(p);
    if (r->n >= r->want)
        ev_break(r->loop, EVBREAK_ALL);
}

static void rec_init(struct rec *r, struct ev_loop *loop, int want)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->want = want;
    ev_now_update(loop);
    r->t0 = ev_time();
}

static struct check_spec spec_of(enum probe_kind kind, int port)
{
    struct check_spec s = {
        .name = "svc.main",
        .probe = kind,
        .probe_host = "127.0.0.1",
        .probe_port = port,
        .probe_uri = "/health",
        .timeout_ms = 500,
        .interval_ms = 100, /* first attempt within 100 ms */
        .rise = 1,
        .fall = 1,
    };
    return s;
}

/* Starts a probe and runs the loop until `want` results (or `guard` s). */
static struct probe *run_probe(struct ev_loop *loop, const struct check_spec *s, struct rec *r,
                               int want, double guard)
{
    char err[256] = "";
    struct probe *p;

    rec_init(r, loop, want);
    p = probe_new(loop, s, on_result, r, err, sizeof(err));
    if (!p)
        print_error("probe_new: %s\n", err);
    assert_non_null(p);
    probe_start(p);
    run_for(loop, guard);
    return p;
}

/* ---- http ----------------------------------------------------------------- */

static void test_http_pass_and_headers(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    struct kv headers[] = {{"X-Mesh-Probe", "yes"}, {"Accept", "text/plain"}};
    char host[64];

    app_init(&a, loop, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.headers = headers;
    s.nheaders = 2;
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "HTTP 200 in ", 12) == 0);
    assert_true(strncmp(a.req, "GET /health HTTP/1.1\r\n", 22) == 0);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", a.port);
    assert_non_null(strstr(a.req, host));
    assert_non_null(strstr(a.req, "\r\nX-Mesh-Probe: yes\r\n"));
    assert_non_null(strstr(a.req, "\r\nAccept: text/plain\r\n"));
    probe_free(p);
    app_free(&a);
}

static void test_http_host_header_override(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    struct kv headers[] = {{"host", "app.example"}, {"X-Bad", "a\r\nInjected: 1"}};

    app_init(&a, loop, "HTTP/1.1 204 No Content\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.headers = headers;
    s.nheaders = 2;
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_non_null(strstr(a.req, "\r\nHost: app.example\r\n"));
    assert_null(strstr(a.req, "127.0.0.1:")); /* one Host only */
    assert_null(strstr(a.req, "Injected"));
    probe_free(p);
    app_free(&a);
}

static void test_http_503_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;

    app_init(&a, loop, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "HTTP 503");
    probe_free(p);
    app_free(&a);
}

static void test_http_3xx_passes_4xx_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;

    app_init(&a, loop, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "HTTP 302 in ", 12) == 0);
    probe_free(p);
    app_free(&a);

    app_init(&a, loop, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    s = spec_of(PROBE_HTTP, a.port);
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "HTTP 404");
    probe_free(p);
    app_free(&a);
}

static void test_http_body_expect(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;

    app_init(&a, loop, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"status\": \"ok\"}\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.body_expect = "\"ok\"";
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    probe_free(p);

    s.body_expect = "healthy";
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "HTTP 200, body does not contain \"healthy\"");
    probe_free(p);
    app_free(&a);
}

static void test_http_refused(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_HTTP, dead_port());
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);

    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "connect: Connection refused");
    probe_free(p);
}

struct ticker {
    ev_timer w;
    int ticks;
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ((struct ticker *)w->data)->ticks++;
}

/* A hung app fails at the deadline, and the loop keeps serving other
 * timers meanwhile; the next attempt does not start while one hangs. */
static void test_http_hung_app_deadline(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    struct ticker t = {.ticks = 0};

    app_init(&a, loop, NULL);
    a.resp = NULL;
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.timeout_ms = 300;
    s.interval_ms = 100; /* shorter than the hang: attempts must not overlap */
    ev_timer_init(&t.w, tick_cb, 0.02, 0.02);
    t.w.data = &t;
    ev_timer_start(loop, &t.w);
    rec_init(&r, loop, 2);
    r.app = &a;
    char err[128];
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    run_for(loop, 2.0);
    ev_timer_stop(loop, &t.w);

    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        assert_string_equal(r.detail[i], "timeout after 300 ms");
        /* one connection per attempt, the next only after this one ended */
        assert_int_equal(r.accepted_at[i], i + 1);
    }
    /* first attempt starts within 100 ms, fails 300 ms later */
    assert_true(r.at[0] >= 0.295 && r.at[0] < 0.45);
    /* second: at least the 10% floor after the first ended, plus 300 ms */
    assert_true(r.at[1] - r.at[0] >= 0.305 && r.at[1] - r.at[0] < 0.45);
    /* ~30 ticks happened while the probe hung */
    assert_true(t.ticks >= 20);
    /* the probe closed its connections: the app saw EOF on each */
    probe_stop(p);
    run_for(loop, 0.05);
    assert_int_equal(a.open_conns, 0);
    probe_free(p);
    app_free(&a);
}

/* ---- tcp ------------------------------------------------------------------ */

static void test_tcp_pass_and_refused(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_TCP, a.port);
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "connected in ", 13) == 0);
    run_for(loop, 0.05);
    assert_int_equal(a.accepted, 1);
    assert_int_equal(a.open_conns, 0); /* closed right after connecting */
    probe_free(p);
    app_free(&a);

    s = spec_of(PROBE_TCP, dead_port());
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "connect: Connection refused");
    probe_free(p);
}

/* ---- cmd ------------------------------------------------------------------ */

static void test_cmd_exit_codes(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_CMD, 0);

    s.probe_cmd = "exit 0";
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_string_equal(r.detail[0], "exit 0");
    probe_free(p);

    s.probe_cmd = "echo starting; echo 'db unreachable' >&2; exit 3";
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "exit 3: db unreachable");
    probe_free(p);

    s.probe_cmd = "kill -TERM $$";
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_true(strncmp(r.detail[0], "killed by signal 15", 19) == 0);
    probe_free(p);

    /* stdin is /dev/null: a command reading it does not hang */
    s.probe_cmd = "cat";
    p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    probe_free(p);
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;

    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

static bool group_gone(pid_t pgid)
{
    return kill(-pgid, 0) < 0 && errno == ESRCH;
}

/* `sleep 30` behind a shell is killed at the deadline, shell and sleep
 * both (the whole group), and nothing is left unreaped. */
static void test_cmd_killed_at_deadline(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_CMD, 0);
    char path[] = "/tmp/meshreg-probe-XXXXXX";
    char cmd[256];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    /* `; true` keeps sh from exec'ing sleep: sleep is a grandchild */
    snprintf(cmd, sizeof(cmd), "echo $$ > %s; sleep 30; true", path);
    s.probe_cmd = cmd;
    s.timeout_ms = 300;
    s.interval_ms = 100000; /* first attempt within 1 s (capped), no second */
    struct probe *p = run_probe(loop, &s, &r, 1, 3.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "timeout after 300 ms");
    pid_t pgid = read_pid(path);
    assert_true(pgid > 1);
    /* let SIGCHLD be handled: libev reaps the shell, and, as the probe made
     * us a subreaper, the orphaned sleep */
    for (int i = 0; i < 50 && !group_gone(pgid); i++)
        run_for(loop, 0.01);
    assert_true(group_gone(pgid));
    probe_free(p);
    unlink(path);
}

/* A check that leaves a background child behind does not leak it. */
static void test_cmd_background_child_killed(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_CMD, 0);
    char path[] = "/tmp/meshreg-probe-XXXXXX";
    char cmd[256];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; exit 0", path);
    s.probe_cmd = cmd;
    struct probe *p = run_probe(loop, &s, &r, 1, 2.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    pid_t bg = read_pid(path);
    for (int i = 0; i < 50 && !(kill(bg, 0) < 0 && errno == ESRCH); i++)
        run_for(loop, 0.01);
    assert_true(kill(bg, 0) < 0 && errno == ESRCH);
    probe_free(p);
    unlink(path);
}

/* probe_stop while a command runs kills its group, with no callback. */
static void test_cmd_stop_kills(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_CMD, 0);
    char path[] = "/tmp/meshreg-probe-XXXXXX";
    char cmd[256];
    char err[128];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "echo $$ > %s; sleep 30; true", path);
    s.probe_cmd = cmd;
    s.timeout_ms = 5000;
    rec_init(&r, loop, 1);
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    pid_t pgid = 0;
    for (int i = 0; i < 100 && pgid == 0; i++) {
        run_for(loop, 0.02);
        FILE *f = fopen(path, "r");
        long v = 0;
        if (f && fscanf(f, "%ld", &v) == 1)
            pgid = (pid_t)v;
        if (f)
            fclose(f);
    }
    assert_true(pgid > 1);
    assert_true(p->running);
    probe_free(p);
    for (int i = 0; i < 50 && !group_gone(pgid); i++)
        run_for(loop, 0.01);
    assert_true(group_gone(pgid));
    assert_int_equal(r.n, 0);
    unlink(path);
}

/* ---- scheduler ------------------------------------------------------------ */

static void test_jitter_spreads_first_attempts(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    enum { N = 40 };
    struct app a;
    struct rec r[N];
    struct probe *p[N];
    char err[128];
    int buckets[10] = {0}, used = 0;
    double lo = 10, hi = 0;

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_TCP, a.port);
    s.interval_ms = 10000; /* first attempt capped at 1 s */
    ev_now_update(loop);
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], loop, 1000); /* never breaks the loop itself */
        p[i] = probe_new(loop, &s, on_result, &r[i], err, sizeof(err));
        assert_non_null(p[i]);
        probe_start(p[i]);
    }
    run_for(loop, 1.1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].n, 1);
        assert_true(r[i].pass[0]);
        if (r[i].at[0] < lo)
            lo = r[i].at[0];
        if (r[i].at[0] > hi)
            hi = r[i].at[0];
        int b = (int)(r[i].at[0] * 10);
        buckets[b > 9 ? 9 : b]++;
        probe_free(p[i]);
    }
    for (int b = 0; b < 10; b++)
        used += buckets[b] > 0;
    assert_true(hi <= 1.05);     /* capped */
    assert_true(hi - lo >= 0.5); /* spread, not lockstep */
    assert_true(used >= 6);      /* over most of the second */
    app_free(&a);
}

/* Later attempts come every interval +-10%, not all at the same period. */
static void test_interval_jitter(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    double mn = 1, mx = 0;

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_TCP, a.port);
    s.interval_ms = 100;
    struct probe *p = run_probe(loop, &s, &r, 12, 3.0);
    assert_int_equal(r.n, 12);
    for (int i = 1; i < 12; i++) {
        double gap = r.at[i] - r.at[i - 1];
        assert_true(gap >= 0.085 && gap <= 0.125);
        if (gap < mn)
            mn = gap;
        if (gap > mx)
            mx = gap;
    }
    assert_true(mx - mn >= 0.004); /* jittered */
    probe_free(p);
    app_free(&a);
}

static void test_free_from_callback(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct rec r;
    struct check_spec s = spec_of(PROBE_TCP, dead_port());
    char err[128];

    rec_init(&r, loop, 1);
    r.free_in_cb = true;
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    run_for(loop, 0.5);
    assert_int_equal(r.n, 1);
    run_for(loop, 0.3); /* nothing fires on the freed probe */
    assert_int_equal(r.n, 1);
}

static void test_stop_then_restart(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    char err[128];

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.timeout_ms = 300;
    rec_init(&r, loop, 1);
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    run_for(loop, 0.15); /* attempt in flight against the hung app */
    assert_true(p->running);
    probe_stop(p);
    assert_false(p->running);
    run_for(loop, 0.5);
    assert_int_equal(r.n, 0); /* cancelled: no result, no further attempt */
    assert_int_equal(a.accepted, 1);
    assert_int_equal(a.open_conns, 0);
    a.resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    probe_start(p);
    run_for(loop, 1.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    probe_free(p);
    probe_free(NULL);
    app_free(&a);
}

static void test_new_errors(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct check_spec s = spec_of(PROBE_TCP, 1);
    char err[128];

    /* every kind config knows has a probe (https, grpc: test_probe_https,
     * test_probe_grpc); a value outside the enum is refused */
    s.probe = (enum probe_kind)(PROBE_GRPC + 1);
    assert_null(probe_new(loop, &s, on_result, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown probe kind"));
    s.probe = PROBE_TCP;
    s.timeout_ms = 0;
    assert_null(probe_new(loop, &s, on_result, NULL, err, sizeof(err)));

    struct ev_loop *other = ev_loop_new(EVFLAG_AUTO);
    s = spec_of(PROBE_CMD, 0);
    s.probe_cmd = "true";
    assert_null(probe_new(other, &s, on_result, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "default libev loop"));
    s.probe = PROBE_TCP; /* other kinds run on any loop */
    struct probe *p = probe_new(other, &s, on_result, NULL, err, sizeof(err));
    assert_non_null(p);
    probe_free(p);
    ev_loop_destroy(other);
}

int main(void)
{
    /* No PR_SET_CHILD_SUBREAPER here: the cmd probe sets it itself, and
     * test_cmd_killed_at_deadline relies on that to see the orphaned
     * `sleep` reaped rather than left a zombie under PID 1. */
    ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_pass_and_headers),
        cmocka_unit_test(test_http_host_header_override),
        cmocka_unit_test(test_http_503_fails),
        cmocka_unit_test(test_http_3xx_passes_4xx_fails),
        cmocka_unit_test(test_http_body_expect),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_http_hung_app_deadline),
        cmocka_unit_test(test_tcp_pass_and_refused),
        cmocka_unit_test(test_cmd_exit_codes),
        cmocka_unit_test(test_cmd_killed_at_deadline),
        cmocka_unit_test(test_cmd_background_child_killed),
        cmocka_unit_test(test_cmd_stop_kills),
        cmocka_unit_test(test_jitter_spreads_first_attempts),
        cmocka_unit_test(test_interval_jitter),
        cmocka_unit_test(test_free_from_callback),
        cmocka_unit_test(test_stop_then_restart),
        cmocka_unit_test(test_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
