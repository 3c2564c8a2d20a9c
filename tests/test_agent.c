/* The HAProxy agent-check listener (README "Admin / health endpoint") over real loopback sockets: a
 * real struct sidecar (checks with real health counters, the real drain machine) and agent_new() on
 * 127.0.0.1:0, driven by pumping the libev loop while the client sockets wait for their line. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/admin/agent.h"
#include "sidecar/sidecar.h"

#define UP_LINE "up ready 100%\n"

struct fx {
    struct ev_loop *loop;
    struct mr_config cfg;
    struct check_spec specs[2];
    struct check checks[2];
    struct sidecar sc;
    struct agent *agent;
    int port;
};

static void spec_init(struct check_spec *s, const char *name, bool registered)
{
    memset(s, 0, sizeof(*s));
    s->name = (char *)name;
    s->registered = registered;
    s->rise = 1;
    s->fall = 1;
}

/* Two checks, both healthy; `worker`: the second one is a worker's. */
static struct fx *fx_new_at(const char *addr, bool worker)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];
    assert_non_null(f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    spec_init(&f->specs[0], "svc.main", true);
    spec_init(&f->specs[1], "svc.canary", !worker);
    f->cfg.checks = f->specs;
    f->cfg.nchecks = 2;
    struct sidecar *sc = &f->sc;
    sc->loop = f->loop;
    sc->cfg = &f->cfg;
    sc->checks = f->checks;
    sc->nchecks = 2;
    drain_init(&sc->drain, 30, 10, false);
    for (size_t i = 0; i < 2; i++) {
        f->checks[i].spec = &f->specs[i];
        f->checks[i].sc = sc;
        health_init(&f->checks[i].health, 1, 1);
        health_feed(&f->checks[i].health, true);
    }
    f->agent = agent_new(f->loop, sc, addr, 0, err, sizeof(err));
    if (!f->agent)
        fail_msg("agent_new(%s): %s", addr, err);
    f->port = agent_port(f->agent);
    assert_true(f->port > 0);
    return f;
}

static struct fx *fx_new(void)
{
    return fx_new_at("127.0.0.1:6666", false);
}

static void fx_free(struct fx *f)
{
    agent_free(f->agent);
    ev_loop_destroy(f->loop);
    free(f);
}

/* ---- a client: its input is gathered while the loop runs ---- */

struct cli {
    struct fx *f;
    int fd;
    char buf[256];
    size_t len;
    bool eof;
    int err; /* errno of a failed recv (ECONNRESET) */
    ev_io w;
};

static void cli_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cli *c = w->data;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        c->err = n < 0 ? errno : 0;
        ev_io_stop(loop, w);
    }
    ev_break(loop, EVBREAK_ONE);
}

static struct cli *cli_new_at(struct fx *f, int family)
{
    struct cli *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->f = f;
    c->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)f->port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)f->port);
        sin6->sin6_addr = in6addr_loopback;
        len = sizeof(*sin6);
    }
    /* loopback: the kernel completes the handshake from its backlog */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&ss, len), 0);
    ev_io_init(&c->w, cli_cb, c->fd, EV_READ);
    c->w.data = c;
    ev_io_start(f->loop, &c->w);
    return c;
}

static struct cli *cli_new(struct fx *f)
{
    return cli_new_at(f, AF_INET);
}

static void cli_free(struct cli *c)
{
    ev_io_stop(c->f->loop, &c->w);
    close(c->fd);
    free(c);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until every client saw EOF, or `timeout` seconds. */
static void pump_all(struct cli **cs, size_t n, double timeout)
{
    struct ev_loop *loop = cs[0]->f->loop;
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, timeout_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(loop, &t);
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += cs[i]->eof;
        if (done == n || timed_out)
            break;
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &t);
}

/* Connects, reads the whole answer until the agent closes. */
static void ask(struct fx *f, char *out, size_t cap)
{
    struct cli *c = cli_new(f);
    pump_all(&c, 1, 3.0);
    assert_true(c->eof);
    assert_int_equal(c->err, 0);
    snprintf(out, cap, "%s", c->buf);
    cli_free(c);
}

