/* A minimal asynchronous HTTP/1.1 client: one request, one fresh connection
 * (or one kept alive in a proto/httpc_pool), one deadline. The exchange is a small state machine driven by one ev_io
 * (connect -> [TLS handshake ->] send -> receive head -> receive body) and
 * one ev_timer that is both the deadline and, set to 0, the way immediate
 * errors are reported without calling back from inside httpc_start().
 *
 * Bytes move through xsend/xrecv: plain send/recv, or proto/tls. With TLS
 * the direction to wait for is what OpenSSL asks (a read may need the
 * socket writable and the reverse), so those set the io's events. */
#include "proto/httpc.h"
#include "proto/tcpconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/http1.h"
#include "proto/httpc_pool.h"
#include "proto/tls.h"

/* Largest response head accepted; health and etcd answers are far smaller. */
#define HTTPC_MAX_HEAD (32 * 1024)
/* The head buffer starts this small and grows on demand: thousands of
 * probes in flight must not hold HTTPC_MAX_HEAD each. */
#define HTTPC_HEAD_INITIAL 1024
/* I/O steps one httpc_poke() runs at most (connect, send, reads). */
#define HTTPC_POKE_STEPS 8
/* A deadline this close is as good as reached. */
#define HTTPC_DEADLINE_SLACK_S 0.001
/* Cap on a chunk-size line's extensions and on the trailer section. */
#define HTTPC_MAX_CHUNK_META (8 * 1024)
#define HTTPC_READS_PER_WAKEUP 16

enum httpc_phase { PH_CONNECT, PH_HANDSHAKE, PH_SEND, PH_HEAD, PH_BODY };

/* xsend/xrecv: nothing can move now; io is armed for what will unblock it */
#define XFER_AGAIN (-2)

enum httpc_body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };


struct httpc {
    struct ev_loop *loop;
    ev_io io;
    ev_timer timer;
    int fd;
    int io_events;        /* what io is armed for */
    struct tls_conn *tls; /* once connected, for an https request */
    bool want_tls;
    char sni[256]; /* "" for none */
    struct tls_ctx *verify; /* verify the server as verify_host (etcds://), or NULL */
    char verify_host[256];
    enum httpc_phase phase;
    bool pending_error; /* timer set to 0 to report errbuf */
    int timeout_ms;
    ev_tstamp t0;
    ev_tstamp sent_at; /* the request is all sent; 0 before */
    bool *gone;        /* set when c is freed while a poke runs */
    httpc_cb cb;
    void *arg;
    bool head_only; /* HEAD request: no body whatever the headers say */

    char *out; /* the whole request */
    size_t out_len, out_off;

    char *head; /* response head being received, up to HTTPC_MAX_HEAD bytes */
    size_t head_len, head_cap;
    size_t received; /* total bytes received */
    int status;

    enum httpc_body_mode mode;
    unsigned long long remaining; /* BODY_LENGTH: bytes left */
    struct http1_chunked chunk;   /* BODY_CHUNKED */

    char *body;
    size_t body_len, body_cap, max_body;

    char errbuf[160];
    enum httpc_error kind; /* of the failure being reported */
    int sys_errno;

    /* Keep-alive (proto/httpc_pool.h): the connection came from pool when
     * reused; keep: the response allows another request after it. */
    struct httpc_pool *pool;
    char pool_key[HTTPC_POOL_KEY_MAX];
    unsigned pool_gen;
    bool reused, keep;
    struct sockaddr_storage ss; /* for a retry on a fresh connection */
    socklen_t sslen;
};

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void conn_close(struct httpc *c)
{
    tls_conn_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Arms io for events (EV_READ and/or EV_WRITE) if it is not already. */
static void arm(struct httpc *c, int events)
{
    if (events == c->io_events && ev_is_active(&c->io))
        return;
    ev_io_stop(c->loop, &c->io);
    c->io_events = events;
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->loop, &c->io);
}

static void httpc_release(struct httpc *c)
{
    if (c->gone)
        *c->gone = true;
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    conn_close(c);
    tls_ctx_free(c->verify);
    free(c->out);
    free(c->head);
    free(c->body);
    free(c);
}

/* Records the kind of the failure about to be reported. */
static void fail_kind(struct httpc *c, enum httpc_error kind, int sys_errno)
{
    c->kind = kind;
    c->sys_errno = sys_errno;
}

