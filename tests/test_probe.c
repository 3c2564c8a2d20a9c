/* Probes against real servers and real processes on the default libev loop
 * (ev_child works only there): http, tcp and cmd kinds, deadlines, the
 * scheduler's jitter and its one-attempt-at-a-time rule. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
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

#include "sidecar/probe/probe.h"
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
    double at[MAXRES];      /* seconds since t0 */
    double started[MAXRES]; /* when that attempt started, seconds since t0 */
    double wait[MAXRES];    /* the delay the scheduler chose for the next attempt, -1: none */
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
        r->started[r->n] = p->started - r->t0;
        /* probe_finish scheduled the next attempt before calling us, in
         * this same loop iteration: the timer's remaining time is exactly
         * the delay it chose, whatever the machine's load. */
        r->wait[r->n] = ev_is_active(&p->schedule) ? ev_timer_remaining(r->loop, &p->schedule) : -1;
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

/* How long a test waits for something that should come within a second:
 * it stops waiting as soon as it came, so only a failing test waits this
 * long. Generous for a loaded machine and the sanitizer build. */
#define GUARD 20.0

/* Runs the loop until pred(arg) holds or `timeout` seconds passed; returns
 * whether it holds. */
static bool wait_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, double timeout)
{
    ev_tstamp end = ev_time() + timeout;
    while (!pred(arg)) {
        if (ev_time() > end)
            return false;
        run_for(loop, 0.01);
    }
    return true;
}

static bool app_no_open_conns(void *arg)
{
    return ((struct app *)arg)->open_conns == 0;
}

