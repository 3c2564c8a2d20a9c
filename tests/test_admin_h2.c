/* h2c on the admin port (README "Admin / health endpoint") over real loopback sockets: the shared
 * admin fixture (two checks with real rise/fall counters, the real drain machine, behind
 * struct admin_view), admin_new() on 127.0.0.1:0, and an nghttp2 client session in this process,
 * all driven by pumping the one libev loop. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
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

#include "sidecar/admin/admin_h2.h"
#include "tests/admin_fixture.h"

/* ---- fixture (tests/admin_fixture.h): two healthy registrations, the
 * admin endpoint on a free port ---- */

static struct afx *fx_new(const struct admin_limits *lim)
{
    struct afx *f = afx_new(2, 2);
    afx_admin(f, lim, NULL, 0);
    return f;
}

static int connect_admin(struct afx *f)
{
    return afx_connect(AF_INET, f->port);
}

/* ---- a raw client: bytes out, input gathered while the loop runs ---- */

struct raw {
    struct afx *f;
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
    int err;
    ev_io w;
};

static void raw_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct raw *r = w->data;
    if (r->len + 4096 > r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16384;
        r->buf = realloc(r->buf, r->cap);
        assert_non_null(r->buf);
    }
    ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len - 1, MSG_DONTWAIT);
    if (n > 0) {
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        r->eof = true;
        r->err = n < 0 ? errno : 0;
        ev_io_stop(loop, w);
    }
    ev_break(loop, EVBREAK_ONE);
}

static struct raw *raw_new(struct afx *f)
{
    struct raw *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->f = f;
    r->fd = connect_admin(f);
    ev_io_init(&r->w, raw_cb, r->fd, EV_READ);
    r->w.data = r;
    ev_io_start(f->loop, &r->w);
    return r;
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
    assert_int_equal(send(r->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Until EOF or timeout; returns the seconds it took. */
static double raw_wait_eof(struct raw *r, double timeout)
{
    bool timed_out = false;
    ev_timer t;
    ev_tstamp t0 = ev_time();
    ev_timer_init(&t, afx_timeout_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(r->f->loop, &t);
    while (!r->eof && !timed_out)
        ev_run(r->f->loop, EVRUN_ONCE);
    ev_timer_stop(r->f->loop, &t);
    return ev_time() - t0;
}

static void raw_free(struct raw *r)
{
    ev_io_stop(r->f->loop, &r->w);
    close(r->fd);
    free(r->buf);
    free(r);
}

/* One HTTP/1.0 request without Host (what HAProxy sends); the body of the
 * answer, malloc'd. */
static char *h1_body(struct afx *f, const char *method, const char *path, int *status)
{
    struct raw *r = raw_new(f);
    char req[256];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\n\r\n", method, path);
    raw_send(r, req, (size_t)n);
    raw_wait_eof(r, 3.0);
    assert_true(r->eof);
    assert_non_null(r->buf);
    *status = atoi(r->buf + 9);
    char *body = strstr(r->buf, "\r\n\r\n");
    assert_non_null(body);
    char *out = strdup(body + 4);
    raw_free(r);
    return out;
}

/* ---- an nghttp2 client ---- */

struct h2resp {
    int status;
    char *body;
    size_t len;
    char ctype[96], clen[24], allow[32];
    bool closed;
    uint32_t error_code;
    const char *upload; /* request body */
    size_t upload_len, upload_off;
};

struct h2cli {
    struct afx *f;
    int fd;
    nghttp2_session *s;
    ev_io rw, ww;
    char *pend; /* serialized, not yet written */
    size_t pend_len, pend_cap;
    size_t trickle; /* > 0: write at most this many bytes per loop round */
    bool eof, goaway;
    int err;
};

static int cli_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud)
{
    struct h2resp *r = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!r || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    char *dst = NULL;
    size_t cap = 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0)
        r->status = atoi((const char *)value);
    else if (namelen == 12 && memcmp(name, "content-type", 12) == 0)
        dst = r->ctype, cap = sizeof(r->ctype);
    else if (namelen == 14 && memcmp(name, "content-length", 14) == 0)
        dst = r->clen, cap = sizeof(r->clen);
    else if (namelen == 5 && memcmp(name, "allow", 5) == 0)
        dst = r->allow, cap = sizeof(r->allow);
    if (dst)
        snprintf(dst, cap, "%.*s", (int)valuelen, value);
    return 0;
}

static int cli_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                       size_t len, void *ud)
{
    struct h2resp *r = nghttp2_session_get_stream_user_data(s, id);
    if (!r)
        return 0;
    r->body = realloc(r->body, r->len + len + 1);
    assert_non_null(r->body);
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return 0;
}

static int cli_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct h2resp *r = nghttp2_session_get_stream_user_data(s, id);
    if (r) {
        r->closed = true;
        r->error_code = code;
    }
    return 0;
}

