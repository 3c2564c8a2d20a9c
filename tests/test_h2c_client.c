/* proto/h2c_client against servers the test runs in the same libev loop,
 * over loopback TCP (tests/fixtures/proto/h2_server.h): a real HTTP/2
 * server (libnghttp2's server session) for what a correct peer does
 * (answers, trailers, big bodies, RST_STREAM, GOAWAY), and a raw one writing
 * hand-built frames for what a broken or hostile peer does (not HTTP/2, bad
 * :status, closing mid-response, flooding, streaming without end, never
 * reading, resetting). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <nghttp2/nghttp2.h>

#include "proto/h2c_client.h"
#include "tests/failalloc.h"
#include "tests/test_listen.h"
#include "tests/test_loop_util.h"
#include "tests/fixtures/proto/h2_server.h"

/* ---- running one request --------------------------------------------------------- */

struct outcome {
    int calls;
    unsigned failed_allocs; /* failalloc_failed() when the callback ran */
    bool ok;
    char error[256];
    int status;
    size_t nheaders;
    char hname[70][64];
    char hval[70][128];
    unsigned char *body;
    size_t body_len;
    bool truncated;
    double elapsed_ms;
    char lookup[128]; /* h2c_client_result_header(lookup_name), "(null)" if NULL */
    const char *lookup_name;
    ev_tstamp t0;
    double wall_ms;
    struct ev_loop *loop;
};

static void on_result(void *arg, const struct h2c_client_result *res)
{
    struct outcome *o = arg;
    const char *v;

    o->failed_allocs = failalloc_failed();
    failalloc_off(); /* our own copies below must not fail */
    o->calls++;
    o->ok = res->error == NULL;
    snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
    o->status = res->status;
    o->nheaders = res->nheaders;
    assert_true(res->nheaders <= 70);
    for (size_t i = 0; i < res->nheaders; i++) {
        snprintf(o->hname[i], sizeof(o->hname[i]), "%s", res->headers[i].name);
        snprintf(o->hval[i], sizeof(o->hval[i]), "%s", res->headers[i].value);
    }
    assert_non_null(res->body);
    o->body = malloc(res->body_len + 1);
    assert_non_null(o->body);
    memcpy(o->body, res->body, res->body_len);
    o->body[res->body_len] = '\0';
    o->body_len = res->body_len;
    o->truncated = res->body_truncated;
    o->elapsed_ms = res->elapsed_ms;
    o->wall_ms = (ev_time() - o->t0) * 1000.0;
    if (o->lookup_name) {
        v = h2c_client_result_header(res, o->lookup_name);
        snprintf(o->lookup, sizeof(o->lookup), "%s", v ? v : "(null)");
    }
    if (o->loop)
        ev_break(o->loop, EVBREAK_ALL);
}

static struct h2c_client_request basic_req(int port)
{
    struct h2c_client_request r = {
        .host = "127.0.0.1",
        .port = port,
        .method = "POST",
        .path = "/svc/Method",
        .timeout_ms = 5000,
        .max_body = 1 << 20,
    };
    return r;
}

static void do_request(struct ev_loop *loop, const struct h2c_client_request *req,
                       struct outcome *o)
{
    const char *lookup = o->lookup_name;
    struct h2c_client *c;

    memset(o, 0, sizeof(*o));
    o->lookup_name = lookup;
    o->loop = loop;
    ev_now_update(loop);
    o->t0 = ev_time();
    c = h2c_client_start(loop, req, on_result, o);
    assert_non_null(c);
    assert_int_equal(o->calls, 0); /* never from inside start */
    run_until_done(loop, 10.0);
    assert_int_equal(o->calls, 1);
}

/* ---- a correct server ------------------------------------------------------------ */

static const struct h2c_header grpc_req_hdrs[] = {
    {"content-type", "application/grpc"},
    {"te", "trailers"},
};
static const struct h2c_header grpc_resp_hdrs[] = {{"content-type", "application/grpc"}};
static const struct h2c_header grpc_trailers[] = {{"grpc-status", "0"}, {"grpc-message", "fine"}};

/* A gRPC-shaped exchange: request headers and body reach the server as
 * sent, the answer's headers then trailers come back in order, the body
 * intact. */
