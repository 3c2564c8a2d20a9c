/* Keep-alive (proto/httpc_pool) against a small real HTTP/1.1 server in the
 * test's own libev loop that counts the connections it accepts, and, for
 * https, a real OpenSSL server in a child process that accepts exactly one
 * connection (tests/fixtures/proto/tls_peer.h): a second connection there
 * would never be answered. Every case goes over loopback TCP. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "proto/httpc.h"
#include "proto/httpc_pool.h"
#include "proto/tls.h"
#include "tests/test_listen.h"
#include "tests/test_loop_util.h"
#include "tests/fixtures/proto/tls_peer.h"

/* ---- the server ---------------------------------------------------------- */

#define SRV_MAX 16

/* How the server drops a request instead of answering it. */
enum drop {
    DROP_CLOSE,   /* read it, close without a byte (FIN) */
    DROP_RESET,   /* read it, close with a RST */
    DROP_PARTIAL, /* read it, send part of a head, close */
};

struct srv;

struct sconn {
    struct srv *s;
    int fd;
    ev_io io;
    char buf[8192];
    size_t len;
    int served; /* requests answered on this connection */
};

struct srv {
    struct ev_loop *loop;
    int lfd, port;
    ev_io accept_io;
    int accepts, requests, peer_closes;
    const char *resp; /* answer to every request */
    int drop_nth;     /* > 0: the nth request on each connection is dropped */
    enum drop drop;
    char last_req[2048];
    struct sconn conns[SRV_MAX];
};

static const char resp_len[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
static const char resp_chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";

static void sconn_close(struct sconn *c, bool reset)
{
    if (c->fd < 0)
        return;
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    ev_io_stop(c->s->loop, &c->io);
    close(c->fd);
    c->fd = -1;
}

/* A whole request: head and the Content-Length it declares. Its length, or
 * 0 while incomplete. */
static size_t request_len(const struct sconn *c)
{
    const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->buf) + 4, body = 0;
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end)
        body = (size_t)atol(cl + 17);
    return c->len >= head + body ? head + body : 0;
}