static void spin(struct fx *f, double seconds)
{
    bool done = false;
    ev_timer t;
    ev_timer_init(&t, timeout_cb, seconds, 0.);
    t.data = &done;
    ev_timer_start(f->loop, &t);
    while (!done)
        ev_run(f->loop, EVRUN_ONCE);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void set_health(struct check *c, bool up)
{
    while (c->health.up != up)
        health_feed(&c->health, up);
}

/* ---- tests ---- */

static void test_up_drain_down(void **state)
{
    struct fx *f = fx_new();
    char got[256];

    ask(f, got, sizeof(got));
    assert_string_equal(got, UP_LINE);

    /* admin drain: drain, whatever the probes say */
    drain_request_admin(&f->sc.drain, ev_now(f->loop), "test", 0);
    ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");
    set_health(&f->checks[1], false);
    ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");

    /* undrained but one check unhealthy: down */
    drain_request_undrain(&f->sc.drain);
    ask(f, got, sizeof(got));
    assert_string_equal(got, "down\n");

    /* healthy again: up (with "ready", which cancels HAProxy's DRAIN) */
    set_health(&f->checks[1], true);
    ask(f, got, sizeof(got));
    assert_string_equal(got, UP_LINE);

    /* SIGTERM: drain at once (README "Drain sequence" step 1) */
    drain_request_shutdown(&f->sc.drain, ev_now(f->loop));
    ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");
    fx_free(f);
}

/* A worker's check stays up under an admin drain (/health says 200), so
 * the agent says up too: both answer from the same rule. */
static void test_worker_matches_health(void **state)
{
    struct fx *f = fx_new_at("127.0.0.1:0", true);
    f->sc.nchecks = 1;
    f->checks[0].spec = &f->specs[1]; /* only the worker */
    drain_request_admin(&f->sc.drain, ev_now(f->loop), "", 0);
    assert_string_equal(agent_line(&f->sc), UP_LINE);
    set_health(&f->checks[0], false);
    assert_string_equal(agent_line(&f->sc), "drain\n");
    drain_request_undrain(&f->sc.drain);
    assert_string_equal(agent_line(&f->sc), "down\n");
    fx_free(f);
}

/* HAProxy's `agent-send` writes a string first: the agent must not answer
 * it with a reset (closing with unread input does), which could destroy
 * the line before HAProxy reads it. */
static void test_agent_send_gets_clean_close(void **state)
{
    struct fx *f = fx_new();
    struct cli *c = cli_new(f);
    const char hello[] = "be_web/srv1\n";
    assert_int_equal(send(c->fd, hello, sizeof(hello) - 1, MSG_NOSIGNAL), sizeof(hello) - 1);
    /* let the agent accept, answer and half-close before we read */
    spin(f, 0.05);
    pump_all(&c, 1, 3.0);
    assert_true(c->eof);
    assert_int_equal(c->err, 0);
    assert_string_equal(c->buf, UP_LINE);
    cli_free(c);
    fx_free(f);
}

/* Many peers at once: each gets its line; the agent holds a bounded
 * number of lingering sockets and lets go of all of them by itself. */
static void test_many_connections_bounded(void **state)
{
    enum { N = 300 };
    struct fx *f = fx_new();
    struct cli *cs[N];
    int base = open_fds();
    for (size_t i = 0; i < N; i++)
        cs[i] = cli_new(f);
    pump_all(cs, N, 5.0);
    for (size_t i = 0; i < N; i++) {
        assert_true(cs[i]->eof);
        assert_string_equal(cs[i]->buf, UP_LINE);
    }
    /* clients still open, none of them closed: the agent keeps at most
     * 256 of its ends (it evicts the oldest) */
    int held = open_fds() - base - N;
    assert_true(held <= 256);
    /* ... and after its linger (1 s) none at all */
    spin(f, 1.3);
    assert_int_equal(open_fds() - base - N, 0);
    for (size_t i = 0; i < N; i++)
        cli_free(cs[i]);
    fx_free(f);
}

/* The peer closing right after reading frees the agent's end at once. */
static void test_peer_close_frees(void **state)
{
    struct fx *f = fx_new();
    int base = open_fds();
    char got[64];
    for (int i = 0; i < 20; i++)
        ask(f, got, sizeof(got));
    spin(f, 0.05);
    assert_int_equal(open_fds(), base);
    fx_free(f);
}

static void test_ipv6_and_errors(void **state)
{
    char err[256];
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct sidecar sc;
    memset(&sc, 0, sizeof(sc));
    drain_init(&sc.drain, 30, 10, false);

    assert_null(agent_new(loop, &sc, "nonsense", 0, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(agent_new(loop, &sc, "127.0.0.1:1", 70000, err, sizeof(err)));

    /* a port already taken: a clear bind error, nothing left behind */
    struct agent *a = agent_new(loop, &sc, "127.0.0.1:0", 0, err, sizeof(err));
    assert_non_null(a);
    assert_null(agent_new(loop, &sc, "127.0.0.1:0", agent_port(a), err, sizeof(err)));
    assert_non_null(strstr(err, "bind"));
    agent_free(a);
    agent_free(NULL);
    ev_loop_destroy(loop);

    /* same host as the admin endpoint: [::1] (skipped without IPv6) */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    if (probe >= 0)
        close(probe);
    if (!v6)
        return;
    struct fx *f = fx_new_at("[::1]:6666", false);
    struct cli *c = cli_new_at(f, AF_INET6);
    pump_all(&c, 1, 3.0);
    assert_string_equal(c->buf, UP_LINE);
    cli_free(c);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_drain_down),
        cmocka_unit_test(test_worker_matches_health),
        cmocka_unit_test(test_agent_send_gets_clean_close),
        cmocka_unit_test(test_many_connections_bounded),
        cmocka_unit_test(test_peer_close_frees),
        cmocka_unit_test(test_ipv6_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