static int cli_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct h2cli *c = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        c->goaway = true;
    return 0;
}

static void cli_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct h2cli *c = w->data;
    uint8_t buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        assert_true(nghttp2_session_mem_recv(c->s, buf, (size_t)n) == n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        c->err = n < 0 ? errno : 0;
        ev_io_stop(loop, w);
    }
    ev_break(loop, EVBREAK_ONE);
}

/* Serializes what the session has and writes what the socket takes. */
static void cli_flush(struct h2cli *c)
{
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        assert_true(n >= 0);
        if (n == 0)
            break;
        if (c->pend_len + (size_t)n > c->pend_cap) {
            c->pend_cap = (c->pend_len + (size_t)n) * 2;
            c->pend = realloc(c->pend, c->pend_cap);
            assert_non_null(c->pend);
        }
        memcpy(c->pend + c->pend_len, p, (size_t)n);
        c->pend_len += (size_t)n;
    }
    if (c->pend_len && !c->eof) {
        size_t want = c->trickle && c->trickle < c->pend_len ? c->trickle : c->pend_len;
        ssize_t w = send(c->fd, c->pend, want, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            memmove(c->pend, c->pend + w, c->pend_len - (size_t)w);
            c->pend_len -= (size_t)w;
        }
    }
    if (c->pend_len && !c->eof)
        ev_io_start(c->f->loop, &c->ww);
    else
        ev_io_stop(c->f->loop, &c->ww);
}

static void cli_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    ev_break(loop, EVBREAK_ONE); /* the pump flushes */
}

static struct h2cli *h2cli_new(struct afx *f)
{
    struct h2cli *c = calloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs;
    assert_non_null(c);
    c->f = f;
    c->fd = connect_admin(f);
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame);
    assert_int_equal(nghttp2_session_client_new(&c->s, cbs, c), 0);
    nghttp2_session_callbacks_del(cbs);
    /* the library writes the connection preface before this SETTINGS */
    assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    ev_io_init(&c->rw, cli_read_cb, c->fd, EV_READ);
    ev_io_init(&c->ww, cli_write_cb, c->fd, EV_WRITE);
    c->rw.data = c->ww.data = c;
    ev_io_start(f->loop, &c->rw);
    return c;
}

static void h2cli_free(struct h2cli *c)
{
    ev_io_stop(c->f->loop, &c->rw);
    ev_io_stop(c->f->loop, &c->ww);
    nghttp2_session_del(c->s);
    close(c->fd);
    free(c->pend);
    free(c);
}

static void h2resp_free(struct h2resp *r)
{
    if (r) {
        free(r->body);
        free(r);
    }
}

