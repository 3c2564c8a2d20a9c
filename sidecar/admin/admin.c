/* The admin endpoint's listener and connections (README "Admin / health endpoint"): non-blocking
 * accept, per-connection input/output buffers, keep-alive and pipelining (answers in order),
 * request limits, one deadline per connection, lingering close. What a request means is
 * admin_route.c's business.
 *
 * Hostile clients and the limits:
 *  - head > max_head: 431; declared body > max_body: 413; garbage: 400;
 *    each closes the connection (the framing can no longer be trusted);
 *  - a request not complete within request_timeout after the connection
 *    became ready for it (accept, or the previous answer): 408 and close,
 *    or a silent close when nothing of it arrived (idle keep-alive);
 *  - more than max_conns connections: the least recently active one is
 *    closed to make room (see accept_cb for why);
 *  - a client that pipelines but never reads: we stop reading it once
 *    OUT_HIGH bytes of answers wait, so its memory stays bounded.
 * A connection that opens with the HTTP/2 preface (h2c, prior knowledge)
 * is handed to an admin_h2 session: same routes, limits, deadline and
 * connection count; only the bytes in between differ. */
#include "sidecar/admin/admin.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/http1.h"
#include "sidecar/admin/admin_h2.h"
#include "sidecar/admin/admin_route.h"
#include "sidecar/admin/hacheck.h"
#include "sidecar/admin/listener.h"
#include "sidecar/log.h"
#include "proto/netaddr.h"

#define IN_INITIAL 1024       /* a health check is ~100 bytes; fits malloc's per-thread cache */
#define OUT_HIGH (256 * 1024) /* pending answers beyond which we stop reading */
#define LINGER_MAX 2.0        /* seconds we keep discarding input before a close */

struct admin_conn {
    struct listener_conn link; /* first: a->listener's list, least recently active first */
    struct admin *a;
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    ev_tstamp deadline; /* the current request (or the pending write) must be done by then */
    struct sockaddr_storage peer;
    char peer_text[NETADDR_STRLEN];
    bool trusted;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    bool continue_sent; /* "100 Continue" answered for the request in progress */
    bool closing;       /* the last answer is queued: read no more requests */
    bool lingering;     /* write side shut down: discarding input until EOF */
    bool graceful;      /* closing because the client asked (HTTP/1.0, Connection: close) */
    bool sniffed;       /* the first bytes were checked for the h2c preface */

    struct admin_h2 *h2; /* the HTTP/2 session, once the preface came */

    /* A live hacheck check answers later (README "hacheck compatibility"):
     * requests after it wait, so answers stay in order. */
    struct hacheck_live *pending;
    bool pending_head_only, pending_keep_alive, pending_http10;
    bool peer_eof; /* the peer half-closed while a check was pending */
};

struct admin {
    struct ev_loop *loop;
    struct admin_routes routes; /* the view, and the /health cache */
    struct listener listener;
    struct admin_limits lim;
    struct netaddr_cidr *allow;
    size_t nallow;
};

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_live_done(void *arg, struct hacheck_answer *ans);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- connections ---- */

static void conn_touch(struct admin_conn *c)
{
    listener_conn_touch(&c->a->listener, &c->link);
}

/* The least recently active connection, or NULL. */
static struct admin_conn *conn_oldest(struct admin *a)
{
    return (struct admin_conn *)a->listener.oldest;
}

static void conn_free(struct admin_conn *c)
{
    struct admin *a = c->a;
    ev_io_stop(a->loop, &c->rio);
    ev_io_stop(a->loop, &c->wio);
    ev_timer_stop(a->loop, &c->timer);
    close(c->fd);
    listener_conn_remove(&a->listener, &c->link);
    hacheck_cancel(c->pending);
    admin_h2_free(c->h2);
    free(c->in);
    free(c->out);
    free(c);
}

/* Moves the deadline earlier than the armed timer: re-arm it. (Moving it
 * later needs nothing: the timer callback re-arms for the remainder.) */
static void conn_deadline_sooner(struct admin_conn *c, ev_tstamp deadline)
{
    struct ev_loop *loop = c->a->loop;
    c->deadline = deadline;
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, deadline - ev_now(loop), 0.);
    ev_timer_start(loop, &c->timer);
}

/* ---- output ---- */

