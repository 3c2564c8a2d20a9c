/* httpc against small real servers run by the test in the same libev loop:
 * every case goes over a loopback TCP socket. */
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "proto/httpc.h"

/* ---- a tiny scripted server --------------------------------------------- */

enum srv_mode {
    SRV_RESPOND,   /* read the request, write `resp`, then close unless keep_open */
    SRV_HANG,      /* accept, never read or answer */
    SRV_CLOSE_NOW, /* accept and close at once */
};

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

struct conn {
    struct srv *s;
    int fd;
    ev_io io;
    ev_timer drip;
    size_t off;
    bool writing;
    char req[8192];
    size_t req_len;
    struct conn *next;
};

static void conn_close(struct conn *c)
{
    ev_io_stop(c->s->loop, &c->io);
    ev_timer_stop(c->s->loop, &c->drip);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
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
    struct conn *c;

    if (fd < 0)
        return;
    s->accepted++;
    if (s->mode == SRV_CLOSE_NOW) {
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->s = s;
    c->fd = fd;
    c->next = s->conns;
    s->conns = c;
    ev_io_init(&c->io, conn_cb, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->drip, drip_cb, 0.001, 0.001);
    c->drip.data = c;
    if (s->mode == SRV_RESPOND)
        ev_io_start(loop, &c->io);
}

static void srv_init(struct srv *s, struct ev_loop *loop, const char *bind_addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;

    memset(s, 0, sizeof(*s));
    memset(&ss, 0, sizeof(ss));
    s->loop = loop;
    if (strchr(bind_addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, bind_addr, &a->sin6_addr), 1);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, bind_addr, &a->sin_addr), 1);
        len = sizeof(*a);
    }
    s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(s->lfd, 128), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&ss, &len), 0);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
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
        free(c);
    }
}

/* A port nobody listens on: bind, read the port, close. */
static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- running one request ---------------------------------------------- */

struct outcome {
    int calls;
    int status;
    char error[200];
    char *body;
    size_t body_len;
    double elapsed_ms;
    double wall_ms; /* measured by the test */
    ev_tstamp t0;
    struct ev_loop *loop;
};

static void on_result(void *arg, const struct httpc_result *res)
{
    struct outcome *o = arg;

    o->calls++;
    o->status = res->status;
    snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
    assert_true(res->status == 0 ? res->error != NULL : res->error == NULL);
    assert_non_null(res->body);
    assert_int_equal(res->body[res->body_len], '\0');
    o->body = malloc(res->body_len + 1);
    memcpy(o->body, res->body, res->body_len + 1);
    o->body_len = res->body_len;
    o->elapsed_ms = res->elapsed_ms;
    o->wall_ms = (ev_time() - o->t0) * 1000.0;
    if (o->loop)
        ev_break(o->loop, EVBREAK_ALL);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until the callback or `guard_s` seconds. */
static void run_until_done(struct ev_loop *loop, double guard_s)
{
    ev_timer guard;

    ev_timer_init(&guard, guard_cb, guard_s, 0.);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

static struct httpc_request basic_req(int port)
{
    struct httpc_request r = {
        .host = "127.0.0.1",
        .port = port,
        .method = "GET",
        .target = "/status",
        .timeout_ms = 1000,
        .max_body = 65536,
    };
    return r;
}

static void do_request(struct ev_loop *loop, const struct httpc_request *req, struct outcome *o)
{
    struct httpc *c;

    memset(o, 0, sizeof(*o));
    o->loop = loop;
    ev_now_update(loop);
    o->t0 = ev_time();
    c = httpc_start(loop, req, on_result, o);
    assert_non_null(c);
    assert_int_equal(o->calls, 0); /* never synchronous */
    run_until_done(loop, 3.0);
    assert_int_equal(o->calls, 1);
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

/* ---- cases ---------------------------------------------------------------- */

static void test_content_length(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    struct srv s;
    struct outcome o;
    char host[64];

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true; /* done by length, not by close */
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.error, "");
    assert_string_equal(o.body, "hello");
    assert_int_equal(o.body_len, 5);
    assert_true(o.wall_ms < 500);
    /* the request on the wire */
    assert_true(strncmp(s.req, "GET /status HTTP/1.1\r\n", 22) == 0);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    assert_non_null(strstr(s.req, host));
    assert_non_null(strstr(s.req, "\r\nConnection: close\r\n"));
    assert_null(strcasestr(s.req, "content-length"));
    free(o.body);
    srv_free(&s);
}

static const char chunked_resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5;name=val\r\nhello\r\n"
                                   "7\r\n, world\r\n"
                                   "A\r\n0123456789\r\n"
                                   "0\r\nX-Trailer: yes\r\n\r\n";

static void test_chunked(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, chunked_resp, sizeof(chunked_resp) - 1);
    s.keep_open = true; /* the last chunk ends it */
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello, world0123456789");
    free(o.body);
    srv_free(&s);
}

/* The same, one byte per write: every parser state sees split input. */
static void test_chunked_dripped(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, chunked_resp, sizeof(chunked_resp) - 1);
    s.keep_open = true;
    s.drip = true;
    struct httpc_request r = basic_req(s.port);
    r.timeout_ms = 2000;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello, world0123456789");
    free(o.body);
    srv_free(&s);
}

