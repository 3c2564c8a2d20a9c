/* httpc against small real servers run by the test in the same libev loop
 * (https: test_httpc_tls.c): every case goes over a loopback TCP socket. Deadlines are checked from
 * below only (never fired early); "not at the deadline" uses deadlines far longer than the cases
 * take. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "proto/httpc.h"
#include "tests/failalloc.h"
#include "tests/test_listen.h"
#include "tests/test_loop_util.h"
#include "tests/httpc_outcome.h"

/* ---- a tiny scripted server --------------------------------------------- */

enum srv_mode {
    SRV_RESPOND,     /* read the request, write `resp`, then close unless keep_open */
    SRV_HANG,        /* accept, never read or answer */
    SRV_CLOSE_NOW,   /* accept and close at once */
    SRV_RESET_AFTER, /* read the request, then reset the connection */
    SRV_NOREAD_RST,  /* never read; reset once 64 KiB of request wait unread */
};

#define SRV_MAX_CONNS 64

struct srv {
    struct ev_loop *loop;
    int lfd;
    int port;
    ev_io accept_w;
    enum srv_mode mode;
    const char *resp;
    size_t resp_len;
    bool keep_open; /* keep the connection open after writing */
    bool drip;      /* write one byte per millisecond */
    char req[8192]; /* the last request received */
    size_t req_len;
    int accepted;
    struct conn *conns;
};

/* Connections come from a static pool, not malloc: the out-of-memory cases
 * make the test process's own allocations fail too. */
struct conn {
    struct srv *s;
    bool used;
    int fd;
    ev_io io;
    ev_timer drip;
    size_t off;
    bool writing;
    char req[8192];
    size_t req_len;
    struct conn *next;
};

static struct conn conn_pool[SRV_MAX_CONNS];

static void conn_close(struct conn *c)
{
    ev_io_stop(c->s->loop, &c->io);
    ev_timer_stop(c->s->loop, &c->drip);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Closes with a TCP RST instead of a FIN. */
static void conn_reset(struct conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    conn_close(c);
}

static void conn_write(struct conn *c, size_t max)
{
    struct srv *s = c->s;

    while (c->off < s->resp_len && max > 0) {
        size_t want = s->resp_len - c->off;
        ssize_t n;

        if (want > max)
            want = max;
        n = send(c->fd, s->resp + c->off, want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            conn_close(c);
            return;
        }
        c->off += (size_t)n;
        max -= (size_t)n;
    }
    if (c->off >= s->resp_len) {
        ev_io_stop(s->loop, &c->io);
        ev_timer_stop(s->loop, &c->drip);
        if (!s->keep_open)
            conn_close(c);
    }
}

/* Whole request in? Head plus Content-Length bytes. */
static bool request_complete(const struct conn *c)
{
    const char *end = memmem(c->req, c->req_len, "\r\n\r\n", 4);
    const char *cl;
    size_t head;

    if (!end)
        return false;
    head = (size_t)(end - c->req) + 4;
    cl = strcasestr(c->req, "content-length:");
    if (cl && cl < end)
        return c->req_len >= head + (size_t)atol(cl + 15);
    return true;
}

static void drip_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_write(w->data, 1);
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    struct srv *s = c->s;

    if (s->mode == SRV_NOREAD_RST) {
        int queued = 0;

        /* readable, and left unread */
        if (ioctl(c->fd, FIONREAD, &queued) == 0 && queued >= 65536)
            conn_reset(c);
        return;
    }
    if (c->writing) {
        conn_write(c, SIZE_MAX);
        return;
    }
    ssize_t n = recv(c->fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len, 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        conn_close(c);
        return;
    }
    c->req_len += (size_t)n;
    c->req[c->req_len] = '\0';
    if (!request_complete(c))
        return;
    memcpy(s->req, c->req, c->req_len + 1);
    s->req_len = c->req_len;
    if (s->mode == SRV_RESET_AFTER) {
        conn_reset(c);
        return;
    }
    c->writing = true;
    ev_io_stop(loop, &c->io);
    if (s->drip) {
        ev_timer_start(loop, &c->drip);
        return;
    }
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(loop, &c->io);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct srv *s = w->data;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct conn *c = NULL;

    if (fd < 0)
        return;
    s->accepted++;
    if (s->mode == SRV_CLOSE_NOW) {
        close(fd);
        return;
    }
    for (size_t i = 0; i < SRV_MAX_CONNS && !c; i++)
        if (!conn_pool[i].used)
            c = &conn_pool[i];
    assert_non_null(c);
    memset(c, 0, sizeof(*c));
    c->used = true;
    c->s = s;
    c->fd = fd;
    c->next = s->conns;
    s->conns = c;
    ev_io_init(&c->io, conn_cb, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->drip, drip_cb, 0.001, 0.001);
    c->drip.data = c;
    if (s->mode != SRV_HANG)
        ev_io_start(loop, &c->io);
}