static int out_reserve(struct admin_conn *c, size_t more)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + more <= c->out_cap)
        return 0;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + more <= c->out_cap)
            return 0;
    }
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < c->out_len + more)
        cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
        return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int out_append(struct admin_conn *c, const char *data, size_t len)
{
    if (out_reserve(c, len) < 0)
        return -1;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

/* Queues one answer. extra: header lines ("Name: v\r\n") http1_write_head
 * does not write, spliced in before the blank line that ends the head. */
static int queue_answer(struct admin_conn *c, int status, const char *ctype, const char *body,
                        size_t len, bool with_body, bool keep_alive, const char *extra)
{
    char head[512];
    size_t hl = http1_write_head(head, sizeof(head), status, ctype, len, keep_alive);
    size_t el = extra ? strlen(extra) : 0;
    if (hl < 2 || hl + el > sizeof(head))
        return -1;
    if (el) {
        memcpy(head + hl - 2, extra, el);
        memcpy(head + hl - 2 + el, "\r\n", 2);
        hl += el;
    }
    if (out_reserve(c, hl + (with_body ? len : 0)) < 0)
        return -1;
    out_append(c, head, hl);
    if (with_body && len)
        out_append(c, body, len);
    return 0;
}

static int conn_after_write(struct admin_conn *c);

/* Writes what is pending; returns -1 when the connection was freed. */
static int conn_flush(struct admin_conn *c)
{
    struct ev_loop *loop = c->a->loop;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(loop, &c->wio);
                return 0;
            }
            conn_free(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    /* An idle keep-alive connection holds no buffer: with thousands of
     * load-balancer connections that is most of our memory (BENCHMARKS.md). */
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
    ev_io_stop(loop, &c->wio);
    return conn_after_write(c);
}

/* Everything written. A client that asked to close and sent nothing more
 * is closed at once (HAProxy's httpchk: one request per connection, so
 * this is the hot path). After an error answer, shut the write side (the
 * client sees EOF at once) and keep reading and discarding for a short
 * while before closing: a closed socket answers further input with a
 * reset, so a client still sending (a huge head, an upload) would see its
 * send fail and might never read the 431/413 waiting for it. Returns -1
 * when the connection was freed. */
static int conn_after_write(struct admin_conn *c)
{
    struct ev_loop *loop = c->a->loop;
    if (c->closing && c->graceful && !c->lingering && c->in_len == 0) {
        conn_free(c);
        return -1;
    }
    if (c->closing && !c->lingering) {
        c->lingering = true;
        c->in_len = 0;
        shutdown(c->fd, SHUT_WR);
        double linger =
            c->a->lim.request_timeout < LINGER_MAX ? c->a->lim.request_timeout : LINGER_MAX;
        conn_deadline_sooner(c, ev_now(loop) + linger);
        ev_io_start(loop, &c->rio);
    }
    return 0;
}

/* ---- requests ---- */

static bool expects_continue(const struct http1_request *req)
{
    const struct http1_header *h = http1_find_header(req->headers, req->nheaders, "expect");
    return h && h->value_len == 12 && strncasecmp(h->value, "100-continue", 12) == 0;
}

/* Answers a protocol error and stops reading requests. */
static void conn_fail(struct admin_conn *c, int status)
{
    const char *reason = http1_reason(status);
    char body[96];
    int n = snprintf(body, sizeof(body), "%s\n", reason);
    queue_answer(c, status, "text/plain; charset=utf-8", body, (size_t)n, true, false, NULL);
    c->closing = true;
}

/* HTTP/2: the session takes all input and yields the output; the
 * connection closes once the session is over. Returns -1 when the
 * connection was freed. */
static int conn_process_h2(struct admin_conn *c)
{
    struct ev_loop *loop = c->a->loop;
    long n = 0;

    if (c->in_len > 0) {
        if (admin_h2_recv(c->h2, c->in, c->in_len) > 0)
            c->deadline = ev_now(loop) + c->a->lim.request_timeout;
        c->in_len = 0;
    }
    while (c->out_len - c->out_off < OUT_HIGH) {
        const char *data;
        n = admin_h2_send(c->h2, &data);
        if (n == 0)
            break;
        if (n < 0 || out_append(c, data, (size_t)n) < 0) {
            conn_free(c);
            return -1;
        }
    }
    if (n == 0 && !admin_h2_alive(c->h2))
        c->closing = true;
    if (c->closing || c->out_len - c->out_off >= OUT_HIGH)
        ev_io_stop(loop, &c->rio);
    else
        ev_io_start(loop, &c->rio);
    return conn_flush(c);
}

/* Answers every complete request in the input buffer, in order. Returns
 * -1 when the connection was freed. */
static int conn_process(struct admin_conn *c)
{
    struct admin *a = c->a;
    struct ev_loop *loop = a->loop;

    if (!c->sniffed && c->in_len > 0) {
        int h2 = admin_h2_sniff(c->in, c->in_len);
        if (h2 == 0)
            return 0; /* so far a prefix of the preface: wait for more */
        c->sniffed = true;
        if (h2 > 0 && !(c->h2 = admin_h2_new(&a->routes, c->trusted, c->peer_text, a->lim.max_head,
                                             a->lim.max_body))) {
            conn_free(c);
            return -1;
        }
    }
    if (c->h2)
        return conn_process_h2(c);
    if (c->pending) {
        ev_io_stop(loop, &c->rio);
        return conn_flush(c);
    }
    while (!c->closing && !c->pending && c->in_len > 0 && c->out_len - c->out_off < OUT_HIGH) {
        struct http1_request req;
        long hl = http1_parse_request(c->in, c->in_len, a->lim.max_head, a->lim.max_body, &req);
        if (hl == 0)
            break;
        if (hl < 0) {
            conn_fail(c, req.error_status ? req.error_status : 400);
            break;
        }
        size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
        if (c->in_len < (size_t)hl + body_len) {
            if (!c->continue_sent && expects_continue(&req) && req.minor >= 1) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                out_append(c, cont, sizeof(cont) - 1);
                c->continue_sent = true;
            }
            break;
        }

        struct admin_reply r;
        bool head_only = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
        if (admin_route_async(&a->routes, &req, c->in + hl, c->trusted, c->peer_text, &r,
                              conn_live_done, c, &c->pending)) {
            c->pending_head_only = head_only;
            c->pending_keep_alive = req.keep_alive;
            c->pending_http10 = req.minor == 0;
            size_t used = (size_t)hl + body_len;
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
            c->continue_sent = false;
            c->deadline = ev_now(loop) + a->lim.request_timeout;
            break;
        }
        /* HTTP/1.0 clients keep the connection only when told so. */
        const char *extra = NULL;
        char extra_buf[128];
        if (r.allow) {
            snprintf(extra_buf, sizeof(extra_buf), "Allow: %s\r\n%s", r.allow,
                     req.keep_alive && req.minor == 0 ? "Connection: keep-alive\r\n" : "");
            extra = extra_buf;
        } else if (req.keep_alive && req.minor == 0) {
            extra = "Connection: keep-alive\r\n";
        }
        int qr = queue_answer(c, r.status, r.content_type, r.body, r.len, !head_only,
                              req.keep_alive, extra);
        free(r.body);
        if (qr < 0) {
            conn_free(c);
            return -1;
        }

        size_t used = (size_t)hl + body_len;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        c->continue_sent = false;
        /* The next request (or the write of this answer) gets a full period. */
        c->deadline = ev_now(loop) + a->lim.request_timeout;
        if (!req.keep_alive)
            c->closing = c->graceful = true;
    }
    if (c->in_len == 0 && c->in) {
        /* every request is answered: an idle connection keeps no buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }

    if (c->closing || c->pending || c->out_len - c->out_off >= OUT_HIGH)
        ev_io_stop(loop, &c->rio);
    else
        ev_io_start(loop, &c->rio);
    return conn_flush(c);
}

/* A live check answered: queue its answer, then go on with the requests
 * that waited behind it. */
static void conn_live_done(void *arg, struct hacheck_answer *ans)
{
    struct admin_conn *c = arg;
    const char *extra = c->pending_keep_alive && c->pending_http10 ? "Connection: keep-alive\r\n"
                                                                   : NULL;
    c->pending = NULL;
    int qr = queue_answer(c, ans->status, ans->content_type, ans->body, ans->len,
                          !c->pending_head_only, c->pending_keep_alive, extra);
    free(ans->body);
    if (qr < 0) {
        conn_free(c);
        return;
    }
    c->deadline = ev_now(c->a->loop) + c->a->lim.request_timeout;
    if (!c->pending_keep_alive)
        c->closing = c->graceful = true;
    if (c->peer_eof) {
        c->closing = true;
        c->lingering = true; /* nothing more to read: close once written */
    }
    if (c->closing) {
        ev_io_stop(c->a->loop, &c->rio);
        if (conn_flush(c) == 0 && c->peer_eof && c->out_off == c->out_len)
            conn_free(c);
        return;
    }
    conn_process(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = w->data;
    struct admin *a = c->a;

    if (c->lingering) {
        static char sink[65536]; /* contents never read: one for all connections */
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            conn_free(c);
        return;
    }

    /* Room for one whole request plus one byte, so that the parser can see a
     * head longer than max_head and answer 431. */
    size_t limit = a->lim.max_head + a->lim.max_body + 1;
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= limit) {
            /* full of complete requests waiting for output room */
            ev_io_stop(loop, &c->rio);
            return;
        }
        size_t cap = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
        if (cap > limit)
            cap = limit;
        char *p = realloc(c->in, cap);
        if (!p) {
            conn_free(c);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_free(c);
        return;
    }
    if (n == 0 && c->pending) {
        c->peer_eof = true; /* answered when the check is done */
        ev_io_stop(loop, &c->rio);
        return;
    }
    if (n == 0) {
        /* The peer finished sending. Answer what is complete (`printf ... |
         * nc` half-closes right after its request), then close. */
        if (conn_process(c) < 0)
            return;
        if (c->out_off == c->out_len)
            conn_free(c);
        else {
            c->closing = true;
            c->lingering = true; /* nothing more to read: close once written */
            ev_io_stop(loop, &c->rio);
        }
        return;
    }
    c->in_len += (size_t)n;
    conn_touch(c);
    conn_process(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = w->data;
    bool eof_seen = c->lingering && !ev_is_active(&c->rio);

    if (conn_flush(c) < 0)
        return;
    if (c->out_off == c->out_len) {
        if (eof_seen) {
            conn_free(c);
            return;
        }
        /* Output room again: continue with pipelined requests. */
        if (!c->closing)
            conn_process(c);
    }
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = w->data;
    ev_tstamp left = c->deadline - ev_now(loop);

    if (left > 0) {
        ev_timer_set(w, left, 0.);
        ev_timer_start(loop, w);
        return;
    }
    if (c->lingering || c->closing || c->out_off < c->out_len || c->in_len == 0) {
        /* done lingering, a write stuck for a whole period, or an idle
         * keep-alive connection: nothing useful to say */
        conn_free(c);
        return;
    }
    /* Part of a request arrived, not all of it in time (slowloris). */
    log_debug(NULL, "admin: %s: request not complete within %.1f s", c->peer_text,
              c->a->lim.request_timeout);
    conn_fail(c, 408);
    ev_io_stop(loop, &c->rio);
    c->deadline = ev_now(loop) + c->a->lim.request_timeout;
    ev_timer_set(w, c->a->lim.request_timeout, 0.);
    ev_timer_start(loop, w);
    conn_flush(c);
}

/* ---- listener ---- */

static void conn_new(struct admin *a, int fd, const struct sockaddr_storage *peer)
{
    struct admin_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->a = a;
    c->fd = fd;
    c->peer = *peer;
    netaddr_format((const struct sockaddr *)peer, c->peer_text, sizeof(c->peer_text));
    c->trusted = netaddr_peer_trusted((const struct sockaddr *)peer, a->allow, a->nallow);

    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    c->deadline = ev_now(a->loop) + a->lim.request_timeout;
    ev_timer_init(&c->timer, conn_timer_cb, a->lim.request_timeout, 0.);
    c->timer.data = c;
    ev_io_start(a->loop, &c->rio);
    ev_timer_start(a->loop, &c->timer);
    listener_conn_add(&a->listener, &c->link);
    /* A health checker's request has usually arrived with its handshake:
     * read it now rather than after one more trip through the loop. */
    conn_read_cb(a->loop, &c->rio, EV_READ);
}

static void on_accept(void *arg, int fd, const struct sockaddr_storage *peer)
{
    struct admin *a = arg;
    /* Full: close the least recently active connection rather than
     * refusing the new one or pausing accept. Either of those lets a client
     * that holds max_conns idle sockets (renewing them as they time out)
     * lock the load balancers out; evicting the quietest one keeps a client
     * that sends its request right away served, and a conforming client can
     * always retry. */
    if (a->listener.nconns >= a->lim.max_conns && conn_oldest(a))
        conn_free(conn_oldest(a));
    conn_new(a, fd, peer);
}

struct admin *admin_new(struct ev_loop *loop, const struct admin_view *view, const char *addr,
                        char *const *allow, size_t nallow, const struct admin_limits *limits,
                        char *err, size_t errlen)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->routes.view = *view;
    a->routes.hacheck = hacheck_new(loop);
    a->listener.fd = -1;
    a->lim = *limits;
    if (a->lim.max_conns == 0)
        a->lim.max_conns = 1;
    if (a->lim.request_timeout <= 0)
        a->lim.request_timeout = 10.0;
    if (nallow) {
        a->allow = calloc(nallow, sizeof(*a->allow));
        if (!a->allow) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < nallow; i++) {
        if (netaddr_cidr_parse(allow[i], &a->allow[i], err, errlen) < 0)
            goto fail;
    }
    a->nallow = nallow;

    if (listener_open(&a->listener, loop, addr, -1, "admin", on_accept, a, err, errlen) < 0)
        goto fail;
    /* Each answer goes out in one send(); with Nagle a second pipelined
     * answer would wait for the client's delayed ACK. Accepted sockets
     * inherit the option from the listener: one syscall, not one per
     * connection. */
    int one = 1;
    setsockopt(a->listener.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return a;

fail:
    admin_free(a);
    return NULL;
}

int admin_port(const struct admin *a)
{
    return a->listener.port;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    while (conn_oldest(a))
        conn_free(conn_oldest(a));
    listener_close(&a->listener);
    status_cache_clear(&a->routes.health);
    hacheck_free(a->routes.hacheck);
    free(a->allow);
    free(a);
}