static void test_roundtrip(void **state)
{
    struct ev_loop *loop = *state;
    static const char req_body[] = "\0\0\0\0\2hi";
    static const char resp_body[] = "\0\0\0\0\2ok";
    struct outcome o = {.lookup_name = "grpc-status"};
    char authority[64];

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 200,
                           .hdrs = grpc_resp_hdrs,
                           .nhdrs = 1,
                           .body = resp_body,
                           .body_len = sizeof(resp_body) - 1,
                           .trailers = grpc_trailers,
                           .ntrailers = 2};
    struct h2c_client_request r = basic_req(S.port);
    r.headers = grpc_req_hdrs;
    r.nheaders = 2;
    r.body = req_body;
    r.body_len = sizeof(req_body) - 1;
    do_request(loop, &r, &o);
    assert_true(o.ok);
    assert_string_equal(o.error, "");
    assert_int_equal(o.status, 200);
    assert_int_equal(o.nheaders, 3);
    assert_string_equal(o.hname[0], "content-type");
    assert_string_equal(o.hval[0], "application/grpc");
    assert_string_equal(o.hname[1], "grpc-status");
    assert_string_equal(o.hval[1], "0");
    assert_string_equal(o.hname[2], "grpc-message");
    assert_string_equal(o.hval[2], "fine");
    assert_string_equal(o.lookup, "0");
    assert_int_equal(o.body_len, sizeof(resp_body) - 1);
    assert_memory_equal(o.body, resp_body, o.body_len);
    assert_false(o.truncated);
    assert_true(o.elapsed_ms >= 0);
    /* what the server got */
    assert_true(S.req_done);
    assert_string_equal(S.method, "POST");
    assert_string_equal(S.scheme, "http");
    assert_string_equal(S.path, "/svc/Method");
    snprintf(authority, sizeof(authority), "127.0.0.1:%d", S.port);
    assert_string_equal(S.authority, authority);
    assert_int_equal(S.nhdrs, 2);
    assert_string_equal(S.hname[0], "content-type");
    assert_string_equal(S.hval[0], "application/grpc");
    assert_string_equal(S.hname[1], "te");
    assert_string_equal(S.hval[1], "trailers");
    assert_int_equal(S.req_body_len, sizeof(req_body) - 1);
    assert_memory_equal(S.req_body, req_body, S.req_body_len);
    free(o.body);
    srv_free();
}

/* No method, path or body given: GET /, the HEADERS end the request; an
 * explicit authority is sent as is; a field asked for that is absent is
 * NULL; a body-less answer is an empty body. */
static void test_defaults(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {.lookup_name = "no-such-field"};

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 204};
    struct h2c_client_request r = basic_req(S.port);
    r.method = NULL;
    r.path = NULL;
    r.authority = "svc.example:8080";
    do_request(loop, &r, &o);
    assert_true(o.ok);
    assert_int_equal(o.status, 204);
    assert_int_equal(o.nheaders, 0);
    assert_string_equal(o.lookup, "(null)");
    assert_int_equal(o.body_len, 0);
    assert_string_equal((char *)o.body, "");
    assert_string_equal(S.method, "GET");
    assert_string_equal(S.path, "/");
    assert_string_equal(S.authority, "svc.example:8080");
    assert_int_equal(S.req_body_len, 0);
    free(o.body);

    /* an empty path is "/" too, and an empty body is a DATA frame */
    r.method = "PUT";
    r.path = "";
    r.body = "";
    r.body_len = 0;
    do_request(loop, &r, &o);
    assert_true(o.ok);
    assert_string_equal(S.method, "PUT");
    assert_string_equal(S.path, "/");
    assert_int_equal(S.req_body_len, 0);
    free(o.body);
    srv_free();
}

static void test_ipv6_authority(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};
    char authority[64];
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (probe >= 0)
            close(probe);
        skip(); /* no ::1 here */
    }
    close(probe);
    srv_init(loop, M_H2, "::1");
    S.plan = (struct plan){.status = 200};
    struct h2c_client_request r = basic_req(S.port);
    r.host = "::1";
    do_request(loop, &r, &o);
    assert_true(o.ok);
    snprintf(authority, sizeof(authority), "[::1]:%d", S.port);
    assert_string_equal(S.authority, authority);
    free(o.body);
    srv_free();
}

