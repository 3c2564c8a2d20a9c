/* h2c on the admin port: one nghttp2 server session per connection, driven
 * with mem_recv/mem_send so that admin.c keeps every socket concern.
 *
 * A request is complete at END_STREAM (on its HEADERS, or on its last
 * DATA); it then becomes the same struct http1_request the HTTP/1.1 path
 * builds and goes through admin_route(). The limits mirror HTTP/1.1:
 *  - decoded header bytes (name + value + 32 each, HPACK's own measure)
 *    over max_head, or more than HTTP1_MAX_HEADERS headers: 431;
 *  - body over max_body: 413;
 *  - at most MAX_STREAMS streams at once (SETTINGS), and at most
 *    CONN_BUDGET_FACTOR * (max_head + max_body) request bytes held by one
 *    connection over all its open streams (a stream that would pass it
 *    gets 431/413), so an HTTP/2 client holds no more memory than a few
 *    HTTP/1.1 ones;
 * an error answer goes out at once and the rest of that request is
 * refused with RST_STREAM(NO_ERROR), as RFC 9113 §8.1 allows. Timeouts and
 * the connection limit are admin.c's, shared with HTTP/1.1. */
#include "sidecar/admin/admin_h2.h"

#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "sidecar/admin/admin_route.h"
#include "proto/netaddr.h"

#define MAX_STREAMS 32
#define CONN_BUDGET_FACTOR 2
#define HPACK_ENTRY_OVERHEAD 32

struct span {
    uint32_t off, len;
};

struct h2_stream {
    struct admin_h2 *h;
    struct h2_stream *prev, *next; /* h->streams */
    int32_t id;
    char *hbuf; /* every header name and value, back to back */
    size_t hlen, hcap;
    size_t hsize; /* HPACK-measured header size */
    struct span method, path;
    bool has_authority;
    struct span names[HTTP1_MAX_HEADERS], values[HTTP1_MAX_HEADERS];
    size_t nheaders;
    char *body;
    size_t blen, bcap;
    size_t held; /* bytes counted in h->held */
    int error;   /* 431 or 413: answer that at once */
    bool complete, answered, head_only;
    struct admin_reply reply;
    size_t sent;
};

struct admin_h2 {
    nghttp2_session *session;
    struct admin_routes *rt;
    bool trusted;
    bool failed;
    char peer[NETADDR_STRLEN];
    size_t max_head, max_body, budget, held;
    int answered;              /* during one admin_h2_recv() */
    struct h2_stream *streams; /* open ones, freed with the session */
};

int admin_h2_sniff(const char *buf, size_t len)
{
    size_t n = len < NGHTTP2_CLIENT_MAGIC_LEN ? len : NGHTTP2_CLIENT_MAGIC_LEN;
    if (memcmp(buf, NGHTTP2_CLIENT_MAGIC, n) != 0)
        return -1;
    return n == NGHTTP2_CLIENT_MAGIC_LEN ? 1 : 0;
}

static void stream_free(struct h2_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->h->held -= s->held;
    free(s->hbuf);
    free(s->body);
    free(s->reply.body);
    free(s);
}

/* Counts n more request bytes against the connection; false when the
 * connection's budget would be passed. */
