/* proto/h2c_client against servers the test runs in the same libev loop,
 * over loopback TCP: a real HTTP/2 server (libnghttp2's server session)
 * for what a correct peer does (answers, trailers, big bodies, RST_STREAM,
 * GOAWAY), and a raw one writing hand-built frames for what a broken or
 * hostile peer does (not HTTP/2, bad :status, closing mid-response,
 * flooding, streaming without end, never reading, resetting). */
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

/* ---- the servers ----------------------------------------------------------------- */

enum srv_mode {
    M_H2,          /* a real HTTP/2 server answering per `plan` */
    M_RAW,         /* reads the request, then writes `raw`, then `after` */
    M_JUNK,        /* reads the request, then writes ignorable frames without end */
    M_NOREAD,      /* writes `raw` at once, then never reads */
    M_NOREAD_RST,  /* the same, then resets once some request bytes are waiting */
};

enum srv_after { AFTER_KEEP, AFTER_FIN, AFTER_RST };

/* What the M_H2 server answers to the request on stream 1. */
struct plan {
    int status; /* 0: no answer at all */
    const struct h2c_header *hdrs;
    size_t nhdrs;
    const void *body; /* NULL: HEADERS end the stream (unless trailers) */
    size_t body_len;
    const struct h2c_header *trailers;
    size_t ntrailers;
    bool rst; /* RST_STREAM(rst_code) instead of an answer */
    uint32_t rst_code;
    bool goaway; /* GOAWAY(goaway_code, last stream 0, goaway_debug) instead */
    uint32_t goaway_code;
    const char *goaway_debug;
};

struct sconn {
    struct srv *s;
    bool used;
    int fd;
    ev_io io;
    int events;
    nghttp2_session *h2;
    size_t body_off; /* M_H2: response body sent so far */
    unsigned char in[32768];
    size_t in_len;
    bool preface_seen, request_done;
    size_t raw_off;  /* M_RAW/M_NOREAD: bytes of raw written */
    size_t junk_off; /* M_JUNK: where in the junk frames the next send starts */
};

struct srv {
    struct ev_loop *loop;
    int lfd, port;
    ev_io accept_w;
    enum srv_mode mode;
    struct plan plan;
    const unsigned char *raw;
    size_t raw_len;
    enum srv_after after;
    int rcvbuf; /* > 0: SO_RCVBUF of the listener, so of its connections */
    int accepted;
    struct sconn conns[4];
    /* what the server saw of the request */
    char method[32], scheme[16], path[256], authority[256];
    int nhdrs;
    char hname[16][64], hval[16][128];
    unsigned char req_body[1 << 18];
    size_t req_body_len;
    bool req_done;
};

static struct srv S; /* one per test: big, and kept off the stack */

static void sconn_close(struct sconn *c)
{
    if (!c->used)
        return;
    ev_io_stop(c->s->loop, &c->io);
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->used = false;
}

static void sconn_reset(struct sconn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    sconn_close(c);
}

static void sconn_arm(struct sconn *c, int events)
{
    if (events == c->events && ev_is_active(&c->io))
        return;
    ev_io_stop(c->s->loop, &c->io);
    c->events = events;
    if (!events)
        return;
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->s->loop, &c->io);
}

static void copy_text(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

/* -- M_H2: nghttp2's server session -- */

static ssize_t h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    struct sconn *c = user;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return NGHTTP2_ERR_WOULDBLOCK;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int h2_header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user)
{
    struct srv *sv = ((struct sconn *)user)->s;

    if (namelen == 7 && memcmp(name, ":method", 7) == 0)
        copy_text(sv->method, sizeof(sv->method), value, valuelen);
    else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0)
        copy_text(sv->scheme, sizeof(sv->scheme), value, valuelen);
    else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
        copy_text(sv->path, sizeof(sv->path), value, valuelen);
    else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
        copy_text(sv->authority, sizeof(sv->authority), value, valuelen);
    else if (sv->nhdrs < 16) {
        copy_text(sv->hname[sv->nhdrs], sizeof(sv->hname[0]), name, namelen);
        copy_text(sv->hval[sv->nhdrs], sizeof(sv->hval[0]), value, valuelen);
        sv->nhdrs++;
    }
    return 0;
}

