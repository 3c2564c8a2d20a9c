/* The admin endpoint (README "Admin / health endpoint") over real loopback sockets: the shared
 * admin fixture (two checks with real rise/fall counters, the real drain machine, behind
 * struct admin_view) and admin_new() on 127.0.0.1:0, driven from the same process by pumping the
 * libev loop while client sockets wait for their answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/http1.h"
#include "sidecar/admin/admin_route.h"
#include "sidecar/log.h"
#include "tests/admin_fixture.h"
#include "tests/admin_client.h"

/* ---- fixture (tests/admin_fixture.h): two healthy registrations, the
 * admin endpoint on a free port ---- */

static struct afx *fx_new(const struct admin_limits *lim, char *const *allow, size_t nallow)
{
    struct afx *f = afx_new(2, 2);
    afx_admin(f, lim, allow, nallow);
    return f;
}

/* ---- tests ---- */

static void test_keepalive_and_routes(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct cli *c = cli_new(f);

    for (int i = 0; i < 3; i++) {
        struct resp r = ask(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(r.status, 200);
        assert_true(head_has(&r, "application/json"));
        assert_true(has(&r, "\"svc.main\""));
        assert_false(c->eof);
    }
    static const struct route routes[] = {
        {GET("/health/svc.canary"), .status = 200, .has = {"svc.canary"}, .lacks = "svc.main"},
        /* a trailing slash names the same registration */
        {GET("/health/svc.canary/"), .status = 200, .has = {"svc.canary"}},
        {GET("/health/svc.nope"), .status = 404, .head_has = "application/json"},
        /* every 404 is JSON, /health/ and unknown paths included */
        {GET("/health/"), .status = 404, .head_has = "application/json",
         .has = {"{\"error\":\"no registration named"}},
        {GET("/health//"), .status = 404},
        {GET("/nope/x"), .status = 404, .head_has = "application/json",
         .has = {"{\"error\":\"not found\",\"path\":\"/nope/x\"}"}},
        {GET("/nope%FF\xff"), .status = 404, .has = {"{\"error\":\"not found\"}"}},
        {GET("/status"), .status = 200,
         .has = {"\"window_remaining_ms\"", "\"probes\":{\"lag_ms\":0,"}},
        {GET("/metrics"), .status = 200, .head_has = "text/plain; version=0.0.4",
         .has = {"meshreg_check_up{name=\"svc.main\"} 1", "\nmeshreg_probe_lag_seconds 0.000\n"}},
        {GET("/health?x=1"), .status = 200},
    };
    expect_routes(c, routes, sizeof(routes) / sizeof(routes[0]));

    /* HEAD: same head, no body; the next answer must still line up */
    c->len = 0;
    bool head_only[2] = {true, false};
    struct resp rs[2];
    cli_sends(c, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(pump(c, 2, 5.0, rs, 2, head_only), 2);
    assert_int_equal(rs[0].status, 200);
    assert_int_equal(rs[0].body_len, 0);
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", rs[1].body_len);
    assert_true(head_has(&rs[0], cl));
    assert_true(rs[1].body_len > 0);
    assert_int_equal(rs[1].head - c->buf, rs[0].head_len);
    assert_false(c->eof);

    cli_free(c);
    afx_free(f);
}

static void test_methods(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct cli *c = cli_new(f);

    static const struct route routes[] = {
        {POST("/health"), .status = 405, .head_has = "\r\nAllow: GET, HEAD\r\n"},
        {GET("/drain"), .status = 405, .head_has = "\r\nAllow: POST\r\n"},
        {"DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n", .status = 405},
        {GET("/nope"), .status = 404},
        {GET("/healthz"), .status = 404},
        /* routing errors keep the connection: the framing is intact */
        {GET("/health"), .status = 200},
    };
    expect_routes(c, routes, sizeof(routes) / sizeof(routes[0]));
    assert_false(afx_drained(f));
    assert_false(c->eof);

    cli_free(c);
    afx_free(f);
}

static void test_pipelining(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct cli *c = cli_new(f);
    struct resp r[5];

    cli_sends(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /drain?reason=pipe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                 "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(pump(c, -1, 5.0, r, 5, NULL), 5);
    assert_true(c->eof);
    assert_int_equal(r[0].status, 200);
    assert_true(has(&r[0], "\"up\""));
    assert_int_equal(r[1].status, 200);
    assert_true(has(&r[1], "\"checks\""));
    assert_int_equal(r[2].status, 404);
    assert_int_equal(r[3].status, 200);
    assert_true(has(&r[3], "\"draining\":true"));
    /* answered in order: the drain happened before the last /health */
    assert_int_equal(r[4].status, 503);
    assert_true(head_has(&r[4], "Connection: close"));

    cli_free(c);
    afx_free(f);
}

/* The server's end of client c's connection (both ends live in this
 * process): found by matching addresses, once the server has accepted. */
static int server_fd_of(struct cli *c)
{
    struct sockaddr_in me, peer, a, b;
    socklen_t l = sizeof(me);
    assert_int_equal(getsockname(c->fd, (struct sockaddr *)&me, &l), 0);
    l = sizeof(peer);
    assert_int_equal(getpeername(c->fd, (struct sockaddr *)&peer, &l), 0);
    for (int t = 0; t < 200; t++) {
        for (int fd = 3; fd < 1024; fd++) {
            socklen_t la = sizeof(a), lb = sizeof(b);
            if (fd == c->fd || getsockname(fd, (struct sockaddr *)&a, &la) != 0 ||
                getpeername(fd, (struct sockaddr *)&b, &lb) != 0 || la != sizeof(a) ||
                a.sin_family != AF_INET)
                continue;
            if (a.sin_port == peer.sin_port && a.sin_addr.s_addr == peer.sin_addr.s_addr &&
                b.sin_port == me.sin_port && b.sin_addr.s_addr == me.sin_addr.s_addr)
                return fd;
        }
        afx_spin(c->f->loop, 0.05); /* not accepted yet */
    }
    fail_msg("the server never accepted the connection");
    return -1;
}

static int inq(int fd)
{
    int n = -1;
    assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
    return n;
}

/* A client that pipelines far more answers than OUT_HIGH (256 KiB) and
 * does not read them: once the kernel buffers are full the server's send
 * would block, so it must keep the answers itself, and past OUT_HIGH stop
 * reading the client (its input stays in the kernel), so that its memory
 * stays bounded. Once the client reads, every answer arrives, in order.
 * Small socket buffers at both ends make "the kernel buffers are full"
 * come after a few KiB instead of megabytes of loopback autotuning. */
static void test_pipelining_backpressure(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    enum { N = 3000 };
    static struct resp r[N];
    struct cli *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->f = f;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    int small = 4096;
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ev_io_init(&c->w, cli_cb, c->fd, EV_READ); /* not started: do not read yet */
    c->w.data = c;
    int sfd = server_fd_of(c);
    assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);

    /* N requests, every fifth a 404, so that the order of answers shows */
    size_t cap = (size_t)N * 48, len = 0;
    char *reqs = malloc(cap);
    assert_non_null(reqs);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(reqs + len, cap - len, "GET /%s?%d HTTP/1.1\r\nHost: x\r\n\r\n",
                                i % 5 == 4 ? "nope" : "status", i);
    size_t sent = 0;
    ev_tstamp deadline = ev_time() + 30;
    while (sent < len) {
        ssize_t n = send(c->fd, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else if (errno != EAGAIN)
            fail_msg("send: %s", strerror(errno));
        else if (ev_time() > deadline)
            fail_msg("only %zu of %zu request bytes could be sent", sent, len);
        ev_run(f->loop, EVRUN_NOWAIT);
    }
    free(reqs);

    /* Let the server do all it will: loop until its input queue stops
     * changing. A server that kept reading would have emptied it. */
    int last = -1, same = 0;
    while (same < 50 && ev_time() < deadline) {
        ev_run(f->loop, EVRUN_NOWAIT);
        int q = inq(sfd);
        same = q == last ? same + 1 : 0;
        last = q;
    }
    assert_int_equal(same, 50);
    int unread = inq(sfd), arrived = inq(c->fd);
    print_message("# backpressure: server left %d request bytes unread, client has %d answer "
                  "bytes waiting\n",
                  unread, arrived);
    assert_true(unread > 0);    /* the server stopped reading */
    assert_true(arrived > 0);   /* after sending what the kernel took */
    parse_resps(c, r, N, NULL); /* nothing read yet */
    assert_int_equal(c->len, 0);

    /* The client reads: everything arrives, in order, on the same connection. */
    ev_io_start(f->loop, &c->w);
    assert_int_equal(pump(c, N, 60.0, r, N, NULL), N);
    for (int i = 0; i < N; i++) {
        if (r[i].status != (i % 5 == 4 ? 404 : 200))
            fail_msg("answer %d: status %d", i, r[i].status);
    }
    assert_false(c->eof);
    assert_int_equal(inq(sfd), 0);
    struct resp a = ask(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(a.status, 200);

    cli_free(c);
    afx_free(f);
}

static void test_http10(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct resp r[2];

    /* HAProxy's option httpchk: HTTP/1.0, no Host, close after */
    struct cli *c = cli_new(f);
    cli_sends(c, "GET /health HTTP/1.0\r\n\r\n");
    assert_int_equal(pump(c, -1, 5.0, r, 2, NULL), 1);
    assert_true(c->eof);
    assert_int_equal(r[0].status, 200);
    assert_true(head_has(&r[0], "Connection: close"));
    cli_free(c);

    /* HTTP/1.0 keep-alive only when asked, and then said so */
    c = cli_new(f);
    struct resp a = ask(c, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(a.status, 200);
    assert_true(head_has(&a, "Connection: keep-alive\r\n"));
    a = ask(c, "GET /tcp/svc.main/8888/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body_len, 9);
    assert_memory_equal(a.body, "connected", 9);
    assert_false(c->eof);
    cli_free(c);

    /* HTTP/1.1 needs Host */
    c = cli_new(f);
    cli_sends(c, "GET /health HTTP/1.1\r\n\r\n");
    assert_int_equal(pump(c, -1, 5.0, r, 2, NULL), 1);
    assert_int_equal(r[0].status, 400);
    assert_true(c->eof);
    cli_free(c);
    afx_free(f);
}

static void expect_error_and_close(struct afx *f, const char *req, size_t len, int status)
{
    struct cli *c = cli_new(f);
    struct resp r[2];
    cli_send(c, req, len);
    size_t n = pump(c, -1, 5.0, r, 2, NULL);
    if (n != 1 || r[0].status != status)
        fail_msg("want one %d, got %zu answer(s), first %d", status, n, n ? r[0].status : 0);
    assert_true(c->eof);
    assert_true(head_has(&r[0], "Connection: close"));
    cli_free(c);
}

static void test_limits(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);

    /* a 17 KiB head: 431, even though the client is still sending */
    size_t big = 17 * 1024;
    char *req = malloc(big + 64);
    int n = snprintf(req, 64, "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    expect_error_and_close(f, req, (size_t)n + big + 4, 431);
    /* just under the limit is fine */
    size_t ok_pad = 15 * 1024;
    memcpy(req + n + ok_pad, "\r\n\r\n", 4);
    struct cli *c = cli_new(f);
    c->len = 0;
    cli_send(c, req, (size_t)n + ok_pad + 4);
    struct resp r[1];
    assert_int_equal(pump(c, 1, 5.0, r, 1, NULL), 1);
    assert_int_equal(r[0].status, 200);
    cli_free(c);
    free(req);

    /* a declared body over 64 KiB: 413 without waiting for it */
    const char *b413 = "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\nreason=x";
    expect_error_and_close(f, b413, strlen(b413), 413);
    assert_false(afx_drained(f));

    const char *garbage[] = {
        "HELLO\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET  /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n", /* TLS to a plain port */
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        expect_error_and_close(f, garbage[i], strlen(garbage[i]), 400);
    const char *chunked = "POST /drain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect_error_and_close(f, chunked, strlen(chunked), 501);
    assert_false(afx_drained(f));

    /* the endpoint still answers */
    c = cli_new(f);
    struct resp a = ask(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(a.status, 200);
    cli_free(c);
    afx_free(f);
}

/* A client still sending a huge head when its 431 goes out (curl uploading)
 * can finish sending and then read the 431: the server keeps draining its
 * input for a moment instead of closing at once, which would make the
 * client's sends fail with a reset before it ever looks for the answer. */
static void test_431_while_sending(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct cli *c = cli_new(f);
    static char chunk[65536];
    const size_t total = 2u << 20;
    size_t sent = 0;
    int send_errno = 0;

    cli_sends(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(chunk, 'a', sizeof(chunk));
    while (sent < total) {
        ssize_t n = send(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (errno != EAGAIN) {
            send_errno = errno;
            break;
        }
        afx_spin(f->loop, 0.001);
    }
    if (send_errno)
        fail_msg("send failed after %zu bytes: %s", sent, strerror(send_errno));
    struct resp r[1];
    assert_int_equal(pump(c, 1, 5.0, r, 1, NULL), 1);
    assert_int_equal(r[0].status, 431);
    pump(c, -1, 5.0, r, 1, NULL);
    assert_true(c->eof); /* and then it is closed */
    cli_free(c);
    afx_free(f);
}

/* request_timeout T is long enough here that the client's own pauses
 * (T/2) stay well inside it on a loaded machine; the 408 must come at T,
 * not sooner, and within a few T. */
static void test_slow_client(void **state)
{
    const double T = 1.0;
    struct admin_limits lim = {16 * 1024, 64 * 1024, T, 64};
    struct afx *f = fx_new(&lim, NULL, 0);
    struct resp r[2];

    /* a keep-alive connection gets a fresh period after each answer */
    struct cli *good = cli_new(f);
    for (int i = 0; i < 3; i++) {
        struct resp a = ask(good, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(a.status, 200);
        afx_spin(f->loop, T / 2);
    }
    assert_false(good->eof);

    struct cli *slow = cli_new(f), *idle = cli_new(f);
    ev_tstamp t0 = ev_time();
    cli_sends(slow, "GET /heal");
    /* meanwhile the endpoint answers others */
    struct resp a = ask(good, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(a.status, 200);
    afx_spin(f->loop, T / 3);
    cli_sends(slow, "th HTTP/1.1\r\n"); /* trickling does not extend the deadline */
    assert_int_equal(pump(slow, -1, 10 * T, r, 2, NULL), 1);
    double took = ev_time() - t0;
    assert_true(slow->eof);
    assert_int_equal(r[0].status, 408);
    if (took < T - 0.05 || took >= 3 * T)
        fail_msg("408 after %.3f s, request_timeout %.1f s", took, T);

    /* an idle connection is closed silently after the same period */
    pump(idle, -1, 10 * T, r, 2, NULL);
    assert_true(idle->eof);
    assert_int_equal(idle->len, 0);
    /* and so is an idle keep-alive one */
    pump(good, -1, 10 * T, r, 2, NULL);
    assert_true(good->eof);

    cli_free(slow);
    cli_free(idle);
    cli_free(good);
    afx_free(f);
}

/* More connections than max_conns: each newcomer evicts the least recently
 * active one. Which connections survived is checked by asking on each (an
 * open one answers, an evicted one is at EOF), not by waiting for EOFs. */
static void test_max_conns(void **state)
{
    enum { MAX = 8, FLOOD = 40, GOOD = 3 };
    /* a long request_timeout: no connection may go by timeout instead */
    struct admin_limits lim = {16 * 1024, 64 * 1024, 120.0, MAX};
    struct afx *f = fx_new(&lim, NULL, 0);
    struct cli *flood[FLOOD];

    for (int i = 0; i < FLOOD; i++) {
        flood[i] = cli_new(f);
        if (i % 8 == 7)
            afx_spin(f->loop, 0.01);
    }
    cli_sends(flood[FLOOD - 1], "GET /hea"); /* a slowloris among them */

    /* a well-behaved client still gets answers, repeatedly */
    for (int k = 0; k < GOOD; k++) {
        struct cli *c = cli_new(f);
        struct resp a = ask(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(a.status, 200);
        cli_free(c);
    }

    /* Every accept beyond MAX evicted one: FLOOD - MAX while flooding, up
     * to one more per good client. The evicted ones are the oldest: the
     * survivors are the newest, including the slowloris, which was active
     * last. */
    bool open[FLOOD];
    int closed = 0;
    for (int i = FLOOD - 1; i >= 0; i--) {
        struct cli *c = flood[i];
        struct resp r[1];
        c->len = 0;
        if (!c->eof) {
            const char *req = i == FLOOD - 1 ? "lth HTTP/1.1\r\nHost: x\r\n\r\n"
                                             : "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
            /* an evicted connection may refuse the bytes (EPIPE, reset) */
            send(c->fd, req, strlen(req), MSG_NOSIGNAL);
            pump(c, 1, 10.0, r, 1, NULL);
        }
        open[i] = c->len > 0;
        if (open[i])
            assert_int_equal(parse_resps(c, r, 1, NULL) == 1 ? r[0].status : 0, 200);
        else if (!c->eof)
            fail_msg("connection %d: neither an answer nor EOF", i);
        closed += !open[i];
    }
    for (int i = 1; i < FLOOD; i++)
        if (open[i - 1] && !open[i])
            fail_msg("connection %d evicted while older %d stayed", i, i - 1);
    print_message("# max_conns %d: %d of %d flood connections evicted\n", MAX, closed, FLOOD);
    assert_true(closed >= FLOOD - MAX);
    assert_true(closed <= FLOOD - MAX + GOOD);
    assert_true(open[FLOOD - 1]);
    for (int i = 0; i < FLOOD; i++)
        cli_free(flood[i]);
    afx_free(f);
}

static void test_drain_undrain(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct cli *c = cli_new(f);

    struct resp r = ask(c, "POST /drain?reason=deploy%20now&expires=60 HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: 0\r\n\r\n");
    assert_int_equal(r.status, 200);
    assert_true(has(&r, "\"draining\":true"));
    const char *w = memmem(r.body, r.body_len, "\"window_remaining_ms\":", 22);
    assert_non_null(w);
    long ms = strtol(w + 22, NULL, 10);
    assert_true(ms > 29000 && ms <= 30000);
    assert_true(afx_drained(f));
    assert_string_equal(afx_reason(f), "deploy now");
    assert_true(fabs(afx_until(f) - (ev_now(f->loop) + 60)) < 2);

    static const struct route drained[] = {
        {GET("/health"), .status = 503},
        {GET("/spool/svc.main/8888/status"), .status = 503,
         .has = {"Service svc.main in down state"}},
        {GET("/http/svc.canary/8889/"), .status = 503},
        {POST("/undrain"), .status = 200, .has = {"\"draining\":false"}},
    };
    expect_routes(c, drained, sizeof(drained) / sizeof(drained[0]));
    assert_false(afx_drained(f));
    static const struct route undrained[] = {
        {GET("/health"), .status = 200},
        /* a probed port: answered from state, with the probe's last result */
        {GET("/tcp/svc.main/8888/x/y"), .status = 200, .body = "connected"},
        /* hacheck's spool knows no service list: any name is up unless drained */
        {GET("/spool/svc.other/8888/"), .status = 200},
        {GET("/http/svc.main/notaport/"), .status = 404},
    };
    expect_routes(c, undrained, sizeof(undrained) / sizeof(undrained[0]));

    /* parameters in an x-www-form-urlencoded body, '+' and %XX decoded */
    const char *form = "reason=a+b%21&expires=5";
    char req[256];
    snprintf(req, sizeof(req),
             "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
             "\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(form), form);
    r = ask(c, req);
    assert_int_equal(r.status, 200);
    assert_string_equal(afx_reason(f), "a b!");
    assert_true(fabs(afx_until(f) - (ev_now(f->loop) + 5)) < 2);
    ask(c, "POST /undrain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_false(afx_drained(f));

    /* Expect: 100-continue (curl with a larger body) */
    c->len = 0;
    snprintf(req, sizeof(req),
             "POST /drain HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n",
             strlen(form));
    cli_sends(c, req);
    struct resp rr[2];
    assert_int_equal(pump(c, 1, 5.0, rr, 2, NULL), 1);
    assert_int_equal(rr[0].status, 100);
    assert_false(afx_drained(f));
    cli_sends(c, form);
    assert_int_equal(pump(c, 2, 5.0, rr, 2, NULL), 2);
    assert_int_equal(rr[1].status, 200);
    assert_true(afx_drained(f));
    ask(c, "POST /undrain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");

    /* bad parameters: 400 and nothing changes */
    const char *bad[] = {"/drain?expires=abc", "/drain?expires=-1",    "/drain?expires=nan",
                         "/drain?expires=",    "/drain?expires=1e300", "/drain?reason=%zz",
                         "/drain?reason=%0a",  "/drain?expire=60",     "/drain?reason=a%00b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                 bad[i]);
        r = ask(c, req);
        if (r.status != 400)
            fail_msg("%s: want 400, got %d", bad[i], r.status);
        assert_false(afx_drained(f));
    }
    snprintf(req, sizeof(req),
             "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}");
    r = ask(c, req);
    assert_int_equal(r.status, 400);
    assert_false(afx_drained(f));

    cli_free(c);
    afx_free(f);
}

/* The 403 rule itself: admin_route() with an untrusted peer (a test cannot
 * connect from a non-loopback address without leaving loopback). */
static void test_forbidden_peer(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    const char *reqs[] = {"POST /drain?reason=evil HTTP/1.1\r\nHost: x\r\n\r\n",
                          "POST /undrain HTTP/1.1\r\nHost: x\r\n\r\n"};
    struct admin_routes rt = {.view = f->view};
    struct admin_reply out;
    struct http1_request req;

    for (size_t i = 0; i < 2; i++) {
        long hl = http1_parse_request(reqs[i], strlen(reqs[i]), 16384, 65536, &req);
        assert_true(hl > 0);
        afx_set_drained(f, i == 1, ""); /* undrain must not undo a drain either */
        admin_route(&rt, &req, reqs[i] + hl, false, "192.0.2.9:5555", &out);
        assert_int_equal(out.status, 403);
        assert_int_equal(afx_drained(f), i == 1);
        assert_string_equal(afx_reason(f), "");
        free(out.body);
    }
    /* reading routes stay open */
    const char *get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    afx_set_drained(f, false, "");
    f->gen++;
    long hl = http1_parse_request(get, strlen(get), 16384, 65536, &req);
    admin_route(&rt, &req, get + hl, false, "192.0.2.9:5555", &out);
    assert_int_equal(out.status, 200);
    free(out.body);
    /* and a trusted peer may drain */
    hl = http1_parse_request(reqs[0], strlen(reqs[0]), 16384, 65536, &req);
    admin_route(&rt, &req, reqs[0] + hl, true, "10.1.1.1:5555", &out);
    assert_int_equal(out.status, 200);
    assert_true(afx_drained(f));
    assert_string_equal(afx_reason(f), "evil");
    free(out.body);
    status_cache_clear(&rt.health);
    afx_free(f);
}

/* hacheck's remote spool change (POST /spool/...): refused with hacheck's
 * 403 text to a peer that may not change anything, done for one that may. */
static void test_hacheck_spool_post(void **state)
{
    struct afx *f = afx_new(2, 2);
    struct admin_routes rt = {.view = f->view};
    struct admin_reply out;
    struct http1_request req;
    const char *post = "POST /spool/svc.main/0/status HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 23\r\n\r\nstatus=down&reason=test";
    long hl = http1_parse_request(post, strlen(post), 16384, 65536, &req);
    assert_true(hl > 0);
    admin_route(&rt, &req, post + hl, false, "192.0.2.9:5555", &out);
    assert_int_equal(out.status, 403);
    assert_memory_equal(out.body, "remote spool changes are not enabled", out.len);
    free(out.body);
    assert_int_equal(f->spool.n, 0);
    admin_route(&rt, &req, post + hl, true, "127.0.0.1:5555", &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.len, 0);
    free(out.body);
    assert_non_null(spool_find(&f->spool, "svc.main", ev_now(f->loop)));
    assert_null(spool_find(&f->spool, "svc.canary", ev_now(f->loop)));
    /* without an endpoint behind it (no loop), a live check is not started */
    const char *get = "GET /http/x/1/y HTTP/1.1\r\nHost: x\r\n\r\n";
    hl = http1_parse_request(get, strlen(get), 16384, 65536, &req);
    admin_route(&rt, &req, get + hl, false, "127.0.0.1:5555", &out);
    assert_int_equal(out.status, 503);
    free(out.body);
    status_cache_clear(&rt.health);
    afx_free(f);
}

/* A live hacheck check answers later: a request pipelined behind it waits,
 * answers stay in order; a client that half-closes after asking still gets
 * its answer; one that goes away cancels the check. */
static void test_live_check_in_order(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    struct resp r[3];
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    char req[256];
    snprintf(req, sizeof(req),
             "GET /tcp/svc.other/%d HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n"
             "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
             ntohs(sin.sin_port));

    struct cli *c = cli_new(f);
    cli_sends(c, req);
    assert_int_equal(pump(c, 2, 5.0, r, 3, NULL), 2);
    assert_int_equal(r[0].status, 200);
    assert_true(r[0].body_len > 10 && memcmp(r[0].body, "Connected in", 12) == 0);
    assert_int_equal(r[1].status, 200);
    assert_true(has(&r[1], "\"status\":\"up\""));
    cli_free(c);

    /* half-close right after the request (printf ... | nc) */
    c = cli_new(f);
    snprintf(req, sizeof(req),
             "GET /tcp/svc.other/%d HTTP/1.1\r\nHost: x\r\n"
             "Pragma: no-cache\r\n\r\n",
             ntohs(sin.sin_port));
    cli_sends(c, req);
    shutdown(c->fd, SHUT_WR);
    assert_int_equal(pump(c, -1, 5.0, r, 3, NULL), 1);
    assert_int_equal(r[0].status, 200);
    assert_true(c->eof);
    cli_free(c);

    /* gone before the answer: nothing breaks, the endpoint answers others */
    c = cli_new(f);
    cli_sends(c, req);
    cli_free(c);
    afx_spin(f->loop, 0.1);
    c = cli_new(f);
    struct resp a = ask(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(a.status, 200);
    cli_free(c);
    close(lfd);
    afx_free(f);
}

static void test_form_decode(void **state)
{
    char out[16];
    assert_int_equal(admin_route_form_decode("a+b%20c%2Fd", 11, out, sizeof(out)), 7);
    assert_string_equal(out, "a b c/d");
    assert_int_equal(admin_route_form_decode("%4", 2, out, sizeof(out)), -1);
    assert_int_equal(admin_route_form_decode("%g0", 3, out, sizeof(out)), -1);
    assert_int_equal(admin_route_form_decode("%00", 3, out, sizeof(out)), -1);
    assert_int_equal(admin_route_form_decode("0123456789abcdef", 16, out, sizeof(out)), -1);
    assert_int_equal(admin_route_form_decode("", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_allow_list_and_errors(void **state)
{
    char *allow[] = {"10.0.0.0/8", "fd00::/8"};
    struct afx *f = fx_new(NULL, allow, 2);
    /* loopback keeps its right with an allow list */
    struct cli *c = cli_new(f);
    struct resp r = ask(c, "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.status, 200);
    assert_true(afx_drained(f));
    cli_free(c);

    char err[256];
    struct admin_limits lim = {16384, 65536, 10, 16};
    char *bad_allow[] = {"10.0.0.1/8"};
    assert_null(admin_new(f->loop, &f->view, "127.0.0.1:0", bad_allow, 1, &lim, err, sizeof(err)));
    assert_non_null(strstr(err, "10.0.0.1/8"));
    assert_null(admin_new(f->loop, &f->view, "127.0.0.1", NULL, 0, &lim, err, sizeof(err)));
    assert_non_null(strstr(err, "PORT"));
    /* the port is taken */
    char taken[32];
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", f->port);
    assert_null(admin_new(f->loop, &f->view, taken, NULL, 0, &lim, err, sizeof(err)));
    assert_non_null(strstr(err, "bind"));
    admin_free(NULL);
    afx_free(f);
}

static void test_ipv6(void **state)
{
    struct afx *f = fx_new(NULL, NULL, 0);
    char err[256];
    struct admin_limits lim = {16384, 65536, 10, 16};
    struct admin *a6 = admin_new(f->loop, &f->view, "[::1]:0", NULL, 0, &lim, err, sizeof(err));
    if (!a6) {
        afx_free(f);
        skip(); /* no IPv6 loopback in this sandbox */
    }
    struct cli *c = cli_new_at(f, AF_INET6, admin_port(a6));
    struct resp r = ask(c, "POST /drain HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.status, 200); /* ::1 is loopback */
    cli_free(c);
    admin_free(a6);
    afx_free(f);
}

int main(void)
{
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_and_routes),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_pipelining_backpressure),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_431_while_sending),
        cmocka_unit_test(test_slow_client),
        cmocka_unit_test(test_max_conns),
        cmocka_unit_test(test_drain_undrain),
        cmocka_unit_test(test_forbidden_peer),
        cmocka_unit_test(test_hacheck_spool_post),
        cmocka_unit_test(test_live_check_in_order),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_allow_list_and_errors),
        cmocka_unit_test(test_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
