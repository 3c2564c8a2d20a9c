/* Probes under overload (README "Probes under load"): the deadline-vs-answer
 * race. The app is a separate process, so it answers while our loop is
 * blocked by a busy wait longer than the probe's timeout, at each stage of
 * the attempt (before the connect is seen, after the send, with the answer
 * waiting). Such a probe passes; an app that really answers late still
 * fails; attempts past the in-flight cap wait and their lateness shows. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/probe/probe.h"
#include "tests/test_probe_util.h"

#define TIMEOUT_MS 150
/* Longer than the timeout: the loop is "too busy" for a whole deadline. */
#define BLOCK_S 0.4
#define GUARD 20.0

/* ---- the app: a forked process answering each request after delay_ms --- */

struct app {
    pid_t pid;
    int port;
};

static void app_serve(int lfd, int delay_ms)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

    for (;;) {
        char buf[4096];
        size_t len = 0;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                usleep(1000);
                continue;
            }
            _exit(1);
        }
        while (len < sizeof(buf) - 1) {
            ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                usleep(500);
                continue;
            }
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (delay_ms > 0)
            usleep((useconds_t)delay_ms * 1000);
        (void)!send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
        close(fd);
    }
}

static void app_start(struct app *a, int delay_ms)
{
    int lfd = listen_any(&a->port);

    a->pid = fork();
    assert_true(a->pid >= 0);
    if (a->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion skips app_stop */
        app_serve(lfd, delay_ms);
    }
    close(lfd);
}

static void app_stop(struct app *a)
{
    kill(a->pid, SIGKILL);
    waitpid(a->pid, NULL, 0);
}

/* ---- a loop that stalls once, at the Nth iteration of an attempt --------- */

struct stall {
    struct probe *p;
    int at;         /* iterations after the attempt started */
    int iterations; /* seen while the attempt runs */
    bool done;
};

static void busy_wait(double seconds)
{
    ev_tstamp end = ev_time() + seconds;
    volatile unsigned long spin = 0;

    while (ev_time() < end)
        spin++;
}

static void stall_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct stall *s = w->data;

    if (s->done || !s->p || !s->p->running)
        return;
    if (++s->iterations >= s->at) {
        busy_wait(BLOCK_S);
        s->done = true;
    }
}

static struct check_spec spec_of(enum probe_kind kind, int port, const char *cmd)
{
    struct check_spec s = {
        .name = "svc.main",
        .probe = kind,
        .probe_host = "127.0.0.1",
        .probe_port = port,
        .probe_uri = "/health",
        .probe_cmd = (char *)cmd,
        .timeout_ms = TIMEOUT_MS,
        .interval_ms = 100,
        .rise = 1,
        .fall = 1,
    };
    return s;
}

/* One attempt of spec with the loop stalled at iteration `at`; the result. */
static void probe_stalled(const struct check_spec *s, int at, struct rec *r)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct stall st = {.at = at};
    ev_check chk;

    ev_check_init(&chk, stall_cb);
    chk.data = &st;
    ev_check_start(loop, &chk);
    st.p = rec_probe(s, r, 1);
    probe_start(st.p);
    run_for(loop, GUARD);
    ev_check_stop(loop, &chk);
    probe_free(st.p);
    assert_true(st.done);
    assert_int_equal(r->n, 1);
}

/* The answer arrives while the loop is stalled for longer than the
 * timeout, whatever stage the attempt was at: the probe passes. */
static void test_http_answer_in_socket_passes(void **state)
{
    struct app a;

    app_start(&a, 0);
    /* 1: the connect is not seen yet; 2: the request is sent, the answer
     * comes during the stall (an attempt takes three iterations). */
    for (int at = 1; at <= 2; at++) {
        struct check_spec s = spec_of(PROBE_HTTP, a.port, NULL);
        struct rec r;

        probe_stalled(&s, at, &r);
        if (!r.pass[0])
            print_error("stall at iteration %d: %s\n", at, r.detail[0]);
        assert_true(r.pass[0]);
        assert_non_null(strstr(r.detail[0], "HTTP 200"));
    }
    app_stop(&a);
}