static unsigned char big_a[300000], big_b[200000];

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + seed) >> 3);
}

/* Bodies bigger than a frame and than the initial flow-control windows,
 * both ways. */
static void test_big_bodies(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};

    fill(big_a, sizeof(big_a), 7);
    fill(big_b, sizeof(big_b), 3);
    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 200, .body = big_a, .body_len = sizeof(big_a)};
    struct h2c_client_request r = basic_req(S.port);
    r.body = big_b;
    r.body_len = sizeof(big_b);
    do_request(loop, &r, &o);
    assert_true(o.ok);
    assert_int_equal(o.body_len, sizeof(big_a));
    assert_memory_equal(o.body, big_a, sizeof(big_a));
    assert_false(o.truncated);
    assert_int_equal(S.req_body_len, sizeof(big_b));
    assert_memory_equal(S.req_body, big_b, sizeof(big_b));
    free(o.body);
    srv_free();
}

/* More DATA than max_body: the first max_body bytes are kept, the rest
 * read and dropped, and the result says so. */
static void test_body_truncated(void **state)
{
    struct ev_loop *loop = *state;
    static const size_t maxes[] = {0, 1, 300, 1000, 70000};
    struct outcome o = {0};

    fill(big_a, sizeof(big_a), 11);
    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 200, .body = big_a, .body_len = 100000};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        struct h2c_client_request r = basic_req(S.port);
        r.max_body = maxes[i];
        do_request(loop, &r, &o);
        assert_true(o.ok);
        assert_int_equal(o.body_len, maxes[i]);
        assert_memory_equal(o.body, big_a, maxes[i]);
        assert_true(o.truncated);
        free(o.body);
    }
    srv_free();
}

/* One request of r to the M_H2 server answering per plan, which must fail
 * with error; returns the status the result still carries. */
static int expect_failure(struct ev_loop *loop, const struct h2c_client_request *r,
                          struct plan plan, const char *error)
{
    struct outcome o = {0};

    S.plan = plan;
    do_request(loop, r, &o);
    free(o.body);
    if (o.ok || strcmp(o.error, error) != 0)
        fail_msg("%s: error \"%s\", want \"%s\"", o.ok ? "ok" : "failed", o.error, error);
    return o.status;
}

static void test_rst_stream(void **state)
{
    struct ev_loop *loop = *state;

    srv_init(loop, M_H2, "127.0.0.1");
    struct h2c_client_request r = basic_req(S.port);
    assert_int_equal(expect_failure(loop, &r,
                                    (struct plan){.rst = true, .rst_code = NGHTTP2_REFUSED_STREAM},
                                    "RST_STREAM from server: REFUSED_STREAM"),
                     0);
    srv_free();
}

/* A GOAWAY that leaves our stream out: its code and its debug text, made
 * printable, say why. */
static void test_goaway(void **state)
{
    struct ev_loop *loop = *state;

    srv_init(loop, M_H2, "127.0.0.1");
    struct h2c_client_request r = basic_req(S.port);
    expect_failure(loop, &r,
                   (struct plan){.goaway = true,
                                 .goaway_code = NGHTTP2_ENHANCE_YOUR_CALM,
                                 .goaway_debug = "slow\ndown"},
                   "GOAWAY from server: ENHANCE_YOUR_CALM: slow?down");
    /* a graceful one without debug text */
    expect_failure(loop, &r, (struct plan){.goaway = true, .goaway_code = NGHTTP2_NO_ERROR},
                   "GOAWAY from server: NO_ERROR");

    /* a long debug text is cut, not the line it goes into */
    char debug[200], want[200];
    memset(debug, 'd', sizeof(debug) - 1);
    debug[sizeof(debug) - 1] = '\0';
    snprintf(want, sizeof(want), "GOAWAY from server: INTERNAL_ERROR: %.79s", debug);
    expect_failure(
        loop, &r,
        (struct plan){.goaway = true, .goaway_code = NGHTTP2_INTERNAL_ERROR, .goaway_debug = debug},
        want);
    srv_free();
}

/* More header fields than kept (64), or more bytes of them (16 KiB): the
 * stream is reset and that is the error, not a truncated head. */