static void srv_init(struct srv *s, struct ev_loop *loop, const char *bind_addr)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->lfd = test_listen(bind_addr, 128, &s->port);
    ev_io_init(&s->accept_w, accept_cb, s->lfd, EV_READ);
    s->accept_w.data = s;
    ev_io_start(loop, &s->accept_w);
}

static void srv_respond(struct srv *s, const char *resp, size_t len)
{
    s->mode = SRV_RESPOND;
    s->resp = resp;
    s->resp_len = len;
}

static void srv_free(struct srv *s)
{
    ev_io_stop(s->loop, &s->accept_w);
    close(s->lfd);
    while (s->conns) {
        struct conn *c = s->conns;
        s->conns = c->next;
        conn_close(c);
        c->used = false;
    }
}

/* ---- cases ---------------------------------------------------------------- */

/* One request to a server answering one way, and what must come of it. */
struct answer_case {
    const char *name;
    const char *resp;
    size_t resp_len;    /* 0: strlen(resp) */
    enum srv_mode mode; /* SRV_RESPOND, SRV_HANG or SRV_RESET_AFTER */
    bool keep_open;     /* then the framing (or the deadline) must end it */
    bool drip;
    const char *method; /* NULL: GET */
    int timeout_ms;     /* 0: basic_req's, never reached */
    int status;
    const char *want; /* the body when status != 0, else the error */
    enum httpc_error kind;
    bool no_body; /* an error with no body bytes kept */
    void (*also)(const struct srv *s, const struct outcome *o);
};

/* Runs c (the answer's bytes resp, resp_len) and checks every outcome
 * field it names; fail_msg names the row. */
static void answer_check(struct ev_loop *loop, const struct answer_case *c)
{
    size_t len = c->resp_len ? c->resp_len : c->resp ? strlen(c->resp) : 0;
    char line[64];
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, c->resp, len);
    s.mode = c->mode;
    s.keep_open = c->keep_open;
    s.drip = c->drip;
    struct httpc_request r = basic_req(s.port);
    if (c->method)
        r.method = c->method;
    if (c->timeout_ms)
        r.timeout_ms = c->timeout_ms;
    do_request(loop, &r, &o);
    if (o.status != c->status || strcmp(c->status ? o.body : o.error, c->want) != 0)
        fail_msg("%s: status %d, error \"%s\", body \"%.60s\"; want %d \"%s\"", c->name, o.status,
                 o.error, o.body, c->status, c->want);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(o.stage, HTTPC_STAGE_RECEIVE); /* the request went out */
    if (c->status) {
        assert_string_equal(o.error, "");
        assert_int_equal(o.body_len, strlen(c->want));
    } else if (o.kind != c->kind) {
        fail_msg("%s: error kind %d, want %d", c->name, (int)o.kind, (int)c->kind);
    }
    if (c->no_body)
        assert_int_equal(o.body_len, 0);
    if (c->timeout_ms) { /* at the deadline, not before */
        assert_true(o.wall_ms >= c->timeout_ms - 5);
        assert_true(o.elapsed_ms >= c->timeout_ms - 5 && o.elapsed_ms < 10000);
    }
    assert_true(o.wall_ms < 10000); /* by the framing or the error, never the default deadline */
    if (c->mode != SRV_HANG) {
        snprintf(line, sizeof(line), "%s /status HTTP/1.1\r\n", c->method ? c->method : "GET");
        assert_true(strncmp(s.req, line, strlen(line)) == 0);
    }
    if (c->also)
        c->also(&s, &o);
    free(o.body);
    srv_free(&s);
}

