/* The HAProxy agent-check listener (README "Admin / health endpoint") over real loopback sockets:
 * the shared admin fixture (checks with real health counters, the real drain machine, behind struct
 * admin_view) and agent_new() on 127.0.0.1:0, driven by pumping the libev loop while the client
 * sockets wait for their line. */
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

#include "tests/admin_fixture.h"
#include "tests/admin_client.h"

#define UP_LINE "up ready 100%\n"

/* ---- fixture (tests/admin_fixture.h): two healthy registrations, the
 * agent-check on a free port ---- */

/* `worker`: the second check is a worker's. */
static struct afx *fx_new_at(const char *addr, bool worker)
{
    struct afx *f = afx_new(2, 1);
    f->checks[1].registration = !worker;
    afx_agent(f, addr);
    return f;
}

static struct afx *fx_new(void)
{
    return fx_new_at("127.0.0.1:6666", false);
}

struct clients {
    struct cli **cs;
    size_t n;
};

static bool all_eof(void *arg)
{
    const struct clients *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (!w->cs[i]->eof)
            return false;
    return true;
}

/* Runs the loop until every client saw EOF, or `timeout` seconds. */
static void pump_all(struct cli **cs, size_t n, double timeout)
{
    struct clients w = {cs, n};
    afx_run_until(cs[0]->f->loop, all_eof, &w, timeout);
}

/* Connects, reads the whole answer until the agent closes. */
static void agent_ask(struct afx *f, char *out, size_t cap)
{
    struct cli *c = cli_new(f);
    pump_all(&c, 1, 3.0);
    assert_true(c->eof);
    assert_int_equal(c->err, 0);
    snprintf(out, cap, "%s", c->buf);
    cli_free(c);
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

/* ---- tests ---- */

static void test_up_drain_down(void **state)
{
    struct afx *f = fx_new();
    char got[256];

    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, UP_LINE);

    /* admin drain: drain, whatever the probes say */
    afx_set_drained(f, true, "test");
    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");
    afx_set_health(f, &f->checks[1], false);
    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");

    /* undrained but one check unhealthy: down */
    afx_set_drained(f, false, "");
    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, "down\n");

    /* healthy again: up (with "ready", which cancels HAProxy's DRAIN) */
    afx_set_health(f, &f->checks[1], true);
    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, UP_LINE);

    /* SIGTERM: drain at once (README "Drain sequence" step 1) */
    drain_request_shutdown(&f->drain, ev_now(f->loop));
    agent_ask(f, got, sizeof(got));
    assert_string_equal(got, "drain\n");
    afx_free(f);
}

/* A worker's check stays up under an admin drain (/health says 200), so
 * the agent says up too: both answer from the same rule. */
static void test_worker_matches_health(void **state)
{
    struct afx *f = fx_new_at("127.0.0.1:0", true);
    f->nchecks = 1;
    f->checks[0].registration = false; /* only the worker */
    afx_set_drained(f, true, "");
    assert_string_equal(agent_line(&f->view), UP_LINE);
    afx_set_health(f, &f->checks[0], false);
    assert_string_equal(agent_line(&f->view), "drain\n");
    afx_set_drained(f, false, "");
    assert_string_equal(agent_line(&f->view), "down\n");
    afx_free(f);
}

/* HAProxy's `agent-send` writes a string first: the agent must not answer
 * it with a reset (closing with unread input does), which could destroy
 * the line before HAProxy reads it. */
static void test_agent_send_gets_clean_close(void **state)
{
    struct afx *f = fx_new();
    struct cli *c = cli_new(f);
    const char hello[] = "be_web/srv1\n";
    assert_int_equal(send(c->fd, hello, sizeof(hello) - 1, MSG_NOSIGNAL), sizeof(hello) - 1);
    /* let the agent accept, answer and half-close before we read */
    afx_spin(f->loop, 0.05);
    pump_all(&c, 1, 3.0);
    assert_true(c->eof);
    assert_int_equal(c->err, 0);
    assert_string_equal(c->buf, UP_LINE);
    cli_free(c);
    afx_free(f);
}

/* Many peers at once: each gets its line; the agent holds a bounded
 * number of lingering sockets and lets go of all of them by itself. */
static void test_many_connections_bounded(void **state)
{
    enum { N = 300 };
    struct afx *f = fx_new();
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
    afx_spin(f->loop, 1.3);
    assert_int_equal(open_fds() - base - N, 0);
    for (size_t i = 0; i < N; i++)
        cli_free(cs[i]);
    afx_free(f);
}

/* The peer closing right after reading frees the agent's end at once. */
static void test_peer_close_frees(void **state)
{
    struct afx *f = fx_new();
    int base = open_fds();
    char got[64];
    for (int i = 0; i < 20; i++)
        agent_ask(f, got, sizeof(got));
    afx_spin(f->loop, 0.05);
    assert_int_equal(open_fds(), base);
    afx_free(f);
}

static void test_ipv6_and_errors(void **state)
{
    char err[256];
    struct afx *fv = afx_new(2, 1); /* no agent of its own: a view and a loop */
    struct ev_loop *loop = fv->loop;

    assert_null(agent_new(loop, &fv->view, "nonsense", 0, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(agent_new(loop, &fv->view, "127.0.0.1:1", 70000, err, sizeof(err)));

    /* a port already taken: a clear bind error, nothing left behind */
    struct agent *a = agent_new(loop, &fv->view, "127.0.0.1:0", 0, err, sizeof(err));
    assert_non_null(a);
    assert_null(agent_new(loop, &fv->view, "127.0.0.1:0", agent_port(a), err, sizeof(err)));
    assert_non_null(strstr(err, "bind"));
    agent_free(a);
    agent_free(NULL);
    afx_free(fv);

    /* same host as the admin endpoint: [::1] (skipped without IPv6) */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    if (probe >= 0)
        close(probe);
    if (!v6)
        return;
    struct afx *f = fx_new_at("[::1]:6666", false);
    struct cli *c = cli_new_at(f, AF_INET6, f->port);
    pump_all(&c, 1, 3.0);
    assert_string_equal(c->buf, UP_LINE);
    cli_free(c);
    afx_free(f);
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