static bool app_accepted_and_closed(void *arg)
{
    struct app *a = arg;
    return a->accepted > 0 && a->open_conns == 0;
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

/* Runs s for one result: pass or fail, and the detail (whole, or its start
 * when detail ends in "..."; NULL: any). */
static void expect_result(struct ev_loop *loop, const struct check_spec *s, bool pass,
                          const char *detail)
{
    struct rec r;
    size_t n = detail ? strlen(detail) : 0;
    bool prefix = n >= 3 && strcmp(detail + n - 3, "...") == 0;

    probe_free(run_probe(loop, s, &r, 1, GUARD)); /* first: a failure here stops it */
    assert_int_equal(r.n, 1);
    if (r.pass[0] != pass || (detail && strncmp(r.detail[0], detail, prefix ? n - 3 : n + 1) != 0))
        fail_msg("%s: %s \"%s\", want %s \"%s\"", s->probe_cmd ? s->probe_cmd : "probe",
                 r.pass[0] ? "pass" : "fail", r.detail[0], pass ? "pass" : "fail",
                 detail ? detail : "(any)");
}

/* ---- http ----------------------------------------------------------------- */

static void test_http_pass_and_headers(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct kv headers[] = {{"X-Mesh-Probe", "yes"}, {"Accept", "text/plain"}};
    char host[64];

    app_init(&a, loop, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.headers = headers;
    s.nheaders = 2;
    expect_result(loop, &s, true, "HTTP 200 in ...");
    assert_true(strncmp(a.req, "GET /health HTTP/1.1\r\n", 22) == 0);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", a.port);
    assert_non_null(strstr(a.req, host));
    assert_non_null(strstr(a.req, "\r\nX-Mesh-Probe: yes\r\n"));
    assert_non_null(strstr(a.req, "\r\nAccept: text/plain\r\n"));
    app_free(&a);
}

static void test_http_host_header_override(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct kv headers[] = {{"host", "app.example"}, {"X-Bad", "a\r\nInjected: 1"}};

    app_init(&a, loop, "HTTP/1.1 204 No Content\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.headers = headers;
    s.nheaders = 2;
    expect_result(loop, &s, true, "HTTP 204 in ...");
    assert_non_null(strstr(a.req, "\r\nHost: app.example\r\n"));
    assert_null(strstr(a.req, "127.0.0.1:")); /* one Host only */
    assert_null(strstr(a.req, "Injected"));
    app_free(&a);
}

static void test_http_503_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;

    app_init(&a, loop, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    expect_result(loop, &s, false, "HTTP 503");
    app_free(&a);
}

static void test_http_3xx_passes_4xx_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;

    app_init(&a, loop, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    expect_result(loop, &s, true, "HTTP 302 in ...");
    app_free(&a);

    app_init(&a, loop, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    s = spec_of(PROBE_HTTP, a.port);
    expect_result(loop, &s, false, "HTTP 404");
    app_free(&a);
}

static void test_http_body_expect(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;

    app_init(&a, loop, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"status\": \"ok\"}\n");
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.body_expect = "\"ok\"";
    expect_result(loop, &s, true, "HTTP 200 in ...");
    s.body_expect = "healthy";
    expect_result(loop, &s, false, "HTTP 200, body does not contain \"healthy\"");
    app_free(&a);
}

static void test_http_refused(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTP, dead_port());

    expect_result(ev_default_loop(0), &s, false, "connect: Connection refused");
}

struct ticker {
    ev_timer w;
    int ticks;
    double last, max_gap; /* ev_time() of the last tick, longest time between two */
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ticker *t = w->data;
    double now = ev_time();

    if (t->ticks++ > 0 && now - t->last > t->max_gap)
        t->max_gap = now - t->last;
    t->last = now;
}

/* A hung app fails at the deadline, and the loop keeps serving other
 * timers meanwhile; the next attempt does not start while one hangs.
 * Durations are measured from each attempt's own start (p->started), and
 * bounded by multiples of the timeout, not by what a quiet machine does. */
static void test_http_hung_app_deadline(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    struct ticker t = {.ticks = 0};
    const double T = 0.3; /* the timeout */

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
    run_for(loop, GUARD);
    ev_timer_stop(loop, &t.w);

    assert_int_equal(r.n, 2);
    /* The loop was never blocked by the hung attempts: the ticker never
     * waited anywhere near a timeout (a blocking probe would make it wait
     * a whole T at least). */
    print_message("# %d ticks, longest gap %.0f ms\n", t.ticks, t.max_gap * 1000);
    assert_true(t.ticks >= 3);
    assert_true(t.max_gap < T);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        assert_string_equal(r.detail[i], "timeout after 300 ms");
        /* one connection per attempt, the next only after this one ended */
        assert_int_equal(r.accepted_at[i], i + 1);
        /* it failed at its deadline: not sooner (the deadline timer counts
         * from the loop's clock, which may lag p->started by a moment), and
         * not at some later time (2 T: slack for a loaded machine) */
        double took = r.at[i] - r.started[i];
        if (took < T - 0.05 || took >= 2 * T)
            fail_msg("attempt %d failed after %.3f s, timeout %.1f s", i, took, T);
    }
    /* The hang outlasted the interval: the next attempt waits only the
     * floor of a tenth of an interval after the failure. */
    assert_true(fabs(r.wait[0] - 0.1 * s.interval_ms / 1000.0) < 1e-6);
    /* the probe closed its connections: the app sees EOF on each */
    probe_stop(p);
    assert_true(wait_until(loop, app_no_open_conns, &a, GUARD));
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
    struct probe *p = run_probe(loop, &s, &r, 1, GUARD);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "connected in ", 13) == 0);
    /* closed right after connecting */
    assert_true(wait_until(loop, app_accepted_and_closed, &a, GUARD));
    assert_int_equal(a.accepted, 1);
    probe_free(p);
    app_free(&a);

    s = spec_of(PROBE_TCP, dead_port());
    expect_result(loop, &s, false, "connect: Connection refused");
}

/* ---- cmd ------------------------------------------------------------------ */