static void test_answer(void **state)
{
    const struct loop_row *lr = *state;

    answer_check(lr->loop, lr->row);
}

/* A plain GET on the wire: Host with the port, a close, no body declared. */
static void check_plain_get(const struct srv *s, const struct outcome *o)
{
    char host[64];

    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s->port);
    assert_non_null(strstr(s->req, host));
    assert_non_null(strstr(s->req, "\r\nConnection: close\r\n"));
    assert_null(strcasestr(s->req, "content-length"));
}

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_BODY                                                                               \
    "5;name=val\r\nhello\r\n7\r\n, world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n"
#define CL100_PARTIAL "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"

static const struct answer_case answer_cases[] = {
    /* done by length, not by close */
    {"test_content_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", .keep_open = true,
     .status = 200, .want = "hello", .also = check_plain_get},
    /* the last chunk ends it; then the same, one byte per write: every
     * parser state sees split input */
    {"test_chunked", CHUNKED_HEAD CHUNKED_BODY, .keep_open = true, .status = 200,
     .want = "hello, world0123456789"},
    {"test_chunked_dripped", CHUNKED_HEAD CHUNKED_BODY, .keep_open = true, .drip = true,
     .status = 200, .want = "hello, world0123456789"},
    {"test_chunked_malformed", CHUNKED_HEAD "zz\r\nhello\r\n0\r\n\r\n", .keep_open = true,
     .want = "malformed chunked body", .kind = HTTPC_ERR_PROTOCOL},
    {"test_close_delimited", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close",
     .status = 200, .want = "body until close"},
    {"test_503", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown", .status = 503,
     .want = "down"},
    {"test_interim_100",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
     .keep_open = true, .status = 201, .want = "ok"},
    /* garbage must fail by itself, not by close or deadline */
    {"test_garbage", "\x01\x02\xff garbage garbage\r\n\r\n", .keep_open = true,
     .want = "malformed response head", .kind = HTTPC_ERR_PROTOCOL, .no_body = true},
    {"test_hang_deadline", .mode = SRV_HANG, .timeout_ms = 300, .want = "timeout after 300 ms",
     .kind = HTTPC_ERR_TIMEOUT},
    /* head arrives, then the server stalls mid-body: still the deadline */
    {"test_stall_mid_body", CL100_PARTIAL, .keep_open = true, .timeout_ms = 200,
     .want = "timeout after 200 ms", .kind = HTTPC_ERR_TIMEOUT},
    {"test_closed_mid_body", CL100_PARTIAL, .want = "connection closed mid-body",
     .kind = HTTPC_ERR_CUT},
    /* bytes after a Content-Length body (a misbehaving server) are not body */
    {"test_length_then_extra", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
     .keep_open = true, .status = 200, .want = "hello"},
    /* a HEAD answer and a 304 carry a Content-Length but no body: done at
     * the head, not waiting for body bytes that never come */
    {"test_head_answer", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", .keep_open = true,
     .method = "HEAD", .status = 200, .want = ""},
    {"test_not_modified", "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
     .keep_open = true, .status = 304, .want = ""},
    /* 101 would switch protocols, which we never ask for */
    {"test_unexpected_101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
     .keep_open = true, .want = "unexpected status 101", .kind = HTTPC_ERR_PROTOCOL},
    {"test_closed_in_head", "HTTP/1.1 200 OK\r\nContent-Le",
     .want = "connection closed in response head", .kind = HTTPC_ERR_CLOSED},
    /* the server reads the whole request, then closes without a word (a
     * FIN: nothing was left unread), or resets the connection */
    {"test_closed_after_request", "", .want = "connection closed without response",
     .kind = HTTPC_ERR_CLOSED},
    {"test_reset_after_request", .mode = SRV_RESET_AFTER, .want = "recv: Connection reset by peer",
     .kind = HTTPC_ERR_RECV},
};