static void sconn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sconn *c = w->data;
    struct srv *s = c->s;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    size_t rl;

    if (n <= 0) {
        s->peer_closes++;
        sconn_close(c, false);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    while ((rl = request_len(c)) > 0) {
        snprintf(s->last_req, sizeof(s->last_req), "%.*s", (int)rl, c->buf);
        memmove(c->buf, c->buf + rl, c->len - rl);
        c->len -= rl;
        s->requests++;
        if (c->served + 1 == s->drop_nth) {
            if (s->drop == DROP_PARTIAL)
                assert_int_equal(write(c->fd, "HTTP/1.1 2", 10), 10);
            sconn_close(c, s->drop == DROP_RESET);
            return;
        }
        c->served++;
        assert_int_equal(write(c->fd, s->resp, strlen(s->resp)), (ssize_t)strlen(s->resp));
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct srv *s = w->data;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    s->accepts++;
    for (int i = 0; i < SRV_MAX; i++) {
        struct sconn *c = &s->conns[i];
        if (c->fd >= 0)
            continue;
        memset(c, 0, sizeof(*c));
        c->s = s;
        c->fd = fd;
        ev_io_init(&c->io, sconn_cb, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        return;
    }
    fail_msg("too many connections");
}

static void srv_init(struct srv *s, struct ev_loop *loop, const char *resp)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->resp = resp;
    for (int i = 0; i < SRV_MAX; i++)
        s->conns[i].fd = -1;
    s->lfd = test_listen("127.0.0.1", 16, &s->port);
    ev_io_init(&s->accept_io, accept_cb, s->lfd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
}

/* The server closes every connection it holds (an idle timeout of its own). */
static void srv_close_all(struct srv *s)
{
    for (int i = 0; i < SRV_MAX; i++)
        sconn_close(&s->conns[i], false);
}

static void srv_free(struct srv *s)
{
    srv_close_all(s);
    ev_io_stop(s->loop, &s->accept_io);
    close(s->lfd);
}

/* ---- the client ---------------------------------------------------------- */

struct outcome {
    int status;
    char error[200];
    char body[64];
    enum httpc_error kind;
    int *done; /* counts finished requests */
    int want;  /* break the loop when *done reaches it */
    struct ev_loop *loop;
};

static void on_result(void *arg, const struct httpc_result *res)
{
    struct outcome *o = arg;

    o->status = res->status;
    o->kind = res->error_kind;
    snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
    snprintf(o->body, sizeof(o->body), "%.*s", (int)res->body_len, res->body);
    if (++*o->done >= o->want)
        ev_break(o->loop, EVBREAK_ALL);
}

static struct httpc_request req_to(int port, struct httpc_pool *pool)
{
    struct httpc_request r = {
        .host = "127.0.0.1",
        .port = port,
        .method = "POST",
        .target = "/v3/lease/keepalive",
        .body = "{\"ID\":\"1\"}",
        .body_len = 10,
        .timeout_ms = 5000,
        .max_body = 4096,
        .pool = pool,
    };
    return r;
}

/* Runs n requests at once; waits for all. */
static void run_requests(struct ev_loop *loop, const struct httpc_request *req, int n,
                         struct outcome *o)
{
    int done = 0;

    for (int i = 0; i < n; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        o[i].done = &done;
        o[i].want = n;
        o[i].loop = loop;
        assert_non_null(httpc_start(loop, req, on_result, &o[i]));
    }
    run_until_done(loop, 20.0);
    assert_int_equal(done, n);
}

static void one(struct ev_loop *loop, const struct httpc_request *req, struct outcome *o)
{
    run_requests(loop, req, 1, o);
}

/* Lets the loop run for s seconds (idle watchers and timers do their work). */
static void spin(struct ev_loop *loop, double s)
{
    run_until(loop, NULL, NULL, s, NULL);
}

static int setup(void **state)
{
    *state = ev_loop_new(EVFLAG_AUTO);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    ev_loop_destroy(*state);
    return 0;
}

/* ---- cases --------------------------------------------------------------- */

/* N requests one after the other: one connection; without a pool, one each
 * and "Connection: close" as before. */
static void test_sequential_one_connection(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);
    struct httpc_request req;

    srv_init(&s, loop, resp_len);
    req = req_to(s.port, pool);
    for (int i = 0; i < 10; i++) {
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "hello");
    }
    assert_int_equal(s.accepts, 1);
    assert_int_equal(s.requests, 10);
    assert_null(strcasestr(s.last_req, "Connection:"));
    assert_int_equal(httpc_pool_idle(pool), 1);
    struct httpc_pool_stats st = httpc_pool_stats(pool);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.reused, 9);
    assert_int_equal(st.retried, 0);

    req.pool = NULL;
    for (int i = 0; i < 3; i++) {
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
    }
    assert_int_equal(s.accepts, 4);
    assert_non_null(strstr(s.last_req, "Connection: close\r\n"));
    httpc_pool_free(pool);
    spin(loop, 0.05);
    assert_int_equal(s.peer_closes, 4); /* freeing the pool closed its connection */
    srv_free(&s);
}

static void test_chunked_reused(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, resp_chunked);
    struct httpc_request req = req_to(s.port, pool);
    for (int i = 0; i < 4; i++) {
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "hello");
    }
    assert_int_equal(s.accepts, 1);
    httpc_pool_free(pool);
    srv_free(&s);
}

/* The server closes the idle connection: noticed while idle (the loop ran)
 * or when the next request takes it (it did not): either way the next
 * request goes out on a new connection, without an error. */
static void test_server_closed_idle(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, resp_len);
    struct httpc_request req = req_to(s.port, pool);
    one(loop, &req, &o);
    assert_int_equal(httpc_pool_idle(pool), 1);
    srv_close_all(&s);
    spin(loop, 0.05);
    assert_int_equal(httpc_pool_idle(pool), 0); /* the watcher saw the close */
    one(loop, &req, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(s.accepts, 2);

    srv_close_all(&s);
    usleep(20 * 1000); /* the FIN is there, the loop has not run */
    one(loop, &req, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(s.accepts, 3);
    assert_int_equal(httpc_pool_stats(pool).retried, 0);
    httpc_pool_free(pool);
    srv_free(&s);
}

/* The server drops the connection as the reused request arrives (it had
 * just timed it out): the request is sent again on a fresh connection, once,
 * and the caller sees only the answer. FIN and RST alike. */
static void test_retry_on_reused(void **state)
{
    struct ev_loop *loop = *state;
    enum drop how[] = {DROP_CLOSE, DROP_RESET};

    for (size_t k = 0; k < 2; k++) {
        struct srv s;
        struct outcome o;
        struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

        srv_init(&s, loop, resp_len);
        s.drop_nth = 2;
        s.drop = how[k];
        struct httpc_request req = req_to(s.port, pool);
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "hello");
        assert_int_equal(s.accepts, 2);
        assert_int_equal(s.requests, 3); /* the dropped one, then again */
        assert_int_equal(httpc_pool_stats(pool).retried, 1);
        /* The fresh connection is kept like any other. */
        assert_int_equal(httpc_pool_idle(pool), 1);
        httpc_pool_free(pool);
        srv_free(&s);
    }
}

