/* One HTTP/2 request over cleartext, with nghttp2 driven from libev: one
 * ev_io on the socket, always interested in reading, interested in writing
 * only while nghttp2_session_want_write() says so, plus one ev_timer that is
 * the deadline and, set to 0, the way an immediate error is reported
 * without calling back from inside h2c_client_start().
 *
 * nghttp2's callbacks only record what happened (headers, data, END_STREAM,
 * RST_STREAM, GOAWAY, stream closed) in the struct; the decision to finish
 * is taken after nghttp2_session_recv/send have returned, so the session is
 * never freed from inside one of its own callbacks. */
#include "proto/h2c_client.h"
#include "proto/tcpconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

/* Reads per wakeup: a peer streaming without end must not keep us away
 * from the loop (and from our own deadline). */
#define H2C_READS_PER_WAKEUP 16
/* Cap on the response's header and trailer fields, names and values. */
#define H2C_MAX_HEADER_BYTES (16 * 1024)
#define H2C_MAX_HEADERS 64
/* I/O steps one h2c_client_poke() runs at most. */
#define H2C_POKE_STEPS 8
/* A deadline this close is as good as reached. */
#define H2C_DEADLINE_SLACK_S 0.001

struct h2c_client {
    struct ev_loop *loop;
    ev_io io;
    ev_timer timer;
    int fd;
    int io_events; /* what io is armed for, 0 when stopped */
    bool connected;
    bool pending_error; /* timer set to 0 to report errbuf */
    int timeout_ms;
    ev_tstamp t0;
    ev_tstamp sent_at; /* the request is all written; 0 before */
    bool *gone;        /* set when c is freed while a poke runs */
    h2c_client_cb cb;
    void *arg;

    nghttp2_session *session;
    int32_t stream_id;
    int reads; /* recv calls during this wakeup */

    unsigned char *out; /* request body */
    size_t out_len, out_off;

    int status;
    struct h2c_header hdrs[H2C_MAX_HEADERS];
    size_t nhdrs, hdr_bytes;
    bool hdrs_too_large;
    unsigned char *body;
    size_t body_len, body_cap, max_body;
    bool truncated;

    bool remote_ended; /* the server ended our stream (END_STREAM) */
    bool closed;       /* our stream is closed, for whatever reason */
    uint32_t close_code;
    bool rst;
    uint32_t rst_code;
    bool goaway_in, goaway_out; /* GOAWAY received / sent by nghttp2 */
    uint32_t goaway_in_code, goaway_out_code;
    int32_t goaway_last;
    char goaway_in_debug[80], goaway_out_debug[80];

    char errbuf[200];
};

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void release(struct h2c_client *c)
{
    if (c->gone)
        *c->gone = true;
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    nghttp2_session_del(c->session);
    c->session = NULL;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    for (size_t i = 0; i < c->nhdrs; i++)
        free((char *)c->hdrs[i].name); /* name and value share one block */
    free(c->out);
    free(c->body);
    free(c);
}

/* Ends the exchange: calls back once and frees. fmt NULL with ok false
 * reports errbuf as it is. Nothing may touch c afterwards. */
static void finish(struct h2c_client *c, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct h2c_client *c, bool ok, const char *fmt, ...)
{
    struct h2c_client_result res = {0};

    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
        va_end(ap);
    }
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    res.error = ok ? NULL : c->errbuf;
    res.status = c->status;
    res.headers = c->hdrs;
    res.nheaders = c->nhdrs;
    res.body = c->body ? c->body : (const unsigned char *)"";
    res.body_len = c->body_len;
    res.body_truncated = c->truncated;
    res.elapsed_ms = (ev_time() - c->t0) * 1000.0;
    c->cb(c->arg, &res);
    release(c);
}

static void defer_error(struct h2c_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void defer_error(struct h2c_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
    va_end(ap);
    c->pending_error = true;
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->loop, &c->timer);
}

/* Copies a peer's text for a one-line detail: printable ASCII only. */
static void printable(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
    size_t o = 0;

    for (size_t i = 0; i < inlen && o + 1 < outlen; i++)
        out[o++] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
    if (outlen)
        out[o] = '\0';
}

/* ---- nghttp2 callbacks: record, never finish ------------------------------ */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
    struct h2c_client *c = user;

    for (;;) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return NGHTTP2_ERR_WOULDBLOCK;
        snprintf(c->errbuf, sizeof(c->errbuf), "send: %s", strerror(errno));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
}