/* A server that answers as resp says, the connection kept open: the
 * framing must end it; status 0 means the error is expected. */
static void expect_answer(struct ev_loop *loop, const char *resp, size_t resp_len, int status,
                          const char *body_or_error)
{
    struct answer_case c = {.name = "expect_answer",
                            .resp = resp,
                            .resp_len = resp_len,
                            .keep_open = true,
                            .status = status,
                            .want = body_or_error,
                            .kind = HTTPC_ERR_PROTOCOL};

    answer_check(loop, &c);
}

static void test_close_immediately(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    s.mode = SRV_CLOSE_NOW;
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(o.status, 0);
    /* Depending on timing the close is seen as EOF or as a reset of our send. */
    assert_true(strcmp(o.error, "connection closed without response") == 0 ||
                strstr(o.error, "reset") != NULL || strstr(o.error, "pipe") != NULL);
    assert_true(o.wall_ms < 10000);
    free(o.body);
    srv_free(&s);
}

static void test_refused(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o;
    struct httpc_request r = basic_req(test_dead_port());

    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "connect: Connection refused");
    assert_int_equal(o.kind, HTTPC_ERR_CONNECT);
    assert_int_equal(o.sys_errno, ECONNREFUSED);
    assert_int_equal(o.stage, HTTPC_STAGE_CONNECT);
    assert_true(o.wall_ms < 10000);
    free(o.body);
}

static void test_bad_address_async(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o;

    for (size_t i = 0; i < sizeof(test_bad_targets) / sizeof(test_bad_targets[0]); i++) {
        struct httpc_request r = basic_req(test_bad_targets[i].port);

        r.host = test_bad_targets[i].host;
        do_request(loop, &r, &o); /* asserts the callback did not run inside start */
        assert_int_equal(o.status, 0);
        assert_string_equal(o.error, test_bad_targets[i].error);
        free(o.body);
    }
}

static void test_oversized_body(void **state)
{
    struct ev_loop *loop = *state;
    const size_t body = 1 << 20;
    char head[128];
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
    char *resp = malloc((size_t)hl + body);
    struct srv s;
    struct outcome o;

    memcpy(resp, head, (size_t)hl);
    for (size_t i = 0; i < body; i++)
        resp[hl + i] = (char)('a' + i % 26);
    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, (size_t)hl + body);
    s.keep_open = true; /* 200 only once all 1 MiB was read */
    struct httpc_request r = basic_req(s.port);
    r.max_body = 1000;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, 1000);
    assert_int_equal(strlen(o.body), 1000);
    assert_memory_equal(o.body, resp + hl, 1000);
    free(o.body);
    srv_free(&s);
    free(resp);
}

static void test_post_body(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    r.method = "POST";
    r.target = "/v3/kv/put";
    r.host_header = "etcd";
    r.extra_headers = "Content-Type: application/json\r\nX-A: b\r\n";
    r.body = "{\"key\":\"a\"}";
    r.body_len = strlen(r.body);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "{}");
    assert_true(strncmp(s.req, "POST /v3/kv/put HTTP/1.1\r\nHost: etcd\r\n", 38) == 0);
    assert_non_null(strstr(s.req, "\r\nContent-Type: application/json\r\nX-A: b\r\n"));
    assert_non_null(strstr(s.req, "\r\nContent-Length: 11\r\n"));
    assert_non_null(strstr(s.req, "\r\n\r\n{\"key\":\"a\"}"));
    free(o.body);
    srv_free(&s);
}