static bool hold(struct h2_stream *s, size_t n)
{
    if (s->h->held + n > s->h->budget)
        return false;
    s->h->held += n;
    s->held += n;
    return true;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static int store(struct h2_stream *s, const uint8_t *p, size_t n, struct span *out)
{
    if (grow(&s->hbuf, &s->hcap, s->hlen + n + 1) < 0)
        return -1;
    memcpy(s->hbuf + s->hlen, p, n);
    out->off = (uint32_t)s->hlen;
    out->len = (uint32_t)n;
    s->hlen += n;
    s->hbuf[s->hlen++] = '\0';
    return 0;
}

/* ---- answers ---- */

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    struct h2_stream *s = source->ptr;
    size_t left = s->reply.len - s->sent;
    size_t n = left < length ? left : length;
    memcpy(buf, s->reply.body + s->sent, n);
    s->sent += n;
    if (s->sent == s->reply.len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void error_reply(struct h2_stream *s, int status)
{
    const char *reason = http1_reason(status);
    size_t n = strlen(reason);
    s->reply.status = status;
    s->reply.content_type = "text/plain; charset=utf-8";
    s->reply.body = malloc(n + 1);
    if (s->reply.body) {
        memcpy(s->reply.body, reason, n);
        s->reply.body[n] = '\n';
        s->reply.len = n + 1;
    }
}

static void route(struct h2_stream *s)
{
    struct http1_request req;
    memset(&req, 0, sizeof(req));
    req.method = s->hbuf + s->method.off;
    req.method_len = s->method.len;
    req.target = s->hbuf + s->path.off;
    req.target_len = s->path.len;
    req.minor = 1;
    for (size_t i = 0; i < s->nheaders; i++) {
        req.headers[i].name = s->hbuf + s->names[i].off;
        req.headers[i].name_len = s->names[i].len;
        req.headers[i].value = s->hbuf + s->values[i].off;
        req.headers[i].value_len = s->values[i].len;
    }
    req.nheaders = s->nheaders;
    req.content_length = (long long)s->blen;
    req.keep_alive = true;
    req.has_host = s->has_authority || http1_find_header(req.headers, req.nheaders, "host");
    s->head_only = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
    admin_route(s->h->rt, &req, s->body ? s->body : "", s->h->trusted, s->h->peer, &s->reply);
}

static void answer(struct admin_h2 *h, struct h2_stream *s)
{
    char status[4], clen[24];
    nghttp2_nv nv[4];
    size_t nnv = 0;

    s->answered = true;
    if (s->error)
        error_reply(s, s->error);
    else
        route(s);
    if (!s->reply.body)
        s->reply.len = 0;
    snprintf(status, sizeof(status), "%03d", s->reply.status % 1000);
    snprintf(clen, sizeof(clen), "%zu", s->reply.len);
#define NV(n, v)                                                                                   \
    (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nv[nnv++] = NV(":status", status);
    if (s->reply.content_type)
        nv[nnv++] = NV("content-type", s->reply.content_type);
    nv[nnv++] = NV("content-length", clen);
    if (s->reply.allow)
        nv[nnv++] = NV("allow", s->reply.allow);
#undef NV
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read_cb};
    bool with_body = !s->head_only && s->reply.len > 0;
    if (nghttp2_submit_response(h->session, s->id, nv, nnv, with_body ? &prd : NULL) != 0)
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    h->answered++;
    /* The request is over; only the reply (and its bytes) stays. */
    free(s->body);
    s->body = NULL;
    s->blen = s->bcap = 0;
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct admin_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* this stream is reset */
    s->h = h;
    s->id = frame->hd.stream_id;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct admin_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: nothing of ours reads them */
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || s->error)
        return 0;
    s->hsize += namelen + valuelen + HPACK_ENTRY_OVERHEAD;
    if (s->hsize > h->max_head || !hold(s, namelen + valuelen + 2)) {
        s->error = 431;
        return 0;
    }
    int rc = 0;
    if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        rc = store(s, value, valuelen, &s->method);
    } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        rc = store(s, value, valuelen, &s->path);
    } else if (namelen > 0 && name[0] == ':') {
        /* :scheme, :authority (our Host); nghttp2 has checked them */
        s->has_authority |= namelen == 10 && memcmp(name, ":authority", 10) == 0;
    } else if (s->nheaders == HTTP1_MAX_HEADERS) {
        s->error = 431;
    } else {
        rc = store(s, name, namelen, &s->names[s->nheaders]);
        if (rc == 0)
            rc = store(s, value, valuelen, &s->values[s->nheaders]);
        s->nheaders++;
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    struct admin_h2 *h = user_data;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || s->error || s->answered)
        return 0; /* discarded; the flow-control window is still given back */
    if (s->blen + len > h->max_body || !hold(s, len)) {
        s->error = 413;
        return 0;
    }
    if (grow(&s->body, &s->bcap, s->blen + len + 1) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    memcpy(s->body + s->blen, data, len);
    s->blen += len;
    s->body[s->blen] = '\0';
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct admin_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        s->complete = true;
    if (!s->answered && (s->complete || s->error))
        answer(h, s);
    return 0;
}

/* An error answer went out before the request ended: ask the client to
 * stop sending the rest (RFC 9113 §8.1). */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s && s->error && !s->complete)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        stream_free(s);
    }
    return 0;
}

/* ---- session ---- */

struct admin_h2 *admin_h2_new(struct admin_routes *rt, bool trusted, const char *peer,
                              size_t max_head, size_t max_body)
{
    nghttp2_session_callbacks *cbs = NULL;
    struct admin_h2 *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->rt = rt;
    h->trusted = trusted;
    snprintf(h->peer, sizeof(h->peer), "%s", peer ? peer : "?");
    h->max_head = max_head;
    h->max_body = max_body;
    h->budget = CONN_BUDGET_FACTOR * (max_head + max_body);

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        goto fail;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rc = nghttp2_session_server_new(&h->session, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        goto fail;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)max_head},
    };
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
        goto fail;
    return h;
fail:
    admin_h2_free(h);
    return NULL;
}

int admin_h2_recv(struct admin_h2 *h, const char *data, size_t len)
{
    if (h->failed)
        return -1;
    h->answered = 0;
    ssize_t n = nghttp2_session_mem_recv(h->session, (const uint8_t *)data, len);
    if (n < 0) {
        /* flooding, bad magic, out of memory: say GOAWAY if we still can */
        h->failed = true;
        nghttp2_session_terminate_session(h->session, n == NGHTTP2_ERR_NOMEM
                                                          ? NGHTTP2_INTERNAL_ERROR
                                                          : NGHTTP2_ENHANCE_YOUR_CALM);
        return -1;
    }
    return h->answered;
}

long admin_h2_send(struct admin_h2 *h, const char **data)
{
    const uint8_t *p = NULL;
    ssize_t n = nghttp2_session_mem_send(h->session, &p);
    *data = (const char *)p;
    return n < 0 ? -1 : (long)n;
}

bool admin_h2_alive(struct admin_h2 *h)
{
    if (h->failed)
        return false;
    return nghttp2_session_want_read(h->session) || nghttp2_session_want_write(h->session);
}

void admin_h2_free(struct admin_h2 *h)
{
    if (!h)
        return;
    /* nghttp2_session_del() does not report the streams it drops */
    nghttp2_session_del(h->session);
    while (h->streams)
        stream_free(h->streams);
    free(h);
}