static void test_chunked_malformed(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "zz\r\nhello\r\n0\r\n\r\n";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true;
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "malformed chunked body");
    assert_true(o.wall_ms < 500); /* not at the deadline */
    free(o.body);
    srv_free(&s);
}

static void test_close_delimited(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                               "body until close";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "body until close");
    free(o.body);
    srv_free(&s);
}

static void test_503(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 503);
    assert_string_equal(o.error, "");
    assert_string_equal(o.body, "down");
    free(o.body);
    srv_free(&s);
}

static void test_interim_100(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true;
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.body, "ok");
    free(o.body);
    srv_free(&s);
}

static void test_garbage(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "\x01\x02\xff garbage garbage\r\n\r\n";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true; /* garbage must fail by itself, not by close or deadline */
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "malformed response head");
    assert_int_equal(o.body_len, 0);
    assert_true(o.wall_ms < 500);
    free(o.body);
    srv_free(&s);
}

static void test_hang_deadline(void **state)
{
    struct ev_loop *loop = *state;
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    s.mode = SRV_HANG;
    struct httpc_request r = basic_req(s.port);
    r.timeout_ms = 300;
    do_request(loop, &r, &o);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 300 ms");
    assert_true(o.wall_ms >= 295); /* not before */
    assert_true(o.wall_ms < 400);  /* not much after */
    assert_true(o.elapsed_ms >= 295 && o.elapsed_ms < 400);
    free(o.body);
    srv_free(&s);
}

/* Head arrives, then the server stalls mid-body: still the deadline. */
static void test_stall_mid_body(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    s.keep_open = true;
    struct httpc_request r = basic_req(s.port);
    r.timeout_ms = 200;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 200 ms");
    assert_true(o.wall_ms >= 195 && o.wall_ms < 300);
    free(o.body);
    srv_free(&s);
}

static void test_closed_mid_body(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    struct srv s;
    struct outcome o;

    srv_init(&s, loop, "127.0.0.1");
    srv_respond(&s, resp, sizeof(resp) - 1);
    struct httpc_request r = basic_req(s.port);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "connection closed mid-body");
    free(o.body);
    srv_free(&s);
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
    assert_true(o.wall_ms < 500);
    free(o.body);
    srv_free(&s);
}

static void test_refused(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o;
    struct httpc_request r = basic_req(dead_port());

    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "connect: Connection refused");
    assert_true(o.wall_ms < 500);
    free(o.body);
}

static void test_bad_address_async(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o;
    struct httpc_request r = basic_req(80);

    r.host = "localhost";     /* numeric only */
    do_request(loop, &r, &o); /* asserts the callback did not run inside start */
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "bad address \"localhost\"");
    free(o.body);
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

struct ticker {
    ev_timer w;
    int ticks;
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ((struct ticker *)w->data)->ticks++;
}

/* A peer in another process streams a body without end as fast as it can:
 * the request still fails at its deadline and the loop stays responsive. */
static void test_endless_body(void **state)
{
    struct ev_loop *loop = *state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ticker t = {.ticks = 0};
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
    ev_timer_init(&t.w, tick_cb, 0.01, 0.01);
    t.w.data = &t;
    ev_timer_start(loop, &t.w);
    struct httpc_request r = basic_req(ntohs(a.sin_port));
    r.timeout_ms = 300;
    do_request(loop, &r, &o);
    ev_timer_stop(loop, &t.w);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 300 ms");
    assert_true(o.wall_ms >= 295 && o.wall_ms < 450);
    assert_true(t.ticks >= 15); /* other timers ran during the stream */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_dripped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_100, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_mid_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_mid_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_immediately, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_address_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