static ssize_t upload_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2resp *r = src->ptr;
    size_t n = r->upload_len - r->upload_off;
    if (n > length)
        n = length;
    memcpy(buf, r->upload + r->upload_off, n);
    r->upload_off += n;
    if (r->upload_off == r->upload_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

/* Submits one request (body may be NULL); extra: more headers. */
static struct h2resp *h2_submit(struct h2cli *c, const char *method, const char *path,
                                const char *body, size_t body_len, const nghttp2_nv *extra,
                                size_t nextra)
{
    struct h2resp *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    nghttp2_nv nv[80] = {NV(":method", method), NV(":scheme", "http"),
                         NV(":authority", "127.0.0.1"), NV(":path", path)};
    size_t n = 4;
    assert_true(nextra + n <= 80);
    for (size_t i = 0; i < nextra; i++)
        nv[n++] = extra[i];
    r->upload = body;
    r->upload_len = body_len;
    nghttp2_data_provider prd = {.source.ptr = r, .read_callback = upload_cb};
    int32_t id = nghttp2_submit_request(c->s, NULL, nv, n, body ? &prd : NULL, r);
    assert_true(id > 0);
    return r;
}

/* Runs the loop until every response in rs is closed (or the client saw
 * EOF), or timeout seconds passed. */
static void h2_pump(struct h2cli *c, struct h2resp **rs, size_t n, double timeout)
{
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, afx_timeout_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(c->f->loop, &t);
    for (;;) {
        cli_flush(c);
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += rs[i]->closed;
        if (done == n || c->eof || timed_out)
            break;
        ev_run(c->f->loop, EVRUN_ONCE);
    }
    ev_timer_stop(c->f->loop, &t);
}

static struct h2resp *h2_ask(struct h2cli *c, const char *method, const char *path,
                             const char *body, size_t body_len, const nghttp2_nv *extra,
                             size_t nextra)
{
    struct h2resp *r = h2_submit(c, method, path, body, body_len, extra, nextra);
    h2_pump(c, &r, 1, 5.0);
    if (!r->closed)
        fail_msg("no answer over h2 to %s %s", method, path);
    return r;
}

static struct h2resp *h2_get(struct h2cli *c, const char *path)
{
    return h2_ask(c, "GET", path, NULL, 0, NULL, 0);
}

/* ---- tests ---- */

static void test_sniff(void **state)
{
    static const char magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    assert_int_equal(admin_h2_sniff(magic, 24), 1);
    assert_int_equal(admin_h2_sniff("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxyz", 27), 1);
    assert_int_equal(admin_h2_sniff(magic, 1), 0);
    assert_int_equal(admin_h2_sniff(magic, 23), 0);
    assert_int_equal(admin_h2_sniff("GET / HTTP/1.1\r\n", 16), -1);
    assert_int_equal(admin_h2_sniff("PRI * HTTP/1.1\r\n", 16), -1);
    assert_int_equal(admin_h2_sniff("P", 1), 0);
}

/* The same routes answer the same over both protocols. */
static void test_same_answers_as_http1(void **state)
{
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);
    const char *paths[] = {"/health", "/health/svc.main", "/health/nope", "/tcp/svc.main/8888/x",
                           "/nowhere"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int st1;
        char *b1 = h1_body(f, "GET", paths[i], &st1);
        struct h2resp *r = h2_get(c, paths[i]);
        assert_int_equal(r->status, st1);
        assert_non_null(r->body);
        assert_string_equal(r->body, b1);
        assert_int_equal(atoi(r->clen), (int)strlen(b1));
        assert_true(r->ctype[0] != '\0');
        h2resp_free(r);
        free(b1);
    }
    /* /status and /metrics carry clocks: compare their shape */
    struct h2resp *r = h2_get(c, "/status");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->ctype, "application/json");
    assert_non_null(strstr(r->body, "\"svc.main\""));
    h2resp_free(r);
    r = h2_get(c, "/metrics");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->ctype, "text/plain"));
    h2resp_free(r);
    assert_false(c->eof);
    h2cli_free(c);
    afx_free(f);
}