/* A byte of the answer arrived: the failure is final, not retried (the
 * server got the request and began to answer). And a fresh connection that
 * fails is never retried. */
static void test_no_retry_after_answer_began(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, resp_len);
    s.drop_nth = 2;
    s.drop = DROP_PARTIAL;
    struct httpc_request req = req_to(s.port, pool);
    one(loop, &req, &o);
    one(loop, &req, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "connection closed in response head");
    assert_int_equal(s.accepts, 1);
    assert_int_equal(s.requests, 2);
    assert_int_equal(httpc_pool_stats(pool).retried, 0);
    assert_int_equal(httpc_pool_idle(pool), 0);

    s.drop_nth = 1; /* every fresh connection: dropped unanswered */
    s.drop = DROP_CLOSE;
    one(loop, &req, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.kind, HTTPC_ERR_CLOSED);
    assert_string_equal(o.error, "connection closed without response");
    assert_int_equal(s.accepts, 2);
    assert_int_equal(httpc_pool_stats(pool).retried, 0);
    httpc_pool_free(pool);
    srv_free(&s);
}

/* Answers after which the connection must not be reused: the server said
 * "Connection: close" (and keeps it open anyway), HTTP/1.0 without
 * keep-alive, a body delimited by the close, bytes past the end. */
static void test_not_reused(void **state)
{
    struct ev_loop *loop = *state;
    const char *resps[] = {
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n",
    };

    for (size_t k = 0; k < sizeof(resps) / sizeof(resps[0]); k++) {
        struct srv s;
        struct outcome o;
        struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

        srv_init(&s, loop, resps[k]);
        struct httpc_request req = req_to(s.port, pool);
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "hello");
        assert_int_equal(httpc_pool_idle(pool), 0);
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_int_equal(s.accepts, 2);
        httpc_pool_free(pool);
        srv_free(&s);
    }
}

/* No Content-Length, no chunking: the body ends with the connection, which
 * the server closes; nothing is kept. */
static void test_close_delimited_not_kept(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, "HTTP/1.1 200 OK\r\n\r\nhello");
    struct httpc_request req = req_to(s.port, pool);
    int done = 0;
    memset(&o, 0, sizeof(o));
    o.done = &done;
    o.want = 1;
    o.loop = loop;
    assert_non_null(httpc_start(loop, &req, on_result, &o));
    spin(loop, 0.1);
    assert_int_equal(done, 0); /* waits for the end of the body */
    srv_close_all(&s);
    run_until_done(loop, 5);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_int_equal(httpc_pool_idle(pool), 0);
    httpc_pool_free(pool);
    srv_free(&s);
}

/* At most max_idle idle connections per endpoint; one key per endpoint. */
static void test_limit_per_endpoint(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s, t;
    struct outcome o[3];
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, resp_len);
    srv_init(&t, loop, resp_len);
    struct httpc_request req = req_to(s.port, pool), req2 = req_to(t.port, pool);
    run_requests(loop, &req, 3, o);
    for (int i = 0; i < 3; i++)
        assert_int_equal(o[i].status, 200);
    assert_int_equal(s.accepts, 3);
    assert_int_equal(httpc_pool_idle(pool), 2);
    spin(loop, 0.05);
    assert_int_equal(s.peer_closes, 1);
    run_requests(loop, &req2, 1, o);
    assert_int_equal(httpc_pool_idle(pool), 3);
    run_requests(loop, &req, 3, o); /* two reused, one new */
    assert_int_equal(s.accepts, 4);
    assert_int_equal(t.accepts, 1);
    assert_int_equal(httpc_pool_idle(pool), 3);
    httpc_pool_free(pool);
    srv_free(&s);
    srv_free(&t);
}

/* An idle connection is closed after the idle timeout. */
static void test_idle_timeout(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 0.2);

    srv_init(&s, loop, resp_len);
    struct httpc_request req = req_to(s.port, pool);
    one(loop, &req, &o);
    spin(loop, 0.1);
    assert_int_equal(httpc_pool_idle(pool), 1);
    one(loop, &req, &o); /* reuse restarts the clock */
    assert_int_equal(s.accepts, 1);
    spin(loop, 0.1);
    assert_int_equal(httpc_pool_idle(pool), 1);
    spin(loop, 0.3);
    assert_int_equal(httpc_pool_idle(pool), 0);
    assert_int_equal(s.peer_closes, 1);
    one(loop, &req, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(s.accepts, 2);
    httpc_pool_free(pool);
    srv_free(&s);
}