static int h2_data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                      size_t len, void *user)
{
    struct srv *sv = ((struct sconn *)user)->s;
    size_t room = sizeof(sv->req_body) - sv->req_body_len;

    if (len > room)
        len = room;
    memcpy(sv->req_body + sv->req_body_len, data, len);
    sv->req_body_len += len;
    return 0;
}

static void nv_fill(nghttp2_nv *nv, const char *name, const char *value)
{
    nv->name = (uint8_t *)name;
    nv->namelen = strlen(name);
    nv->value = (uint8_t *)value;
    nv->valuelen = strlen(value);
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

static ssize_t h2_body_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                          uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct sconn *c = user;
    const struct plan *pl = &c->s->plan;
    size_t n = pl->body_len - c->body_off;

    if (n > len)
        n = len;
    if (n)
        memcpy(buf, (const char *)pl->body + c->body_off, n);
    c->body_off += n;
    if (c->body_off == pl->body_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (pl->ntrailers) {
            nghttp2_nv nva[70];

            for (size_t i = 0; i < pl->ntrailers; i++)
                nv_fill(&nva[i], pl->trailers[i].name, pl->trailers[i].value);
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(s, stream_id, nva, pl->ntrailers) != 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

static void h2_answer(struct sconn *c, int32_t stream_id)
{
    const struct plan *pl = &c->s->plan;
    nghttp2_data_provider prd = {.source.ptr = c, .read_callback = h2_body_cb};
    nghttp2_nv nva[80];
    char status[8];

    if (pl->goaway) {
        const char *d = pl->goaway_debug ? pl->goaway_debug : "";
        assert_int_equal(nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, pl->goaway_code,
                                               (const uint8_t *)d, strlen(d)),
                         0);
        return;
    }
    if (pl->rst) {
        assert_int_equal(
            nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, stream_id, pl->rst_code), 0);
        return;
    }
    if (!pl->status)
        return;
    snprintf(status, sizeof(status), "%d", pl->status);
    nv_fill(&nva[0], ":status", status);
    for (size_t i = 0; i < pl->nhdrs; i++)
        nv_fill(&nva[1 + i], pl->hdrs[i].name, pl->hdrs[i].value);
    assert_int_equal(nghttp2_submit_response(c->h2, stream_id, nva, 1 + pl->nhdrs,
                                             pl->body || pl->ntrailers ? &prd : NULL),
                     0);
}

static int h2_frame_cb(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct sconn *c = user;

    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        c->s->req_done = true;
        h2_answer(c, frame->hd.stream_id);
    }
    return 0;
}

static void h2_setup(struct sconn *c)
{
    nghttp2_session_callbacks *cbs;

    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame_cb);
    assert_int_equal(nghttp2_session_server_new(&c->h2, cbs, c), 0);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void h2_io(struct sconn *c, int revents)
{
    if (revents & EV_READ) {
        unsigned char buf[16384];

        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0 || nghttp2_session_mem_recv(c->h2, buf, (size_t)n) < 0) {
                sconn_close(c);
                return;
            }
        }
    }
    if (nghttp2_session_send(c->h2) != 0) {
        sconn_close(c);
        return;
    }
    /* after a GOAWAY the session wants nothing more: hold the connection
     * open (the client must not need our close to see the GOAWAY) */
    sconn_arm(c, EV_READ | (nghttp2_session_want_write(c->h2) ? EV_WRITE : 0));
}

/* -- M_RAW and M_JUNK: frames by hand -- */

/* Drops whole frames from c->in; notes the request's end (END_STREAM on
 * HEADERS or DATA of stream 1). */