/* A request on a reused connection failed before any byte of an answer:
 * the server had closed the idle connection (EOF, reset, broken pipe), as
 * it may at any moment between requests. Sent again, once, on a fresh
 * connection: without an answer the server either never read the request
 * or dropped it with the connection, and a pool's user sends only requests
 * that are safe to repeat (README "Backend credentials": the etcd backend's
 * calls). Any byte of an answer, or the deadline, makes the failure final.
 * Returns true when the request goes on. */
static bool retry_fresh(struct httpc *c)
{
    char why[160];

    if (c->received != 0 || (c->kind != HTTPC_ERR_SEND && c->kind != HTTPC_ERR_RECV &&
                             c->kind != HTTPC_ERR_CLOSED))
        return false;
    ev_io_stop(c->loop, &c->io);
    conn_close(c);
    c->reused = false;
    c->out_off = 0;
    c->sent_at = 0;
    c->phase = PH_CONNECT;
    if ((c->fd = tcpconn_start(&c->ss, c->sslen, why, sizeof(why))) < 0) {
        fail_kind(c, HTTPC_ERR_CONNECT, errno);
        snprintf(c->errbuf, sizeof(c->errbuf), "%s", why);
        return false;
    }
    c->kind = HTTPC_ERR_NONE;
    c->sys_errno = 0;
    httpc_pool_count(c->pool, true);
    arm(c, EV_WRITE);
    return true;
}

/* Ends the exchange: calls back once and frees. status 0 means failure, with
 * the reason in fmt. Nothing may touch c afterwards. */
static void finish(struct httpc *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct httpc *c, int status, const char *fmt, ...)
{
    struct httpc_result res = {0};

    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
        va_end(ap);
    }
    if (status == 0 && c->reused && retry_fresh(c))
        return;
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    if (status != 0 && c->pool && c->keep && c->mode != BODY_CLOSE) {
        httpc_pool_give(c->pool, c->pool_key, c->pool_gen, c->fd, c->tls);
        c->fd = -1;
        c->tls = NULL;
    }
    conn_close(c);
    res.status = status;
    res.error = status == 0 ? c->errbuf : NULL;
    res.body = (status != 0 && c->body) ? c->body : "";
    res.body_len = status != 0 ? c->body_len : 0;
    res.elapsed_ms = (ev_time() - c->t0) * 1000.0;
    res.error_kind = status != 0 ? HTTPC_ERR_NONE : c->kind ? c->kind : HTTPC_ERR_OTHER;
    res.sys_errno = status == 0 ? c->sys_errno : 0;
    res.stage = c->phase <= PH_HANDSHAKE ? HTTPC_STAGE_CONNECT
                : c->phase == PH_SEND    ? HTTPC_STAGE_SEND
                                         : HTTPC_STAGE_RECEIVE;
    c->cb(c->arg, &res);
    httpc_release(c);
}

/* Reports an error from the next loop iteration (used where calling back
 * now would be synchronous to httpc_start). */
static void defer_error(struct httpc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void defer_error(struct httpc *c, const char *fmt, ...)
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

/* Keeps body bytes up to max_body; the rest is dropped. */
static int keep_body(struct httpc *c, const char *p, size_t n)
{
    size_t room = c->max_body - c->body_len;

    if (n > room)
        n = room;
    if (n == 0)
        return 0;
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        char *nb;

        while (cap < c->body_len + n + 1)
            cap *= 2;
        if (cap > c->max_body + 1)
            cap = c->max_body + 1;
        nb = realloc(c->body, cap);
        if (!nb)
            return -1;
        c->body = nb;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return 0;
}

/* Decodes chunked framing. Returns 1 when the last chunk and trailers are
 * in, 0 for more, -1 malformed (errbuf set). */
static int feed_chunked(struct httpc *c, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (c->chunk.state == HTTP1_CH_DATA) {
            size_t take = n - i;
            if (take > c->chunk.remaining)
                take = (size_t)c->chunk.remaining;
            if (keep_body(c, p + i, take) < 0) {
                fail_kind(c, HTTPC_ERR_NOMEM, 0);
                snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
                return -1;
            }
            i += take;
            c->chunk.remaining -= take;
            if (c->chunk.remaining == 0)
                c->chunk.state = HTTP1_CH_DATA_CR;
            continue;
        }
        int rc = http1_chunked_byte(&c->chunk, p[i++], HTTPC_MAX_CHUNK_META);
        if (rc < 0) {
            fail_kind(c, HTTPC_ERR_PROTOCOL, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "malformed chunked body");
            return -1;
        }
        if (rc > 0) {
            c->keep = c->keep && i == n;
            return 1;
        }
    }
    return 0;
}