/* A flush closes the idle connections and those in flight when they end;
 * max_idle 0 keeps nothing. */
static void test_flush(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    srv_init(&s, loop, resp_len);
    struct httpc_request req = req_to(s.port, pool);
    one(loop, &req, &o);
    httpc_pool_flush(pool);
    assert_int_equal(httpc_pool_idle(pool), 0);
    int done = 0;
    memset(&o, 0, sizeof(o));
    o.done = &done;
    o.want = 1;
    o.loop = loop;
    assert_non_null(httpc_start(loop, &req, on_result, &o));
    httpc_pool_flush(pool); /* while it is in flight */
    run_until_done(loop, 5);
    assert_int_equal(o.status, 200);
    assert_int_equal(httpc_pool_idle(pool), 0);
    assert_int_equal(s.accepts, 2);
    httpc_pool_free(pool);

    pool = httpc_pool_new(loop, 0, 30);
    req.pool = pool;
    one(loop, &req, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(httpc_pool_idle(pool), 0);
    httpc_pool_free(pool);
    httpc_pool_free(NULL);
    srv_free(&s);
}

/* https: one handshake for N requests. The peer accepts one connection and
 * answers requests on it until the end; a second connection would hang. */
static void script_https_keepalive(struct tls_peer *p, int fd)
{
    SSL *ssl = peer_tls_accept(p, fd);

    while (ssl && peer_read_request(p, ssl))
        if (!peer_write_all(ssl, p->resp, p->resp_len))
            break;
}

static void test_https_one_handshake(void **state)
{
    struct ev_loop *loop = *state;
    struct tls_peer p = {.resp = resp_len, .resp_len = sizeof(resp_len) - 1};
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);

    tls_peer_start(&p, script_https_keepalive);
    struct httpc_request req = req_to(p.port, pool);
    req.tls = true;
    req.timeout_ms = 3000;
    for (int i = 0; i < 5; i++) {
        one(loop, &req, &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "hello");
        spin(loop, 0.02); /* idle a moment: TLS 1.3 tickets may arrive */
    }
    assert_string_equal(tls_peer_report(&p), "sni=(none)");
    for (int i = 0; i < 5; i++)
        assert_string_equal(tls_peer_report(&p), "got=10");
    struct httpc_pool_stats st = httpc_pool_stats(pool);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.reused, 4);
    assert_int_equal(httpc_pool_idle(pool), 1);
    httpc_pool_free(pool);
    tls_peer_end(&p);
}

/* etcds:// verifies the server through its owner's context, which SIGHUP
 * replaces (and frees) while a request may be connecting: the request
 * holds its own reference (ASan would see a use after free). */
static void test_https_context_freed_in_flight(void **state)
{
    struct ev_loop *loop = *state;
    struct tls_peer p = {.resp = resp_len, .resp_len = sizeof(resp_len) - 1};
    struct outcome o;
    struct httpc_pool *pool = httpc_pool_new(loop, 2, 30);
    char err[256] = "";
    int done = 0;

    /* the peer's self-signed certificate is its own CA, for its own name */
    struct tls_ctx *ctx = tls_ctx_new(tls_peer_cert, NULL, NULL, NULL, err, sizeof(err));
    assert_non_null(ctx);
    tls_peer_start(&p, script_https_keepalive);
    struct httpc_request req = req_to(p.port, pool);
    req.tls = true;
    req.tls_ctx = ctx;
    req.tls_name = "not-the-name.invalid";
    req.timeout_ms = 3000;
    memset(&o, 0, sizeof(o));
    o.done = &done;
    o.want = 1;
    o.loop = loop;
    assert_non_null(httpc_start(loop, &req, on_result, &o));
    tls_ctx_free(ctx); /* the owner moved on */
    run_until_done(loop, 10);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_string_equal(tls_peer_report(&p), "sni=not-the-name.invalid");
    assert_int_equal(httpc_pool_idle(pool), 1);
    httpc_pool_free(pool); /* the kept TLS session outlived the context too */
    tls_peer_end(&p);
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    return tls_peer_setup() ? 0 : -1;
}

static int group_teardown(void **state)
{
    tls_peer_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sequential_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closed_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_retry_after_answer_began, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delimited_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_per_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https_one_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https_context_freed_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