/* Many streams in flight on one connection, answered each on its own. */
static void test_concurrent_streams(void **state)
{
    enum { N = 30 };
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);
    struct h2resp *rs[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++)
            rs[i] = h2_submit(c, "GET",
                              i % 3 == 0   ? "/health/svc.canary"
                              : i % 3 == 1 ? "/health/none"
                                           : "/metrics",
                              NULL, 0, NULL, 0);
        h2_pump(c, rs, N, 5.0);
        for (int i = 0; i < N; i++) {
            assert_true(rs[i]->closed);
            assert_int_equal(rs[i]->error_code, NGHTTP2_NO_ERROR);
            assert_int_equal(rs[i]->status, i % 3 == 1 ? 404 : 200);
            if (i % 3 == 0)
                assert_non_null(strstr(rs[i]->body, "svc.canary"));
            assert_int_equal(atoi(rs[i]->clen), (int)rs[i]->len);
            h2resp_free(rs[i]);
        }
    }
    assert_false(c->eof);
    h2cli_free(c);
    afx_free(f);
}

static void test_drain_undrain(void **state)
{
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);

    struct h2resp *r = h2_ask(c, "POST", "/drain?reason=maint", NULL, 0, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\"draining\":true"));
    assert_true(afx_drained(f));
    assert_string_equal(afx_reason(f), "maint");
    h2resp_free(r);
    r = h2_get(c, "/health");
    assert_int_equal(r->status, 503);
    h2resp_free(r);

    r = h2_ask(c, "POST", "/undrain", NULL, 0, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_false(afx_drained(f));
    h2resp_free(r);

    /* a form body, as `curl -d` sends it */
    static const char form[] = "reason=from+body&expires=60";
    nghttp2_nv ct[] = {NV("content-type", "application/x-www-form-urlencoded")};
    r = h2_ask(c, "POST", "/drain", form, sizeof(form) - 1, ct, 1);
    assert_int_equal(r->status, 200);
    assert_string_equal(afx_reason(f), "from body");
    assert_true(afx_until(f) > 0);
    h2resp_free(r);

    r = h2_ask(c, "POST", "/drain?expire=60", NULL, 0, NULL, 0);
    assert_int_equal(r->status, 400);
    h2resp_free(r);

    r = h2_ask(c, "GET", "/drain", NULL, 0, NULL, 0);
    assert_int_equal(r->status, 405);
    assert_string_equal(r->allow, "POST");
    h2resp_free(r);
    h2cli_free(c);
    afx_free(f);
}

static void test_head(void **state)
{
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);
    struct h2resp *r = h2_ask(c, "HEAD", "/health", NULL, 0, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_true(atoi(r->clen) > 0);
    assert_int_equal(r->len, 0);
    h2resp_free(r);
    h2cli_free(c);
    afx_free(f);
}

/* 413 / 431 as over HTTP/1.1, and the connection goes on serving. */
static void test_limits(void **state)
{
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);

    size_t big = 70 * 1024;
    char *body = malloc(big);
    assert_non_null(body);
    memset(body, 'a', big);
    memcpy(body, "reason=", 7);
    struct h2resp *r = h2_ask(c, "POST", "/drain", body, big, NULL, 0);
    assert_int_equal(r->status, 413);
    assert_false(afx_drained(f));
    h2resp_free(r);

    /* exactly the limit is fine (and parsed: a 64 KiB reason is too long) */
    r = h2_ask(c, "POST", "/drain", body, 64 * 1024, NULL, 0);
    assert_int_equal(r->status, 400);
    h2resp_free(r);

    char *val = malloc(17 * 1024 + 1);
    assert_non_null(val);
    memset(val, 'v', 17 * 1024);
    val[17 * 1024] = '\0';
    nghttp2_nv one[] = {NV("x-big", val)};
    r = h2_ask(c, "GET", "/health", NULL, 0, one, 1);
    assert_int_equal(r->status, 431);
    h2resp_free(r);

    nghttp2_nv many[70];
    char names[70][8];
    for (int i = 0; i < 70; i++) {
        snprintf(names[i], sizeof(names[i]), "x-%d", i);
        many[i] = (nghttp2_nv)NV(names[i], "1");
    }
    r = h2_ask(c, "GET", "/health", NULL, 0, many, 70);
    assert_int_equal(r->status, 431);
    h2resp_free(r);

    r = h2_get(c, "/health");
    assert_int_equal(r->status, 200);
    h2resp_free(r);
    assert_false(c->eof);
    free(val);
    free(body);
    h2cli_free(c);
    afx_free(f);
}