/* Body bytes. Returns 1 complete, 0 more, -1 error (errbuf set). */
static int feed_body(struct httpc *c, const char *p, size_t n)
{
    switch (c->mode) {
    case BODY_NONE:
        return 1;
    case BODY_LENGTH: {
        size_t take = n;
        if (take > c->remaining)
            take = (size_t)c->remaining;
        if (keep_body(c, p, take) < 0) {
            fail_kind(c, HTTPC_ERR_NOMEM, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
            return -1;
        }
        c->remaining -= take;
        c->keep = c->keep && take == n; /* bytes past the end: out of step */
        return c->remaining == 0;
    }
    case BODY_CHUNKED:
        return feed_chunked(c, p, n);
    case BODY_CLOSE:
        if (keep_body(c, p, n) < 0) {
            fail_kind(c, HTTPC_ERR_NOMEM, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
            return -1;
        }
        return 0;
    }
    return -1;
}

/* Parses the head once it is complete and picks the body framing. Returns
 * 1 complete (no body), 0 more, -1 error; *used is the head length. */
static int parse_head(struct httpc *c, long *used)
{
    struct http1_response r;
    long n;

    for (;;) {
        n = http1_parse_response(c->head, c->head_len, HTTPC_MAX_HEAD, &r);
        if (n < 0) {
            fail_kind(c, HTTPC_ERR_PROTOCOL, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "malformed response head");
            return -1;
        }
        if (n == 0) {
            if (c->head_len >= HTTPC_MAX_HEAD) {
                fail_kind(c, HTTPC_ERR_PROTOCOL, 0);
                snprintf(c->errbuf, sizeof(c->errbuf), "response head too large");
                return -1;
            }
            return 0;
        }
        /* Interim 1xx answers (100 Continue, 103 Early Hints) precede the
         * real one; 101 would switch protocols, which we never ask for. */
        if (r.status >= 100 && r.status < 200 && r.status != 101) {
            memmove(c->head, c->head + n, c->head_len - (size_t)n);
            c->head_len -= (size_t)n;
            continue;
        }
        break;
    }
    if (r.status < 200) {
        fail_kind(c, HTTPC_ERR_PROTOCOL, 0);
        snprintf(c->errbuf, sizeof(c->errbuf), "unexpected status %d", r.status);
        return -1;
    }
    c->status = r.status;
    c->keep = r.keep_alive;
    *used = n;
    if (c->head_only || r.status == 204 || r.status == 304) {
        c->mode = BODY_NONE;
    } else if (r.chunked) {
        c->mode = BODY_CHUNKED;
        memset(&c->chunk, 0, sizeof(c->chunk));
    } else if (r.content_length >= 0) {
        c->mode = BODY_LENGTH;
        c->remaining = (unsigned long long)r.content_length;
        if (c->remaining == 0)
            c->mode = BODY_NONE;
    } else {
        c->mode = BODY_CLOSE;
    }
    c->phase = PH_BODY;
    return c->mode == BODY_NONE ? 1 : 0;
}

/* Received bytes. Returns 1 complete, 0 more, -1 error (errbuf set). */
static int feed(struct httpc *c, const char *p, size_t n)
{
    if (c->phase == PH_HEAD) {
        size_t take = HTTPC_MAX_HEAD - c->head_len;
        long used = 0;
        int rc;

        if (take > n)
            take = n;
        if (c->head_len + take > c->head_cap) {
            size_t cap = c->head_cap ? c->head_cap : HTTPC_HEAD_INITIAL;
            char *nh;

            while (cap < c->head_len + take)
                cap *= 2;
            if (cap > HTTPC_MAX_HEAD)
                cap = HTTPC_MAX_HEAD;
            if (!(nh = realloc(c->head, cap))) {
                fail_kind(c, HTTPC_ERR_NOMEM, 0);
                snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
                return -1;
            }
            c->head = nh;
            c->head_cap = cap;
        }
        memcpy(c->head + c->head_len, p, take);
        c->head_len += take;
        rc = parse_head(c, &used);
        if (rc > 0)
            c->keep = c->keep && (size_t)used == c->head_len && take == n;
        if (rc != 0)
            return rc;
        if (c->phase == PH_HEAD)
            return 0;
        /* Head done: what followed it in the buffer, then the rest of p. */
        rc = feed_body(c, c->head + used, c->head_len - (size_t)used);
        if (rc > 0)
            c->keep = c->keep && take == n;
        if (rc != 0)
            return rc;
        p += take;
        n -= take;
        if (n == 0)
            return 0;
    }
    return feed_body(c, p, n);
}

static void on_eof(struct httpc *c)
{
    if (c->phase == PH_HEAD) {
        fail_kind(c, HTTPC_ERR_CLOSED, 0);
        if (c->received == 0)
            finish(c, 0, "connection closed without response");
        else
            finish(c, 0, "connection closed in response head");
        return;
    }
    if (c->mode == BODY_CLOSE) {
        finish(c, c->status, NULL);
        return;
    }
    fail_kind(c, HTTPC_ERR_CUT, 0);
    finish(c, 0, "connection closed mid-body");
}

/* Sets io for what TLS asked; returns XFER_AGAIN, or -1 on error. */
static ssize_t tls_wait(struct httpc *c, ssize_t rc)
{
    if (rc == TLS_WANT_READ) {
        arm(c, EV_READ);
        return XFER_AGAIN;
    }
    if (rc == TLS_WANT_WRITE) {
        arm(c, EV_WRITE);
        return XFER_AGAIN;
    }
    return -1;
}

/* > 0 bytes sent, XFER_AGAIN, or -1 with the reason in errbuf. */
static ssize_t xsend(struct httpc *c, const char *p, size_t n)
{
    char why[128];
    ssize_t rc;

    if (c->tls) {
        rc = tls_conn_write(c->tls, p, n, why, sizeof(why));
        if (rc > 0)
            return rc;
        if (rc == TLS_ERROR) {
            fail_kind(c, HTTPC_ERR_SEND, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "TLS send: %s", why);
        }
        return tls_wait(c, rc);
    }
    for (;;) {
        rc = send(c->fd, p, n, MSG_NOSIGNAL);
        if (rc >= 0)
            return rc;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            arm(c, EV_WRITE);
            return XFER_AGAIN;
        }
        fail_kind(c, HTTPC_ERR_SEND, errno);
        snprintf(c->errbuf, sizeof(c->errbuf), "send: %s", strerror(c->sys_errno));
        return -1;
    }
}

/* > 0 bytes received, 0 end of stream, XFER_AGAIN, or -1 (errbuf). */
static ssize_t xrecv(struct httpc *c, char *p, size_t n)
{
    char why[128];
    ssize_t rc;

    if (c->tls) {
        rc = tls_conn_read(c->tls, p, n, why, sizeof(why));
        if (rc >= 0)
            return rc;
        if (rc == TLS_ERROR) {
            fail_kind(c, HTTPC_ERR_RECV, 0);
            snprintf(c->errbuf, sizeof(c->errbuf), "TLS recv: %s", why);
        }
        return tls_wait(c, rc);
    }
    for (;;) {
        rc = recv(c->fd, p, n, 0);
        if (rc >= 0)
            return rc;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            arm(c, EV_READ);
            return XFER_AGAIN;
        }
        fail_kind(c, HTTPC_ERR_RECV, errno);
        snprintf(c->errbuf, sizeof(c->errbuf), "recv: %s", strerror(c->sys_errno));
        return -1;
    }
}