static ssize_t recv_cb(nghttp2_session *s, uint8_t *buf, size_t len, int flags, void *user)
{
    struct h2c_client *c = user;

    if (c->reads >= H2C_READS_PER_WAKEUP)
        return NGHTTP2_ERR_WOULDBLOCK; /* the level-triggered io brings us back */
    c->reads++;
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);

        if (n > 0)
            return n;
        if (n == 0)
            return NGHTTP2_ERR_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return NGHTTP2_ERR_WOULDBLOCK;
        snprintf(c->errbuf, sizeof(c->errbuf), "recv: %s", strerror(errno));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
}

static ssize_t body_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct h2c_client *c = user;
    size_t n = c->out_len - c->out_off;

    if (n > len)
        n = len;
    memcpy(buf, c->out + c->out_off, n);
    c->out_off += n;
    if (c->out_off == c->out_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    struct h2c_client *c = user;
    char *block;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->stream_id)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        /* nghttp2 has checked it is three digits; a 1xx is interim and the
         * final head's status replaces it. */
        c->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        return 0;
    }
    if (name[0] == ':')
        return 0;
    c->hdr_bytes += namelen + valuelen;
    if (c->nhdrs >= H2C_MAX_HEADERS || c->hdr_bytes > H2C_MAX_HEADER_BYTES) {
        c->hdrs_too_large = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    }
    block = malloc(namelen + valuelen + 2);
    if (!block)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(block, name, namelen);
    block[namelen] = '\0';
    memcpy(block + namelen + 1, value, valuelen);
    block[namelen + 1 + valuelen] = '\0';
    c->hdrs[c->nhdrs].name = block;
    c->hdrs[c->nhdrs].value = block + namelen + 1;
    c->nhdrs++;
    return 0;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
    struct h2c_client *c = user;
    size_t room, take;

    if (stream_id != c->stream_id)
        return 0;
    room = c->max_body - c->body_len;
    take = len < room ? len : room;
    if (take < len)
        c->truncated = true;
    if (take == 0)
        return 0;
    if (c->body_len + take > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 256;
        unsigned char *nb;

        while (cap < c->body_len + take)
            cap *= 2;
        if (cap > c->max_body)
            cap = c->max_body;
        nb = realloc(c->body, cap);
        if (!nb)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        c->body = nb;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, take);
    c->body_len += take;
    return 0;
}

static int frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct h2c_client *c = user;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        if (frame->hd.stream_id == c->stream_id && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            c->remote_ended = true;
        break;
    case NGHTTP2_RST_STREAM:
        if (frame->hd.stream_id == c->stream_id) {
            c->rst = true;
            c->rst_code = frame->rst_stream.error_code;
        }
        break;
    case NGHTTP2_GOAWAY:
        c->goaway_in = true;
        c->goaway_in_code = frame->goaway.error_code;
        c->goaway_last = frame->goaway.last_stream_id;
        printable(c->goaway_in_debug, sizeof(c->goaway_in_debug), frame->goaway.opaque_data,
                  frame->goaway.opaque_data_len);
        break;
    }
    return 0;
}

/* nghttp2 sends GOAWAY itself when the peer breaks the protocol (garbage,
 * no SETTINGS first, bad frames); its debug text says what was wrong. */
static int frame_send_cb(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct h2c_client *c = user;

    if (frame->hd.type == NGHTTP2_GOAWAY && !c->goaway_out) {
        c->goaway_out = true;
        c->goaway_out_code = frame->goaway.error_code;
        printable(c->goaway_out_debug, sizeof(c->goaway_out_debug), frame->goaway.opaque_data,
                  frame->goaway.opaque_data_len);
    }
    return 0;
}

static int stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
    struct h2c_client *c = user;

    if (stream_id == c->stream_id) {
        c->closed = true;
        c->close_code = error_code;
    }
    return 0;
}

/* ---- driving the session -------------------------------------------------- */

/* Why the exchange failed, from what the callbacks recorded, into errbuf.
 * `fallback` describes the event when nothing more specific is known. */