/* A valid preface followed by garbage: a GOAWAY and a clean close (EOF,
 * not a reset), and the endpoint keeps serving others. */
static void test_garbage_after_preface(void **state)
{
    struct afx *f = fx_new(NULL);
    struct raw *r = raw_new(f);
    static const char msg[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
                              "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    raw_send(r, msg, sizeof(msg) - 1);
    double took = raw_wait_eof(r, 3.0);
    assert_true(r->eof);
    assert_int_equal(r->err, 0);
    assert_true(took < 2.0);
    /* frames: SETTINGS (type 4) first, a GOAWAY (type 7) somewhere */
    assert_true(r->len >= 9);
    assert_int_equal((unsigned char)r->buf[3], 4);
    bool goaway = false;
    for (size_t off = 0; off + 9 <= r->len;) {
        size_t flen = ((size_t)(unsigned char)r->buf[off] << 16) |
                      ((size_t)(unsigned char)r->buf[off + 1] << 8) |
                      (unsigned char)r->buf[off + 2];
        goaway |= r->buf[off + 3] == 7;
        off += 9 + flen;
    }
    assert_true(goaway);
    raw_free(r);

    /* a bad preface is HTTP/1.1's business: a 4xx/5xx, not a hang */
    r = raw_new(f);
    raw_send(r, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 24);
    raw_wait_eof(r, 3.0);
    assert_true(r->eof);
    assert_non_null(r->buf);
    assert_memory_equal(r->buf, "HTTP/1.1 ", 9);
    assert_true(atoi(r->buf + 9) >= 400);
    raw_free(r);

    int st;
    char *b = h1_body(f, "GET", "/health", &st);
    assert_int_equal(st, 200);
    free(b);
    struct h2cli *c = h2cli_new(f);
    struct h2resp *hr = h2_get(c, "/health");
    assert_int_equal(hr->status, 200);
    h2resp_free(hr);
    h2cli_free(c);
    afx_free(f);
}

/* The preface arriving a byte at a time is still h2c. */
static void test_trickled_preface(void **state)
{
    struct afx *f = fx_new(NULL);
    struct h2cli *c = h2cli_new(f);
    c->trickle = 1;
    struct h2resp *r = h2_submit(c, "GET", "/health", NULL, 0, NULL, 0);
    /* write one byte per loop round for the first 40 bytes */
    for (int i = 0; i < 40; i++) {
        cli_flush(c);
        afx_spin(f->loop, 0.002);
    }
    c->trickle = 0;
    h2_pump(c, &r, 1, 5.0);
    assert_true(r->closed);
    assert_int_equal(r->status, 200);
    h2resp_free(r);
    h2cli_free(c);
    afx_free(f);
}

/* Idle after its request: closed at the request timeout, like HTTP/1.1. */
static void test_idle_timeout(void **state)
{
    struct admin_limits lim = {16 * 1024, 64 * 1024, 0.3, 4096};
    struct afx *f = fx_new(&lim);
    struct h2cli *c = h2cli_new(f);
    struct h2resp *r = h2_get(c, "/health");
    assert_int_equal(r->status, 200);
    h2resp_free(r);
    ev_tstamp t0 = ev_time();
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, afx_timeout_cb, 3.0, 0.);
    t.data = &timed_out;
    ev_timer_start(f->loop, &t);
    while (!c->eof && !timed_out)
        ev_run(f->loop, EVRUN_ONCE);
    ev_timer_stop(f->loop, &t);
    assert_true(c->eof);
    double took = ev_time() - t0;
    assert_true(took >= 0.2 && took < 1.5);
    h2cli_free(c);

    /* a preface and nothing else: closed too */
    struct raw *raw = raw_new(f);
    raw_send(raw, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    took = raw_wait_eof(raw, 3.0);
    assert_true(raw->eof);
    assert_true(took < 1.5);
    raw_free(raw);
    afx_free(f);
}

/* h2c connections count against the same connection limit: the least
 * recently active one makes room for a newcomer, whatever its protocol. */
static void test_shared_connection_limit(void **state)
{
    struct admin_limits lim = {16 * 1024, 64 * 1024, 10.0, 2};
    struct afx *f = fx_new(&lim);
    struct h2cli *a = h2cli_new(f);
    struct h2resp *r = h2_get(a, "/health");
    assert_int_equal(r->status, 200);
    h2resp_free(r);
    /* Let a's SETTINGS ACK arrive now: it is activity, and b must be the
     * more recently active connection. */
    afx_spin(f->loop, 0.05);
    struct h2cli *b = h2cli_new(f);
    r = h2_get(b, "/health");
    assert_int_equal(r->status, 200);
    h2resp_free(r);

    int st;
    char *body = h1_body(f, "GET", "/health", &st);
    assert_int_equal(st, 200);
    free(body);
    /* the oldest went: wait for its EOF (generously), not a fixed time */
    ev_tstamp end = ev_time() + 10.0;
    while (!a->eof && ev_time() < end)
        afx_spin(f->loop, 0.01);
    assert_true(a->eof);
    assert_false(b->eof);
    r = h2_get(b, "/health");
    assert_int_equal(r->status, 200);
    h2resp_free(r);
    h2cli_free(a);
    h2cli_free(b);
    afx_free(f);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Runs the loop until the process holds `want` descriptors (or timeout s). */
static bool wait_fds(struct afx *f, int want, double timeout)
{
    ev_tstamp end = ev_time() + timeout;
    while (count_fds() != want && ev_time() < end)
        afx_spin(f->loop, 0.01);
    return count_fds() == want;
}

/* The client going away mid-stream: in the middle of a request (its last
 * DATA bytes never come) or with its answer unread. The server notices at
 * once, long before request_timeout, and closes its end (the process is
 * back to its descriptors: client and server ends both live here); the
 * unfinished drain request is never acted on; the endpoint still answers.
 * (Under ASan this also shows that freeing the session mid-stream touches
 * nothing freed.) */
static void test_client_vanishes(void **state)
{
    struct admin_limits lim = {16 * 1024, 64 * 1024, 600.0, 4096};
    struct afx *f = fx_new(&lim);
    static const char form[] = "reason=vanished";
    int fds0 = count_fds();
    for (int i = 0; i < 6; i++) {
        struct h2cli *c = h2cli_new(f);
        struct h2resp *r;
        if (i % 2 == 0) {
            r = h2_submit(c, "POST", "/drain", form, sizeof(form) - 1, NULL, 0);
            c->trickle = 1;
            cli_flush(c); /* serializes it all, sends one byte */
            c->trickle = c->pend_len - 3;
            cli_flush(c); /* all but the last 3 bytes of the body */
            assert_int_equal(c->pend_len, 3);
        } else {
            r = h2_submit(c, "GET", "/status", NULL, 0, NULL, 0);
            cli_flush(c);
            assert_int_equal(c->pend_len, 0);
        }
        ev_io_stop(f->loop, &c->rw); /* the client reads nothing */
        /* accepted, and the server has read what came */
        if (!wait_fds(f, fds0 + 2, 10.0))
            fail_msg("round %d: %d descriptors, want %d", i, count_fds(), fds0 + 2);
        afx_spin(f->loop, 0.02);
        h2cli_free(c);
        h2resp_free(r);
        if (!wait_fds(f, fds0, 20.0))
            fail_msg("round %d: the server kept the connection of a vanished client", i);
    }
    assert_false(afx_drained(f));
    int st;
    char *body = h1_body(f, "GET", "/health", &st);
    assert_int_equal(st, 200);
    free(body);
    afx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_same_answers_as_http1),
        cmocka_unit_test(test_concurrent_streams),
        cmocka_unit_test(test_drain_undrain),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage_after_preface),
        cmocka_unit_test(test_trickled_preface),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_shared_connection_limit),
        cmocka_unit_test(test_client_vanishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