static void do_read(struct httpc *c)
{
    char buf[16384];

    /* A bounded number of reads per wakeup: a peer streaming without end
     * must not keep us in here, away from the loop and our own deadline. */
    for (int i = 0; i < HTTPC_READS_PER_WAKEUP; i++) {
        ssize_t n = xrecv(c, buf, sizeof(buf));
        int rc;

        if (n == 0) {
            on_eof(c);
            return;
        }
        if (n == XFER_AGAIN)
            return;
        if (n < 0) {
            finish(c, 0, NULL);
            return;
        }
        c->received += (size_t)n;
        rc = feed(c, buf, (size_t)n);
        if (rc < 0) {
            finish(c, 0, NULL);
            return;
        }
        if (rc > 0) {
            finish(c, c->status, NULL);
            return;
        }
    }
    /* Out of turns. Decrypted bytes already inside TLS would not wake the
     * socket's io: come back for them on the next loop iteration. */
    if (c->tls && tls_conn_pending(c->tls))
        ev_feed_event(c->loop, &c->io, EV_READ);
}

static void do_send(struct httpc *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = xsend(c, c->out + c->out_off, c->out_len - c->out_off);

        if (n == XFER_AGAIN)
            return;
        if (n < 0) {
            finish(c, 0, NULL);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->sent_at = ev_time();
    c->phase = PH_HEAD;
    arm(c, EV_READ);
}

static void do_handshake(struct httpc *c)
{
    char why[128];
    int rc = tls_conn_handshake(c->tls, why, sizeof(why));

    if (rc == 0) {
        c->phase = PH_SEND;
        do_send(c);
        return;
    }
    if (tls_wait(c, rc) == XFER_AGAIN)
        return;
    fail_kind(c, HTTPC_ERR_OTHER, 0);
    finish(c, 0, "TLS handshake: %s", why);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpc *c = w->data;

    if (c->phase == PH_CONNECT) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            fail_kind(c, HTTPC_ERR_CONNECT, soerr);
            finish(c, 0, "connect: %s", strerror(soerr));
            return;
        }
        c->phase = c->want_tls ? PH_HANDSHAKE : PH_SEND;
        if (c->want_tls) {
            char why[128];

            c->tls = c->verify ? tls_conn_new_verified(c->verify, c->fd, c->verify_host, why,
                                                       sizeof(why))
                               : tls_conn_new(c->fd, c->sni[0] ? c->sni : NULL, why, sizeof(why));
            if (!c->tls) {
                fail_kind(c, HTTPC_ERR_OTHER, 0);
                finish(c, 0, "TLS: %s", why);
                return;
            }
        }
    }
    if (c->phase == PH_HANDSHAKE) {
        do_handshake(c);
        return;
    }
    if (c->phase == PH_SEND) {
        do_send(c);
        return;
    }
    do_read(c);
}