static void explain(struct h2c_client *c, const char *fallback)
{
    if (c->hdrs_too_large)
        snprintf(c->errbuf, sizeof(c->errbuf), "response headers too large");
    else if (c->goaway_out)
        snprintf(c->errbuf, sizeof(c->errbuf), "bad HTTP/2 from server: %s%s%s",
                 nghttp2_http2_strerror(c->goaway_out_code), c->goaway_out_debug[0] ? ": " : "",
                 c->goaway_out_debug);
    else if (c->rst)
        snprintf(c->errbuf, sizeof(c->errbuf), "RST_STREAM from server: %s",
                 nghttp2_http2_strerror(c->rst_code));
    else if (c->goaway_in)
        snprintf(c->errbuf, sizeof(c->errbuf), "GOAWAY from server: %s%s%s",
                 nghttp2_http2_strerror(c->goaway_in_code), c->goaway_in_debug[0] ? ": " : "",
                 c->goaway_in_debug);
    else if (c->closed)
        snprintf(c->errbuf, sizeof(c->errbuf), "stream closed: %s",
                 nghttp2_http2_strerror(c->close_code));
    else
        snprintf(c->errbuf, sizeof(c->errbuf), "%s", fallback);
}

static void arm(struct h2c_client *c, int events)
{
    if (events == c->io_events)
        return;
    ev_io_stop(c->loop, &c->io);
    c->io_events = events;
    if (!events)
        return;
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->loop, &c->io);
}

/* One wakeup's worth of work: read what is there, write what nghttp2 has
 * queued, then finish or re-arm for what the session wants next. */
static void step(struct h2c_client *c, bool readable)
{
    int rv;

    c->reads = 0;
    if (readable) {
        rv = nghttp2_session_recv(c->session);
        if (rv == NGHTTP2_ERR_EOF) {
            if (c->closed && c->remote_ended) {
                finish(c, true, NULL);
                return;
            }
            explain(c, c->status ? "connection closed mid-response"
                                 : "connection closed without response");
            finish(c, false, NULL);
            return;
        }
        if (rv == NGHTTP2_ERR_CALLBACK_FAILURE) {
            if (!c->errbuf[0])
                snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
            finish(c, false, NULL);
            return;
        }
        if (rv != 0) {
            /* e.g. NGHTTP2_ERR_FLOODED: nghttp2 gave up on the peer */
            explain(c, nghttp2_strerror(rv));
            finish(c, false, NULL);
            return;
        }
    }
    rv = nghttp2_session_send(c->session);
    if (rv != 0) {
        if (rv != NGHTTP2_ERR_CALLBACK_FAILURE || !c->errbuf[0])
            snprintf(c->errbuf, sizeof(c->errbuf), "HTTP/2: %s", nghttp2_strerror(rv));
        finish(c, false, NULL);
        return;
    }
    if (c->closed) {
        if (c->remote_ended) {
            finish(c, true, NULL);
            return;
        }
        explain(c, "stream closed");
        finish(c, false, NULL);
        return;
    }
    if (c->sent_at == 0 && !nghttp2_session_want_write(c->session))
        c->sent_at = ev_time();
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) {
        explain(c, "HTTP/2 session ended");
        finish(c, false, NULL);
        return;
    }
    arm(c, EV_READ | (nghttp2_session_want_write(c->session) ? EV_WRITE : 0));
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct h2c_client *c = w->data;

    if (!c->connected) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            finish(c, false, "connect: %s", strerror(soerr));
            return;
        }
        c->connected = true;
        step(c, false);
        return;
    }
    step(c, (revents & EV_READ) != 0);
}

/* Runs the I/O the socket is ready for now. 1: the request ended. */
static int progress(struct h2c_client *c)
{
    bool gone = false;

    for (int i = 0; i < H2C_POKE_STEPS && c->fd >= 0 && c->io_events; i++) {
        struct pollfd pfd = {.fd = c->fd};
        int revents = 0;

        pfd.events = (short)(((c->io_events & EV_READ) ? POLLIN : 0) |
                             ((c->io_events & EV_WRITE) ? POLLOUT : 0));
        if (poll(&pfd, 1, 0) <= 0)
            return 0;
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
            revents |= EV_READ;
        if (pfd.revents & POLLOUT)
            revents |= EV_WRITE;
        c->gone = &gone;
        io_cb(c->loop, &c->io, revents & c->io_events ? revents & c->io_events : c->io_events);
        if (gone)
            return 1;
        c->gone = NULL;
    }
    return 0;
}

int h2c_client_poke(struct h2c_client *c)
{
    if (!c || c->pending_error)
        return 0;
    return progress(c);
}

ev_tstamp h2c_client_sent_at(const struct h2c_client *c)
{
    return c ? c->sent_at : 0;
}