static void test_ipv6(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
    struct srv s;
    struct outcome o;
    char host[64];
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (probe >= 0)
            close(probe);
        skip(); /* no ::1 in this environment */
    }
    close(probe);
    srv_init(&s, loop, "::1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true; /* 204 has no body: done at the head */
    struct httpc_request r = basic_req(s.port);
    r.host = "::1";
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 204);
    assert_int_equal(o.body_len, 0);
    snprintf(host, sizeof(host), "\r\nHost: [::1]:%d\r\n", s.port);
    assert_non_null(strstr(s.req, host));
    free(o.body);
    srv_free(&s);
}

/* A peer in another process streams a body without end as fast as it can:
 * the request still fails at its deadline and the loop stays responsive. */
static void test_endless_body(void **state)
{
    struct ev_loop *loop = *state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct loop_ticker t;
    struct outcome o;
    pid_t pid;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static char blob[65536];
        static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
        char req[4096];
        int fd = accept(lfd, NULL, NULL);

        memset(blob, 'x', sizeof(blob));
        if (fd < 0 || recv(fd, req, sizeof(req), 0) <= 0)
            _exit(1);
        if (send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) < 0)
            _exit(1);
        for (;;) /* until the client closes: EPIPE */
            if (send(fd, blob, sizeof(blob), MSG_NOSIGNAL) < 0)
                _exit(0);
    }
    close(lfd);
    loop_ticker_start(loop, &t);
    struct httpc_request r = basic_req(ntohs(a.sin_port));
    r.timeout_ms = 300;
    do_request(loop, &r, &o);
    ev_timer_stop(loop, &t.w);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 300 ms");
    assert_int_equal(o.kind, HTTPC_ERR_TIMEOUT);
    assert_int_equal(o.stage, HTTPC_STAGE_RECEIVE); /* the request went out */
    assert_true(o.wall_ms >= 295 && o.wall_ms < 10000);
    assert_true(t.ticks >= 5); /* other timers ran during the stream (30 when idle) */
    free(o.body);
}

struct cancel_ctx {
    struct httpc *c;
    struct outcome *o;
};

static void cancel_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cancel_ctx *cc = w->data;
    httpc_cancel(cc->c);
    cc->c = NULL;
}

static void test_cancel(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o = {0};
    struct cancel_ctx cc = {.o = &o};
    ev_timer t;

    srv_init(&s, loop, "127.0.0.1");
    s.mode = SRV_HANG;
    o.loop = loop;
    struct httpc_request r = basic_req(s.port);
    r.timeout_ms = 200;
    cc.c = httpc_start(loop, &r, on_result, &o);
    assert_non_null(cc.c);
    ev_timer_init(&t, cancel_cb, 0.05, 0.);
    t.data = &cc;
    ev_timer_start(loop, &t);
    run_until_done(loop, 0.5); /* well past the request's own deadline */
    assert_int_equal(o.calls, 0);
    assert_null(cc.c);

    /* Cancel with an error already queued (refused / bad address). */
    r = basic_req(80);
    r.host = "not-an-ip";
    struct httpc *c = httpc_start(loop, &r, on_result, &o);
    assert_non_null(c);
    httpc_cancel(c);
    run_until_done(loop, 0.1);
    assert_int_equal(o.calls, 0);
    httpc_cancel(NULL);
    srv_free(&s);
}

/* Many requests at once on one loop, each with its own answer. */
static void test_concurrent(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    enum { N = 50 };
    struct srv s;
    static struct outcome o[N];
    int done = 0;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        o[i].loop = NULL;
        assert_non_null(httpc_start(loop, &r, on_result, &o[i]));
    }
    /* on_result breaks the loop only when loop is set; poll until all done */
    for (int spin = 0; spin < 200 && done < N; spin++) {
        ev_run(loop, EVRUN_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += o[i].calls;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        if (o[i].status != 200)
            print_error("request %d: %s\n", i, o[i].error);
        assert_int_equal(o[i].status, 200);
        assert_string_equal(o[i].body, "abc");
        free(o[i].body);
    }
    srv_free(&s);
}

/* ---- framing edge cases ------------------------------------------------------ */