/* An app that really answers late fails, stall or not. Late here means
 * after the stall and two timeouts more: an answer due just as the stall
 * ends (400 ms, as this test had it) is in the socket or not depending on
 * how soon the stall began after the send, which a loaded host decides. */
static void test_http_late_answer_fails(void **state)
{
    struct app a;

    app_start(&a, (int)(BLOCK_S * 1000) + 2 * TIMEOUT_MS);
    for (int at = 1; at <= 2; at++) {
        struct check_spec s = spec_of(PROBE_HTTP, a.port, NULL);
        struct rec r;

        probe_stalled(&s, at, &r);
        assert_false(r.pass[0]);
        assert_non_null(strstr(r.detail[0], "timeout after 150 ms"));
    }
    app_stop(&a);
}

static void test_tcp_connect_in_socket_passes(void **state)
{
    int port, lfd = listen_any(&port);
    struct check_spec s = spec_of(PROBE_TCP, port, NULL);
    struct rec r;

    probe_stalled(&s, 1, &r);
    assert_true(r.pass[0]);
    close(lfd);
}

/* The command exits during the stall: judged by its exit status. */
static void test_cmd_exit_during_stall_counts(void **state)
{
    struct check_spec ok = spec_of(PROBE_CMD, 0, "exit 0");
    struct check_spec bad = spec_of(PROBE_CMD, 0, "exit 3");
    struct rec r;

    probe_stalled(&ok, 1, &r);
    assert_true(r.pass[0]);
    probe_stalled(&bad, 1, &r);
    assert_false(r.pass[0]);
    assert_non_null(strstr(r.detail[0], "exit 3"));
}

/* ---- the in-flight cap ------------------------------------------------------ */

#define MANY (PROBE_MAX_IN_FLIGHT + 64)

struct many {
    struct ev_loop *loop;
    int results;
    unsigned max_in_flight, max_waiting;
};

static void many_result(struct probe *p, bool pass, const char *detail, void *arg)
{
    struct many *m = arg;

    if (++m->results >= MANY)
        ev_break(m->loop, EVBREAK_ALL);
}

static void many_check(struct ev_loop *loop, ev_check *w, int revents)
{
    struct many *m = w->data;
    struct probe_stats st;

    probe_stats(&st);
    if (st.in_flight > m->max_in_flight)
        m->max_in_flight = st.in_flight;
    if (st.waiting > m->max_waiting)
        m->max_waiting = st.waiting;
}

/* More probes than the cap, against an app that never answers: never more
 * than the cap in flight, the rest wait (lag > 0), and every one of them
 * still gets its result. */
static void test_in_flight_cap(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    int port, lfd = listen_any(&port); /* accepts in the kernel, never answers */
    struct check_spec s = spec_of(PROBE_TCP, port, NULL);
    static struct probe *p[MANY];
    struct many m = {.loop = loop};
    struct probe_stats st;
    ev_check chk;
    char err[256];

    s.probe = PROBE_HTTP;
    s.interval_ms = 50;
    ev_check_init(&chk, many_check);
    chk.data = &m;
    ev_check_start(loop, &chk);
    for (int i = 0; i < MANY; i++) {
        p[i] = probe_new(loop, &s, many_result, &m, err, sizeof(err));
        assert_non_null(p[i]);
        probe_start(p[i]);
    }
    run_for(loop, GUARD);
    probe_stats(&st);
    for (int i = 0; i < MANY; i++)
        probe_free(p[i]);
    ev_check_stop(loop, &chk);
    close(lfd);
    assert_true(m.results >= MANY);
    assert_true(m.max_in_flight <= PROBE_MAX_IN_FLIGHT);
    assert_true(m.max_in_flight == PROBE_MAX_IN_FLIGHT);
    assert_true(m.max_waiting > 0);
    assert_true(st.lag_max_seconds > 0.05);
    probe_stats(&st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.waiting, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_answer_in_socket_passes),
        cmocka_unit_test(test_http_late_answer_fails),
        cmocka_unit_test(test_tcp_connect_in_socket_passes),
        cmocka_unit_test(test_cmd_exit_during_stall_counts),
        cmocka_unit_test(test_in_flight_cap),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