/* The deadline fails the request only if the socket holds no answer and
 * the request left at least timeout_ms ago. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct h2c_client *c = w->data;
    double left;

    if (c->pending_error) {
        finish(c, false, NULL);
        return;
    }
    if (progress(c))
        return;
    left = (c->sent_at > 0 ? c->sent_at : c->t0) + c->timeout_ms / 1000.0 - ev_time();
    if (left > H2C_DEADLINE_SLACK_S) {
        ev_timer_set(&c->timer, left, 0.);
        ev_timer_start(loop, &c->timer);
        return;
    }
    finish(c, false, "timeout after %d ms", c->timeout_ms);
}

/* Creates the session and queues the preface's SETTINGS and the request;
 * nothing is sent until the socket is connected. */
static int session_setup(struct h2c_client *c, const struct h2c_client_request *req,
                         const char *authority)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_data_provider prd = {.source.ptr = c, .read_callback = body_read_cb};
    size_t n = 4 + req->nheaders;
    nghttp2_nv *nva;
    int rv;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_recv_callback(cbs, recv_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
    rv = nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -1;
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 1) != 0)
        return -1;
    nva = calloc(n, sizeof(*nva));
    if (!nva)
        return -1;
#define NV(i, k, v)                                                                                \
    do {                                                                                           \
        nva[i].name = (uint8_t *)(k);                                                              \
        nva[i].namelen = strlen(k);                                                                \
        nva[i].value = (uint8_t *)(v);                                                             \
        nva[i].valuelen = strlen(v);                                                               \
    } while (0)
    NV(0, ":method", req->method ? req->method : "GET");
    NV(1, ":scheme", "http");
    NV(2, ":path", req->path && req->path[0] ? req->path : "/");
    NV(3, ":authority", authority);
    for (size_t i = 0; i < req->nheaders; i++)
        NV(4 + i, req->headers[i].name, req->headers[i].value);
#undef NV
    /* nghttp2 copies names and values (no NO_COPY flags). */
    c->stream_id = nghttp2_submit_request(c->session, NULL, nva, n, req->body ? &prd : NULL, c);
    free(nva);
    return c->stream_id < 0 ? -1 : 0;
}

struct h2c_client *h2c_client_start(struct ev_loop *loop, const struct h2c_client_request *req,
                                    h2c_client_cb cb, void *arg)
{
    struct h2c_client *c = calloc(1, sizeof(*c));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    char authority[80];

    if (!c)
        return NULL;
    c->loop = loop;
    c->fd = -1;
    c->cb = cb;
    c->arg = arg;
    c->t0 = ev_time();
    c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 1;
    c->max_body = req->max_body;
    ev_io_init(&c->io, io_cb, -1, EV_WRITE);
    c->io.data = c;
    ev_timer_init(&c->timer, timer_cb, c->timeout_ms / 1000.0, 0.);
    c->timer.data = c;
    /* After the I/O of the same loop iteration: see timer_cb. */
    ev_set_priority(&c->timer, EV_MINPRI);

    sslen = tcpconn_addr(req->host, req->port, &ss);
    if (sslen)
        snprintf(authority, sizeof(authority), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                 req->host, req->port);
    if (req->body) {
        c->out = malloc(req->body_len ? req->body_len : 1);
        if (!c->out) {
            free(c);
            return NULL;
        }
        memcpy(c->out, req->body, req->body_len);
        c->out_len = req->body_len;
    }
    if (session_setup(c, req, req->authority ? req->authority : sslen ? authority : "") < 0) {
        release(c);
        return NULL;
    }
    ev_timer_start(loop, &c->timer);
    if (sslen == 0) {
        if (req->port <= 0 || req->port > 65535)
            defer_error(c, "bad port %d", req->port);
        else
            defer_error(c, "bad address \"%s\"", req->host ? req->host : "(null)");
        return c;
    }
    char why[160];
    if ((c->fd = tcpconn_start(&ss, sslen, why, sizeof(why))) < 0) {
        defer_error(c, "%s", why);
        return c;
    }
    /* Connected or not, wait for writability: never send or call back here. */
    arm(c, EV_WRITE);
    return c;
}

void h2c_client_cancel(struct h2c_client *c)
{
    if (!c)
        return;
    release(c);
}

const char *h2c_client_result_header(const struct h2c_client_result *res, const char *name)
{
    for (size_t i = res->nheaders; i > 0; i--)
        if (strcmp(res->headers[i - 1].name, name) == 0)
            return res->headers[i - 1].value;
    return NULL;
}