/* Runs the I/O the socket is ready for now. 1: the request ended. */
static int progress(struct httpc *c)
{
    bool gone = false;

    for (int i = 0; i < HTTPC_POKE_STEPS && c->fd >= 0 && ev_is_active(&c->io); i++) {
        struct pollfd pfd = {.fd = c->fd};
        int revents = 0;
        enum httpc_phase phase = c->phase;
        size_t received = c->received, sent = c->out_off;

        pfd.events = (short)(((c->io_events & EV_READ) ? POLLIN : 0) |
                             ((c->io_events & EV_WRITE) ? POLLOUT : 0));
        if (poll(&pfd, 1, 0) > 0)
            revents = c->io_events;
        else if (c->tls && c->phase >= PH_HEAD && tls_conn_pending(c->tls))
            revents = EV_READ;
        if (!revents)
            return 0;
        c->gone = &gone;
        io_cb(c->loop, &c->io, revents);
        if (gone)
            return 1;
        c->gone = NULL;
        if (c->phase == phase && c->received == received && c->out_off == sent)
            return 0;
    }
    return 0;
}

int httpc_poke(struct httpc *c)
{
    if (!c || c->pending_error)
        return 0;
    return progress(c);
}

ev_tstamp httpc_sent_at(const struct httpc *c)
{
    return c ? c->sent_at : 0;
}

/* The deadline fails the request only if the socket holds no answer and
 * the request left at least timeout_ms ago. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpc *c = w->data;
    double left;

    if (c->pending_error) {
        finish(c, 0, NULL);
        return;
    }
    if (progress(c))
        return;
    left = (c->sent_at > 0 ? c->sent_at : c->t0) + c->timeout_ms / 1000.0 - ev_time();
    if (left > HTTPC_DEADLINE_SLACK_S) {
        ev_timer_set(&c->timer, left, 0.);
        ev_timer_start(loop, &c->timer);
        return;
    }
    fail_kind(c, HTTPC_ERR_TIMEOUT, 0);
    finish(c, 0, "timeout after %d ms", c->timeout_ms);
}

/* Formats the whole request into c->out. */
static int build_request(struct httpc *c, const struct httpc_request *req, bool v6)
{
    const char *method = req->method ? req->method : "GET";
    const char *target = req->target && req->target[0] ? req->target : "/";
    const char *extra = req->extra_headers ? req->extra_headers : "";
    char hostbuf[80];
    const char *host = req->host_header;
    char clen[48] = "";
    int head_len;

    if (!host) {
        snprintf(hostbuf, sizeof(hostbuf), v6 ? "[%s]:%d" : "%s:%d", req->host ? req->host : "",
                 req->port);
        host = hostbuf;
    }
    if (req->body)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", req->body_len);
    /* HTTP/1.1 keeps the connection open unless told otherwise. */
    const char *conn = req->pool ? "" : "Connection: close\r\n";
    head_len = snprintf(NULL, 0, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", method, target,
                        host, extra, clen, conn);
    if (head_len < 0)
        return -1;
    c->out_len = (size_t)head_len + (req->body ? req->body_len : 0);
    c->out = malloc(c->out_len + 1);
    if (!c->out)
        return -1;
    snprintf(c->out, (size_t)head_len + 1, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", method,
             target, host, extra, clen, conn);
    if (req->body && req->body_len)
        memcpy(c->out + head_len, req->body, req->body_len);
    return 0;
}