static void test_headers_too_large(void **state)
{
    struct ev_loop *loop = *state;
    static struct h2c_header many[66], fat[20];
    static char names[66][16], value[1100];
    struct outcome o = {0};

    for (int i = 0; i < 66; i++) {
        snprintf(names[i], sizeof(names[i]), "x-h%d", i);
        many[i].name = names[i];
        many[i].value = "v";
    }
    memset(value, 'v', sizeof(value) - 1);
    for (int i = 0; i < 20; i++) {
        fat[i].name = names[i];
        fat[i].value = value;
    }
    srv_init(loop, M_H2, "127.0.0.1");
    struct h2c_client_request r = basic_req(S.port);

    /* 64 fields are fine */
    S.plan = (struct plan){.status = 200, .hdrs = many, .nhdrs = 64};
    do_request(loop, &r, &o);
    assert_true(o.ok);
    assert_int_equal(o.nheaders, 64);
    assert_string_equal(o.hname[63], "x-h63");
    free(o.body);

    expect_failure(loop, &r, (struct plan){.status = 200, .hdrs = many, .nhdrs = 66},
                   "response headers too large");
    expect_failure(loop, &r, (struct plan){.status = 200, .hdrs = fat, .nhdrs = 20},
                   "response headers too large");
    srv_free();
}

/* ---- transport failures ---------------------------------------------------------- */

/* The server takes the request and never answers: the deadline. */
static void test_timeout(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 0};
    struct h2c_client_request r = basic_req(S.port);
    r.timeout_ms = 200;
    do_request(loop, &r, &o);
    assert_true(S.req_done); /* it was sent */
    assert_false(o.ok);
    assert_string_equal(o.error, "timeout after 200 ms");
    assert_true(o.wall_ms >= 195);
    assert_true(o.elapsed_ms >= 195 && o.elapsed_ms < 5000);
    free(o.body);

    /* below 1 ms counts as 1 */
    r.timeout_ms = 0;
    do_request(loop, &r, &o);
    assert_string_equal(o.error, "timeout after 1 ms");
    free(o.body);
    srv_free();
}

static void test_refused(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};
    struct h2c_client_request r = basic_req(test_dead_port());

    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "connect: Connection refused");
    assert_int_equal(o.status, 0);
    free(o.body);
}

/* Errors known at start are still reported from the loop, never from
 * inside h2c_client_start (do_request checks that). */
static void test_bad_target(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};

    for (size_t i = 0; i < sizeof(test_bad_targets) / sizeof(test_bad_targets[0]); i++) {
        struct h2c_client_request r = basic_req(test_bad_targets[i].port);

        r.host = test_bad_targets[i].host;
        do_request(loop, &r, &o);
        assert_false(o.ok);
        assert_string_equal(o.error, test_bad_targets[i].error);
        free(o.body);
    }
}

/* One request (method NULL: basic_req's) to a server writing raw after
 * reading it, then doing `after`; the caller checks o and calls srv_free. */
static void raw_request(struct ev_loop *loop, const void *raw, size_t raw_len, enum srv_after after,
                        const char *method, struct outcome *o)
{
    srv_init(loop, M_RAW, "127.0.0.1");
    S.raw = raw;
    S.raw_len = raw_len;
    S.after = after;
    struct h2c_client_request r = basic_req(S.port);
    if (method)
        r.method = method;
    do_request(loop, &r, o);
}

/* raw_request with the frames f (then done with). */
static void raw_frames(struct ev_loop *loop, struct frames *f, enum srv_after after,
                       const char *method, struct outcome *o)
{
    fr_done(f);
    raw_request(loop, f->buf, f->len, after, method, o);
}

/* Not HTTP/2 at all: nghttp2's own GOAWAY says what was wrong. */
static void test_not_http2(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    struct outcome o = {0};

    raw_request(loop, resp, sizeof(resp) - 1, AFTER_KEEP, NULL, &o);
    assert_false(o.ok);
    if (strncmp(o.error, "bad HTTP/2 from server: PROTOCOL_ERROR", 38) != 0)
        fail_msg("error \"%s\"", o.error);
    free(o.body);
    srv_free();
}

/* A complete answer, then the server closes at once: success, however
 * the close and the frames arrive; interim 1xx heads are replaced by the
 * final status. */