static void test_cmd_exit_codes(void **state)
{
    static const struct {
        const char *cmd;
        bool pass;
        const char *detail;
    } cases[] = {
        {"exit 0", true, "exit 0"},
        {"echo starting; echo 'db unreachable' >&2; exit 3", false, "exit 3: db unreachable"},
        {"kill -TERM $$", false, "killed by signal 15..."},
        {"cat", true, "exit 0"}, /* stdin is /dev/null: a command reading it does not hang */
    };
    struct check_spec s = spec_of(PROBE_CMD, 0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s.probe_cmd = (char *)cases[i].cmd;
        expect_result(ev_default_loop(0), &s, cases[i].pass, cases[i].detail);
    }
}

/* Makes path (a mkstemp template) a fresh empty file and cmd the shell
 * line fmt with path for its one %s (where the command writes a pid). */
static void pidfile_cmd(char *path, char *cmd, size_t cmdlen, const char *fmt)
{
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, cmdlen, fmt, path);
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

static bool group_gone_pred(void *arg)
{
    return group_gone(*(pid_t *)arg);
}

static bool process_gone(void *arg)
{
    return kill(*(pid_t *)arg, 0) < 0 && errno == ESRCH;
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

    /* `; true` keeps sh from exec'ing sleep: sleep is a grandchild */
    pidfile_cmd(path, cmd, sizeof(cmd), "echo $$ > %s; sleep 30; true");
    s.probe_cmd = cmd;
    s.timeout_ms = 1000;    /* time enough for the shell to write its pid, even when loaded */
    s.interval_ms = 100000; /* first attempt within 1 s (capped), no second */
    struct probe *p = run_probe(loop, &s, &r, 1, GUARD);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "timeout after 1000 ms");
    pid_t pgid = read_pid(path);
    assert_true(pgid > 1);
    /* let SIGCHLD be handled: libev reaps the shell, and, as the probe made
     * us a subreaper, the orphaned sleep */
    assert_true(wait_until(loop, group_gone_pred, &pgid, GUARD));
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

    pidfile_cmd(path, cmd, sizeof(cmd), "sleep 30 & echo $! > %s; exit 0");
    s.probe_cmd = cmd;
    struct probe *p = run_probe(loop, &s, &r, 1, GUARD);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    pid_t bg = read_pid(path);
    assert_true(wait_until(loop, process_gone, &bg, GUARD));
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

    pidfile_cmd(path, cmd, sizeof(cmd), "echo $$ > %s; sleep 30; true");
    s.probe_cmd = cmd;
    s.timeout_ms = 5000;
    rec_init(&r, loop, 1);
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    pid_t pgid = 0;
    for (int i = 0; i < 1000 && pgid == 0; i++) {
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
    assert_true(wait_until(loop, group_gone_pred, &pgid, GUARD));
    assert_int_equal(r.n, 0);
    unlink(path);
}

/* ---- scheduler ------------------------------------------------------------ */

static bool all_have_a_result(void *arg)
{
    struct rec *r = arg;
    for (int i = 0; i < 40; i++)
        if (r[i].n < 1)
            return false;
    return true;
}

/* First attempts are spread over the first interval (capped at 1 s), not
 * all at once. The spread is read from the delays the scheduler chose (the
 * schedule timer's remaining time right after probe_start), which a loaded
 * machine cannot blur; then every probe must actually attempt, no sooner
 * than its delay. */