/* SNI: the Host header's host when it is a name. An IP literal must not
 * be sent (RFC 6066 §3), and without a Host header there is only the
 * numeric address we connect to. */
static void tls_sni(const char *host_header, char *out, size_t outlen)
{
    const char *h = host_header, *end;
    struct in6_addr a6;
    size_t n;

    out[0] = '\0';
    if (!h || !h[0] || h[0] == '[')
        return; /* none, or a bracketed IPv6 literal */
    end = strchr(h, ':');
    n = end ? (size_t)(end - h) : strlen(h);
    if (n == 0 || n >= outlen)
        return;
    memcpy(out, h, n);
    out[n] = '\0';
    if (inet_pton(AF_INET, out, &a6) == 1)
        out[0] = '\0';
}

struct httpc *httpc_start(struct ev_loop *loop, const struct httpc_request *req, httpc_cb cb,
                          void *arg)
{
    struct httpc *c = calloc(1, sizeof(*c));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    bool v6 = false;

    if (!c)
        return NULL;
    c->loop = loop;
    c->fd = -1;
    c->cb = cb;
    c->arg = arg;
    c->t0 = ev_time();
    c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 1;
    c->max_body = req->max_body;
    c->head_only = req->method && strcmp(req->method, "HEAD") == 0;
    c->phase = PH_CONNECT;
    ev_io_init(&c->io, io_cb, -1, EV_WRITE);
    c->io.data = c;
    ev_timer_init(&c->timer, timer_cb, c->timeout_ms / 1000.0, 0.);
    c->timer.data = c;
    /* After the I/O of the same loop iteration: see timer_cb. */
    ev_set_priority(&c->timer, EV_MINPRI);

    sslen = tcpconn_addr(req->host, req->port, &ss);
    v6 = sslen && ss.ss_family == AF_INET6;
    if (build_request(c, req, v6) < 0) {
        free(c->out);
        free(c);
        return NULL;
    }
    ev_timer_start(loop, &c->timer);
    if (req->tls) {
        char why[160];

        c->want_tls = true;
        tls_sni(req->host_header, c->sni, sizeof(c->sni));
        c->verify = tls_ctx_ref(req->tls_ctx); /* the owner may switch contexts meanwhile */
        snprintf(c->verify_host, sizeof(c->verify_host), "%s",
                 req->tls_name ? req->tls_name : req->host ? req->host : "");
        if (tls_load(why, sizeof(why)) < 0) {
            fail_kind(c, HTTPC_ERR_OTHER, 0);
            defer_error(c, "%s", why);
            return c;
        }
    }
    if (sslen == 0) {
        fail_kind(c, HTTPC_ERR_OTHER, 0);
        if (req->port <= 0 || req->port > 65535)
            defer_error(c, "bad port %d", req->port);
        else
            defer_error(c, "bad address \"%s\"", req->host ? req->host : "(null)");
        return c;
    }
    if ((c->pool = req->pool)) {
        c->ss = ss;
        c->sslen = sslen;
        c->pool_gen = httpc_pool_gen(c->pool);
        httpc_pool_key(c->pool_key, sizeof(c->pool_key), c->want_tls, c->verify, req->host,
                       req->port, c->verify ? c->verify_host : c->sni);
        if (httpc_pool_take(c->pool, c->pool_key, &c->fd, &c->tls)) {
            c->reused = true;
            c->phase = PH_SEND;
            arm(c, EV_WRITE);
            return c;
        }
        httpc_pool_count(c->pool, false);
    }
    char why[160];
    if ((c->fd = tcpconn_start(&ss, sslen, why, sizeof(why))) < 0) {
        /* tcpconn's reason names the call that failed, errno its cause */
        fail_kind(c, strncmp(why, "socket:", 7) == 0 ? HTTPC_ERR_SOCKET : HTTPC_ERR_CONNECT, errno);
        defer_error(c, "%s", why);
        return c;
    }
    /* Connected or not, wait for writability (the PH_CONNECT check then
     * passes at once): never send or call back from here. */
    arm(c, EV_WRITE);
    return c;
}

void httpc_cancel(struct httpc *c)
{
    if (!c)
        return;
    httpc_release(c);
}