static void raw_scan(struct sconn *c)
{
    size_t off = 0;

    if (!c->preface_seen) {
        if (c->in_len < 24)
            return;
        assert_memory_equal(c->in, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
        c->preface_seen = true;
        off = 24;
    }
    while (c->in_len - off >= 9) {
        const unsigned char *h = c->in + off;
        size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
        uint32_t sid = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
                       0x7fffffff;

        if (c->in_len - off < 9 + len)
            break;
        if ((h[3] == NGHTTP2_HEADERS || h[3] == NGHTTP2_DATA) && sid == 1 &&
            (h[4] & NGHTTP2_FLAG_END_STREAM))
            c->request_done = true;
        off += 9 + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

/* Writes what is left of raw; true when all of it is out. */
static bool raw_flush(struct sconn *c)
{
    struct srv *sv = c->s;

    while (c->raw_off < sv->raw_len) {
        ssize_t n = send(c->fd, sv->raw + c->raw_off, sv->raw_len - c->raw_off, MSG_NOSIGNAL);

        if (n < 0)
            return false;
        c->raw_off += (size_t)n;
    }
    return true;
}

/* Ignorable frames (an unknown type, RFC 9113 §4.1), as many as fit. */
static void junk_flush(struct sconn *c)
{
    static unsigned char junk[65536];
    static size_t junk_len;

    if (!junk_len) {
        for (; junk_len + 9 + 1000 <= sizeof(junk); junk_len += 9 + 1000) {
            unsigned char *h = junk + junk_len;
            memset(h, 0, 9 + 1000);
            h[1] = 1000 >> 8;
            h[2] = 1000 & 0xff;
            h[3] = 0xfa; /* no such frame type */
        }
    }
    for (;;) {
        ssize_t n = send(c->fd, junk + c->junk_off, junk_len - c->junk_off, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        c->junk_off = (c->junk_off + (size_t)n) % junk_len;
    }
}

static void raw_io(struct sconn *c, int revents)
{
    struct srv *sv = c->s;

    if (revents & EV_READ) {
        for (;;) {
            ssize_t n;

            if (c->in_len == sizeof(c->in))
                raw_scan(c);
            n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                sconn_close(c);
                return;
            }
            c->in_len += (size_t)n;
        }
        raw_scan(c);
    }
    if (!c->request_done)
        return;
    sv->req_done = true;
    if (sv->mode == M_JUNK) {
        /* our SETTINGS first, as HTTP/2 requires */
        if (raw_flush(c))
            junk_flush(c);
        sconn_arm(c, EV_READ | EV_WRITE);
        return;
    }
    if (c->raw_off == sv->raw_len && c->raw_off > 0 && sv->after == AFTER_KEEP)
        return;
    if (!raw_flush(c)) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sconn_arm(c, EV_READ | EV_WRITE);
            return;
        }
        sconn_close(c);
        return;
    }
    sconn_arm(c, EV_READ);
    if (sv->after == AFTER_FIN)
        shutdown(c->fd, SHUT_WR); /* a FIN; what the client sends later is still read */
    else if (sv->after == AFTER_RST)
        sconn_reset(c);
}

static void noread_io(struct sconn *c, int revents)
{
    int queued = 0;

    /* readable: request bytes are waiting, and are left there */
    if (ioctl(c->fd, FIONREAD, &queued) == 0 && queued >= 65536)
        sconn_reset(c);
}

static void sconn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sconn *c = w->data;

    switch (c->s->mode) {
    case M_H2:
        h2_io(c, revents);
        break;
    case M_RAW:
    case M_JUNK:
        raw_io(c, revents);
        break;
    case M_NOREAD:
    case M_NOREAD_RST:
        noread_io(c, revents);
        break;
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct srv *sv = w->data;
    int fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct sconn *c = NULL;

    if (fd < 0)
        return;
    sv->accepted++;
    for (size_t i = 0; i < 4 && !c; i++)
        if (!sv->conns[i].used)
            c = &sv->conns[i];
    assert_non_null(c);
    memset(c, 0, sizeof(*c));
    c->s = sv;
    c->used = true;
    c->fd = fd;
    ev_io_init(&c->io, sconn_cb, fd, EV_READ);
    c->io.data = c;
    switch (sv->mode) {
    case M_H2:
        h2_setup(c);
        h2_io(c, 0); /* our SETTINGS */
        break;
    case M_RAW:
    case M_JUNK:
        sconn_arm(c, EV_READ);
        break;
    case M_NOREAD:
    case M_NOREAD_RST:
        assert_true(raw_flush(c));
        if (sv->mode == M_NOREAD_RST)
            sconn_arm(c, EV_READ);
        break;
    }
}

static void srv_init(struct ev_loop *loop, enum srv_mode mode, const char *bind_addr)
{
    struct srv *sv = &S;

    memset(sv, 0, sizeof(*sv));
    sv->loop = loop;
    sv->mode = mode;
    sv->lfd = test_listen(bind_addr, 16, &sv->port);
    ev_io_init(&sv->accept_w, accept_cb, sv->lfd, EV_READ);
    sv->accept_w.data = sv;
    ev_io_start(loop, &sv->accept_w);
}

static void srv_rcvbuf(int bytes)
{
    assert_int_equal(setsockopt(S.lfd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

static void srv_free(void)
{
    ev_io_stop(S.loop, &S.accept_w);
    close(S.lfd);
    for (size_t i = 0; i < 4; i++)
        sconn_close(&S.conns[i]);
}

/* ---- hand-built frames ----------------------------------------------------------- */

struct frames {
    unsigned char buf[1 << 16];
    size_t len;
    nghttp2_hd_deflater *hd; /* one per stream of frames: HPACK has state */
};

static void fr_init(struct frames *f)
{
    f->len = 0;
    assert_int_equal(nghttp2_hd_deflate_new(&f->hd, 4096), 0);
}

static void fr_done(struct frames *f)
{
    nghttp2_hd_deflate_del(f->hd);
    f->hd = NULL;
}

static void fr_add(struct frames *f, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
                   size_t len)
{
    unsigned char *h = f->buf + f->len;

    assert_true(f->len + 9 + len <= sizeof(f->buf));
    h[0] = (unsigned char)(len >> 16);
    h[1] = (unsigned char)(len >> 8);
    h[2] = (unsigned char)len;
    h[3] = type;
    h[4] = flags;
    h[5] = (unsigned char)(sid >> 24);
    h[6] = (unsigned char)(sid >> 16);
    h[7] = (unsigned char)(sid >> 8);
    h[8] = (unsigned char)sid;
    if (len)
        memcpy(h + 9, payload, len);
    f->len += 9 + len;
}

/* A HEADERS frame (END_HEADERS) on stream 1 with name/value pairs,
 * NULL-terminated, encoded without any check of what they say. */
static void fr_headers(struct frames *f, uint8_t flags, ...)
{
    nghttp2_nv nva[16];
    size_t n = 0;
    unsigned char block[4096];
    ssize_t blen;
    va_list ap;

    va_start(ap, flags);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;)
        nv_fill(&nva[n++], name, va_arg(ap, const char *));
    va_end(ap);
    blen = nghttp2_hd_deflate_hd(f->hd, block, sizeof(block), nva, n);
    assert_true(blen > 0);
    fr_add(f, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, 1, block, (size_t)blen);
}

/* fr_init, then the empty SETTINGS a server sends first. */
static void fr_begin(struct frames *f)
{
    fr_init(f);
    fr_add(f, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

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

static void test_rst_stream(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){.rst = true, .rst_code = NGHTTP2_REFUSED_STREAM};
    struct h2c_client_request r = basic_req(S.port);
    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "RST_STREAM from server: REFUSED_STREAM");
    assert_int_equal(o.status, 0);
    free(o.body);
    srv_free();
}

/* A GOAWAY that leaves our stream out: its code and its debug text, made
 * printable, say why. */
static void test_goaway(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o = {0};

    srv_init(loop, M_H2, "127.0.0.1");
    S.plan = (struct plan){
        .goaway = true, .goaway_code = NGHTTP2_ENHANCE_YOUR_CALM, .goaway_debug = "slow\ndown"};
    struct h2c_client_request r = basic_req(S.port);
    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "GOAWAY from server: ENHANCE_YOUR_CALM: slow?down");
    free(o.body);

    /* a graceful one without debug text */
    S.plan = (struct plan){.goaway = true, .goaway_code = NGHTTP2_NO_ERROR};
    do_request(loop, &r, &o);
    assert_string_equal(o.error, "GOAWAY from server: NO_ERROR");
    free(o.body);

    /* a long debug text is cut, not the line it goes into */
    char debug[200], want[200];
    memset(debug, 'd', sizeof(debug) - 1);
    debug[sizeof(debug) - 1] = '\0';
    S.plan = (struct plan){.goaway = true, .goaway_code = NGHTTP2_INTERNAL_ERROR,
                           .goaway_debug = debug};
    do_request(loop, &r, &o);
    snprintf(want, sizeof(want), "GOAWAY from server: INTERNAL_ERROR: %.79s", debug);
    assert_string_equal(o.error, want);
    free(o.body);
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

    S.plan = (struct plan){.status = 200, .hdrs = many, .nhdrs = 66};
    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "response headers too large");
    free(o.body);

    S.plan = (struct plan){.status = 200, .hdrs = fat, .nhdrs = 20};
    do_request(loop, &r, &o);
    assert_false(o.ok);
    assert_string_equal(o.error, "response headers too large");
    free(o.body);
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