static void test_answer_then_close(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    struct outcome o = {.lookup_name = "x-final"};

    fr_begin(&f);
    fr_headers(&f, 0, ":status", "103", "link", "</a>", NULL);
    fr_headers(&f, 0, ":status", "200", "x-final", "yes", NULL);
    fr_add(&f, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "ok", 2);
    raw_frames(loop, &f, AFTER_FIN, "GET", &o);
    assert_true(o.ok);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.lookup, "yes");
    assert_string_equal((char *)o.body, "ok");
    free(o.body);
    srv_free();
}

static void test_closed_early(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    struct outcome o = {0};

    /* after the request, nothing but a close */
    fr_begin(&f);
    raw_frames(loop, &f, AFTER_FIN, NULL, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "connection closed without response");
    assert_int_equal(o.status, 0);
    free(o.body);
    srv_free();

    /* a head and part of the body, then a close */
    fr_begin(&f);
    fr_headers(&f, 0, ":status", "200", NULL);
    fr_add(&f, NGHTTP2_DATA, 0, 1, "par", 3);
    raw_frames(loop, &f, AFTER_FIN, NULL, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "connection closed mid-response");
    assert_int_equal(o.status, 200);
    assert_string_equal((char *)o.body, "par"); /* what came is still given */
    free(o.body);
    srv_free();
}

/* A :status that is not three digits: nghttp2 resets our stream itself. */
static void test_bad_status(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    struct outcome o = {0};

    fr_begin(&f);
    fr_headers(&f, NGHTTP2_FLAG_END_STREAM, ":status", "abc", NULL);
    raw_frames(loop, &f, AFTER_KEEP, NULL, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "stream closed: PROTOCOL_ERROR");
    free(o.body);
    srv_free();
}

/* Thousands of PINGs at once: nghttp2 gives up on the peer (its answers
 * would pile up), and that is the error. */
static void test_ping_flood(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    static const unsigned char opaque[8] = "pingpong";
    struct outcome o = {0};

    fr_begin(&f);
    while (f.len + 17 <= sizeof(f.buf))
        fr_add(&f, NGHTTP2_PING, 0, 0, opaque, 8);
    raw_frames(loop, &f, AFTER_KEEP, NULL, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, nghttp2_strerror(NGHTTP2_ERR_FLOODED));
    free(o.body);
    srv_free();
}

/* A server streaming frames without end (ones to ignore): the request
 * still ends at its deadline, and the loop keeps running other work. */
static void test_endless_stream(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    struct loop_ticker t;
    struct outcome o = {0};

    srv_init(loop, M_JUNK, "127.0.0.1");
    loop_ticker_start(loop, &t);
    fr_begin(&f);
    fr_done(&f);
    S.raw = f.buf;
    S.raw_len = f.len;
    struct h2c_client_request r = basic_req(S.port);
    r.timeout_ms = 300;
    do_request(loop, &r, &o);
    ev_timer_stop(loop, &t.w);
    assert_true(S.req_done);
    assert_false(o.ok);
    assert_string_equal(o.error, "timeout after 300 ms");
    assert_true(t.ticks >= 5); /* not starved (30 when idle) */
    free(o.body);
    srv_free();
}

/* A server that lets us send (huge windows) but never reads: we wait for
 * the socket, never block, and the deadline ends it. */
static void test_server_never_reads(void **state)
{
    struct ev_loop *loop = *state;
    static struct frames f;
    static const unsigned char win[6] = {0, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0x7f, 0xff,
                                         0xff, 0xff};
    static const unsigned char inc[4] = {0x7f, 0xfe, 0xff, 0xff};
    size_t body_len = 16 << 20;
    void *body = calloc(1, body_len);
    struct outcome o = {0};

    assert_non_null(body);
    fr_init(&f);
    fr_add(&f, NGHTTP2_SETTINGS, 0, 0, win, sizeof(win));
    fr_add(&f, NGHTTP2_WINDOW_UPDATE, 0, 0, inc, sizeof(inc));
    fr_done(&f);
    srv_init(loop, M_NOREAD, "127.0.0.1");
    srv_rcvbuf(4096);
    S.raw = f.buf;
    S.raw_len = f.len;
    struct h2c_client_request r = basic_req(S.port);
    r.body = body;
    r.body_len = body_len;
    r.timeout_ms = 500;
    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "timeout after 500 ms");
    free(o.body);
    srv_free();

    /* the same server resets the connection once 64 KiB wait unread */
    srv_init(loop, M_NOREAD_RST, "127.0.0.1");
    S.raw = f.buf;
    S.raw_len = f.len;
    r.port = S.port;
    r.timeout_ms = 5000;
    do_request(loop, &r, &o);
    assert_false(o.ok);
    if ((strncmp(o.error, "recv: ", 6) != 0 && strncmp(o.error, "send: ", 6) != 0) ||
        (!strstr(o.error, "reset") && !strstr(o.error, "pipe")))
        fail_msg("error \"%s\"", o.error);
    free(o.body);
    srv_free();
    free(body);
}