static void test_jitter_spreads_first_attempts(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    enum { N = 40 };
    struct app a;
    struct rec r[N];
    struct probe *p[N];
    double delay[N];
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
        assert_true(ev_is_active(&p[i]->schedule));
        delay[i] = ev_timer_remaining(loop, &p[i]->schedule);
        assert_true(delay[i] >= 0 && delay[i] <= 1.0); /* capped */
        if (delay[i] < lo)
            lo = delay[i];
        if (delay[i] > hi)
            hi = delay[i];
        int b = (int)(delay[i] * 10);
        buckets[b > 9 ? 9 : b]++;
    }
    for (int b = 0; b < 10; b++)
        used += buckets[b] > 0;
    assert_true(hi - lo >= 0.5); /* spread, not lockstep */
    assert_true(used >= 6);      /* over most of the second */

    assert_true(wait_until(loop, all_have_a_result, r, GUARD));
    for (int i = 0; i < N; i++) {
        assert_true(r[i].pass[0]);
        /* not before its delay (less the lag of the loop's clock behind
         * ev_time(), which a timer counts from) */
        assert_true(r[i].started[0] >= delay[i] - 0.05);
        probe_free(p[i]);
    }
    app_free(&a);
}

/* Later attempts come every interval +-10%, not all at the same period.
 * The period is read from what the scheduler chose (time since the
 * attempt's start when it scheduled the next, plus the delay it set), so
 * load on the machine cannot push it out of bounds; that the attempts
 * really come that far apart is checked with a tolerance for the loop's
 * clock. */
static void test_interval_jitter(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    double mn = 1, mx = 0;
    int periods = 0;

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_TCP, a.port);
    s.interval_ms = 100;
    const double iv = 0.1;
    struct probe *p = run_probe(loop, &s, &r, 12, GUARD);
    assert_int_equal(r.n, 12);
    for (int i = 0; i < 12; i++) {
        assert_true(r.pass[i]);
        assert_true(r.wait[i] >= 0.1 * iv - 1e-6); /* never sooner than the floor */
        if (r.wait[i] < 0.1 * iv + 1e-6)
            continue; /* the attempt itself took most of a period (a loaded
                       * machine): the floor applied, not the period */
        periods++;
        double period = (r.at[i] - r.started[i]) + r.wait[i];
        /* period - the real one = the moment between probe_finish reading
         * the clock and on_result reading it */
        if (period < 0.9 * iv - 1e-6 || period > 1.1 * iv + 0.005)
            fail_msg("attempt %d: period %.4f s, interval %.1f s +-10%%", i, period, iv);
        if (period < mn)
            mn = period;
        if (period > mx)
            mx = period;
    }
    /* the next attempt came no sooner than planned (less the loop clock's
     * lag behind ev_time(), from which its timer counted) */
    for (int i = 1; i < 12; i++)
        assert_true(r.started[i] >= r.at[i - 1] + r.wait[i - 1] - 0.05);
    print_message("# %d periods between %.1f and %.1f ms\n", periods, mn * 1000, mx * 1000);
    assert_true(periods >= 6);
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
    run_for(loop, GUARD); /* until the result */
    assert_int_equal(r.n, 1);
    run_for(loop, 0.3); /* nothing fires on the freed probe */
    assert_int_equal(r.n, 1);
}

struct inflight {
    struct probe *p;
    struct app *a;
};

static bool attempt_in_flight(void *arg)
{
    struct inflight *f = arg;
    return f->p->running && f->a->accepted == 1;
}

static void test_stop_then_restart(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct app a;
    struct rec r;
    char err[128];

    app_init(&a, loop, NULL);
    struct check_spec s = spec_of(PROBE_HTTP, a.port);
    s.timeout_ms = 10000; /* the attempt hangs until stopped */
    rec_init(&r, loop, 1);
    struct probe *p = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    assert_non_null(p);
    probe_start(p);
    struct inflight fl = {p, &a};
    /* attempt in flight against the hung app */
    assert_true(wait_until(loop, attempt_in_flight, &fl, GUARD));
    probe_stop(p);
    assert_false(p->running);
    assert_true(wait_until(loop, app_no_open_conns, &a, GUARD)); /* it hung up */
    run_for(loop, 0.5);                                          /* five intervals */
    assert_int_equal(r.n, 0); /* cancelled: no result, no further attempt */
    assert_int_equal(a.accepted, 1);
    a.resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    probe_start(p);
    run_for(loop, GUARD); /* until the result */
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