static void test_chunked_edge_cases(void **state)
{
    static const struct {
        const char *chunks;
        int status;
        const char *want;
    } cases[] = {
        /* accepted */
        {"5 ;a=b\r\nhello\r\n0;last\r\n\r\n", 200, "hello"}, /* extensions, on the last too */
        {"5\t;x\r\nhello\r\n0\r\n\r\n", 200, "hello"},
        {"5\nhello\n0\n\n", 200, "hello"},                         /* bare LFs throughout */
        {"5\r\nhello\n3\r\nabc\r\n0\r\n\r\n", 200, "helloabc"},    /* bare LF after data */
        {"5\r\nhello\r\n0\r\nX-T: 1\nY: 2\r\n\r\n", 200, "hello"}, /* trailers */
        {"a\r\n0123456789\r\n0\r\n\r\n", 200, "0123456789"},       /* lower-case hex */
        /* refused */
        {"FFFFFFFFFFFFFFFFF\r\n", 0, "malformed chunked body"}, /* size overflows 64 bits */
        {"5x\r\nhello\r\n0\r\n\r\n", 0, "malformed chunked body"},
        {"\r\nhello\r\n", 0, "malformed chunked body"},            /* no size */
        {"5\rX\nhello\r\n0\r\n\r\n", 0, "malformed chunked body"}, /* CR not before LF */
        {"5\r\nhelloX\r\n0\r\n\r\n", 0, "malformed chunked body"}, /* data overruns */
        {"5\r\nhello\rX0\r\n\r\n", 0, "malformed chunked body"},
    };
    struct ev_loop *loop = *state;
    char resp[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = snprintf(resp, sizeof(resp), CHUNKED_HEAD "%s", cases[i].chunks);
        expect_answer(loop, resp, (size_t)n, cases[i].status, cases[i].want);
    }
}

/* Extensions and trailers are skipped, but only up to 8 KiB. */
static void test_chunked_meta_limits(void **state)
{
    struct ev_loop *loop = *state;
    static char resp[16384];
    size_t n;

    n = (size_t)snprintf(resp, sizeof(resp), CHUNKED_HEAD "5;");
    memset(resp + n, 'e', 9000);
    n += 9000;
    n += (size_t)snprintf(resp + n, sizeof(resp) - n, "\r\nhello\r\n0\r\n\r\n");
    expect_answer(loop, resp, n, 0, "malformed chunked body");

    n = (size_t)snprintf(resp, sizeof(resp), CHUNKED_HEAD "5\r\nhello\r\n0\r\nX-Long: ");
    memset(resp + n, 't', 9000);
    n += 9000;
    n += (size_t)snprintf(resp + n, sizeof(resp) - n, "\r\n\r\n");
    expect_answer(loop, resp, n, 0, "malformed chunked body");

    /* just under the limit is fine */
    n = (size_t)snprintf(resp, sizeof(resp), CHUNKED_HEAD "5;");
    memset(resp + n, 'e', 8000);
    n += 8000;
    n += (size_t)snprintf(resp + n, sizeof(resp) - n, "\r\nhello\r\n0\r\n\r\n");
    expect_answer(loop, resp, n, 200, "hello");
}

static void test_head_too_large(void **state)
{
    static char resp[40000];
    size_t n = (size_t)snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nX-Big: ");

    memset(resp + n, 'a', sizeof(resp) - n);
    expect_answer(*state, resp, sizeof(resp), 0, "response head too large");
}

/* Defaults: GET, "/", an empty body still declared. */
static void test_request_defaults(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    r.method = NULL;
    r.target = NULL;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_true(strncmp(s.req, "GET / HTTP/1.1\r\n", 16) == 0);
    assert_null(strcasestr(s.req, "content-length"));
    free(o.body);

    r.method = "POST";
    r.target = "";
    r.body = "";
    r.body_len = 0;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_true(strncmp(s.req, "POST / HTTP/1.1\r\n", 17) == 0);
    assert_non_null(strstr(s.req, "\r\nContent-Length: 0\r\n"));
    free(o.body);
    srv_free(&s);
}