/* ---- the caller's side ----------------------------------------------------------- */

struct cancel_ctx {
    struct h2c_client *c;
};

static void cancel_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cancel_ctx *cc = w->data;

    h2c_client_cancel(cc->c);
    cc->c = NULL;
}

static void test_cancel(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};
    struct cancel_ctx cc;
    ev_timer t;

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 0}; /* never answers */
    struct h2c_client_request r = basic_req(S.port);
    r.timeout_ms = 300;
    cc.c = h2c_client_start(loop, &r, on_result, &o);
    assert_non_null(cc.c);
    ev_timer_init(&t, cancel_cb, 0.05, 0.);
    t.data = &cc;
    ev_timer_start(loop, &t);
    run_until_done(loop, 1.0); /* well past the request's deadline */
    assert_null(cc.c);
    assert_int_equal(o.calls, 0);

    /* cancelled with an error already queued */
    r.host = "not-an-ip";
    struct h2c_client *c = h2c_client_start(loop, &r, on_result, &o);
    assert_non_null(c);
    h2c_client_cancel(c);
    run_until_done(loop, 0.1);
    assert_int_equal(o.calls, 0);
    h2c_client_cancel(NULL);
    srv_free();
}

/* Every allocation of a whole exchange (request, header fields, body,
 * trailers) failing in turn: each is a clean failure, reported through
 * the callback or as NULL from start, until the exchange succeeds. */
static void test_out_of_memory(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp_body[] = "0123456789abcdef0123456789abcdef";
    struct outcome o = {0};
    unsigned n;

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.status = 200,
                           .hdrs = grpc_resp_hdrs,
                           .nhdrs = 1,
                           .body = resp_body,
                           .body_len = sizeof(resp_body) - 1,
                           .trailers = grpc_trailers,
                           .ntrailers = 2};
    struct h2c_client_request r = basic_req(S.port);
    r.headers = grpc_req_hdrs;
    r.nheaders = 2;
    r.body = "body";
    r.body_len = 4;
    for (n = 1; n < 100; n++) {
        struct h2c_client *c;

        memset(&o, 0, sizeof(o));
        o.loop = loop;
        failalloc_arm(n, false);
        c = h2c_client_start(loop, &r, on_result, &o);
        if (!c) {
            assert_int_equal(failalloc_failed(), 1);
            failalloc_off();
            continue;
        }
        run_until_done(loop, 10.0);
        failalloc_off();
        assert_int_equal(o.calls, 1);
        if (o.failed_allocs == 0) {
            assert_true(o.ok);
            assert_int_equal(o.status, 200);
            assert_int_equal(o.nheaders, 3);
            assert_string_equal((char *)o.body, resp_body);
            free(o.body);
            break;
        }
        assert_false(o.ok);
        assert_string_equal(o.error, "out of memory");
        free(o.body);
    }
    assert_true(n > 4); /* start, session, headers and body all allocate */
    assert_true(n < 100);
    srv_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_defaults, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_authority, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_big_bodies, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_body_truncated, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_rst_stream, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_goaway, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_headers_too_large, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_refused, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_bad_target, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_not_http2, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_answer_then_close, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_closed_early, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_bad_status, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_ping_flood, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_endless_stream, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_server_never_reads, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, loop_setup, loop_teardown),
    };
    return cmocka_run_group_tests_name("h2c_client", tests, NULL, NULL);
}