/* A request bigger than the socket buffers to a server that does not read:
 * we wait for writability (never block), until the deadline; and when the
 * server resets the connection meanwhile, that is the send's error. */
static void test_send_blocked(void **state)
{
    struct ev_loop *loop = *state;
    size_t len = 16 << 20;
    char *body = calloc(1, len);
    struct srv s;
    struct outcome o;

    assert_non_null(body);
    srv_init(&s, loop, "127.0.0.1");
    s.mode = SRV_HANG;
    struct httpc_request r = basic_req(s.port);
    r.method = "POST";
    r.body = body;
    r.body_len = len;
    r.timeout_ms = 500;
    do_request(loop, &r, &o);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 500 ms");
    free(o.body);
    srv_free(&s);

    srv_init(&s, loop, "127.0.0.1");
    s.mode = SRV_NOREAD_RST;
    r.port = s.port;
    r.timeout_ms = 20000;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "send: Connection reset by peer");
    free(o.body);
    srv_free(&s);
    free(body);
}

/* Every allocation failing in turn, for each way a body is delimited (and
 * bodies big enough for the buffer to grow): each failure is clean (a
 * callback with an error, or NULL from start; nothing leaked under ASan),
 * until the request succeeds. */
static void test_out_of_memory(void **state)
{
    struct ev_loop *loop = *state;
    static char resp[3][8192];
    static size_t resp_len[3];
    static char body[5001];
    static const bool keep[3] = {true, true, false};

    memset(body, 'b', sizeof(body) - 1);
    resp_len[0] = (size_t)snprintf(resp[0], sizeof(resp[0]),
                                   "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                                   sizeof(body) - 1, body);
    resp_len[1] = (size_t)snprintf(resp[1], sizeof(resp[1]),
                                   CHUNKED_HEAD "3e8\r\n%.1000s\r\nFA0\r\n%s\r\n0\r\n\r\n", body,
                                   body + 1000);
    resp_len[2] = (size_t)snprintf(resp[2], sizeof(resp[2]), "HTTP/1.0 200 OK\r\n\r\n%s", body);
    for (int k = 0; k < 3; k++) {
        struct srv s;
        unsigned n;

        srv_init(&s, loop, "127.0.0.1");
        srv_respond(&s, resp[k], resp_len[k]);
        s.keep_open = keep[k];
        struct httpc_request r = basic_req(s.port);
        for (n = 1; n < 50; n++) {
            struct outcome o = {0};
            struct httpc *c;

            o.loop = loop;
            failalloc_arm(n, false);
            c = httpc_start(loop, &r, on_result, &o);
            if (!c) {
                assert_int_equal(failalloc_failed(), 1);
                failalloc_off();
                continue;
            }
            run_until_done(loop, 30.0);
            failalloc_off();
            assert_int_equal(o.calls, 1);
            if (o.failed_allocs == 0) {
                assert_int_equal(o.status, 200);
                assert_string_equal(o.body, body);
                free(o.body);
                break;
            }
            assert_int_equal(o.status, 0);
            assert_string_equal(o.error, "out of memory");
            free(o.body);
        }
        assert_true(n > 4); /* the handle, head, request, then the body grew */
        assert_true(n < 50);
        srv_free(&s);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test_setup_teardown(test_close_immediately, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_refused, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_bad_address_async, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_post_body, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_endless_body, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_chunked_edge_cases, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_chunked_meta_limits, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_head_too_large, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_request_defaults, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_send_blocked, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, loop_setup, loop_teardown),
    };
    enum { NANSWER = sizeof(answer_cases) / sizeof(answer_cases[0]) };
    struct CMUnitTest tests[NANSWER + sizeof(fixed) / sizeof(fixed[0])];

    loop_row_tests(tests, test_answer, answer_cases, sizeof(answer_cases[0]), NANSWER);
    memcpy(tests + NANSWER, fixed, sizeof(fixed));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
