/* A minimal asynchronous HTTP/1.1 client on libev: one request on one fresh
 * connection (or, with a pool, a kept-alive one: proto/httpc_pool.h), with one deadline covering connect, (TLS handshake,) send and
 * receive; once the request is sent, the deadline counts from then, and it
 * fails the request only if the socket holds no answer when it fires (a
 * busy loop is not the server's delay). Used by the http and https probes and by the etcd backend (JSON
 * gateway). No policy. */
#ifndef MESHREG_HTTPC_H
#define MESHREG_HTTPC_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

/* Why an exchange failed, for callers that act on the kind of failure. */
enum httpc_error {
    HTTPC_ERR_NONE,
    HTTPC_ERR_SOCKET,   /* no socket (sys_errno) */
    HTTPC_ERR_CONNECT,  /* connect() failed (sys_errno) */
    HTTPC_ERR_SEND,     /* sys_errno (0 under TLS) */
    HTTPC_ERR_RECV,     /* sys_errno (0 under TLS) */
    HTTPC_ERR_TIMEOUT,  /* the deadline passed (stage says where) */
    HTTPC_ERR_CLOSED,   /* the peer closed before a whole response head */
    HTTPC_ERR_CUT,      /* the peer closed in the middle of the body */
    HTTPC_ERR_PROTOCOL, /* malformed head or chunking, unexpected status */
    HTTPC_ERR_NOMEM,
    HTTPC_ERR_OTHER, /* bad address or port, TLS */
};

/* How far the exchange got. */
enum httpc_stage { HTTPC_STAGE_CONNECT, HTTPC_STAGE_SEND, HTTPC_STAGE_RECEIVE };

struct httpc_result {
    int status;        /* HTTP status, or 0 when no valid response arrived */
    const char *error; /* transport error text when status == 0, else NULL */
    const char *body;  /* body bytes received (at most max_body), NUL-terminated */
    size_t body_len;
    double elapsed_ms;
    enum httpc_error error_kind; /* HTTPC_ERR_NONE when status != 0 */
    int sys_errno;               /* for SOCKET, CONNECT, SEND, RECV */
    enum httpc_stage stage;      /* where it ended (TLS handshake: CONNECT) */
};

typedef void (*httpc_cb)(void *arg, const struct httpc_result *res);

struct httpc;
struct httpc_pool;

struct httpc_request {
    const char *host; /* numeric IPv4/IPv6 address */
    int port;
    const char *method;        /* "GET", "POST", ... */
    const char *target;        /* "/status" */
    const char *host_header;   /* NULL: host:port */
    const char *extra_headers; /* preformatted "Name: value\r\n" lines, or NULL */
    const char *body;          /* NULL for none */
    size_t body_len;
    int timeout_ms;
    size_t max_body; /* bytes of body kept; the rest is read and dropped */
    /* HTTPS: TLS over the connection (proto/tls: OpenSSL loaded on first
     * use, peer certificate not verified). SNI is the host_header's host
     * when that is a name, else none. The process must ignore SIGPIPE. */
    bool tls;
    /* With tls: verify the server through this context (proto/tls.h
     * tls_ctx_new) against `host`; NULL: no verification (probes). */
    struct tls_ctx *tls_ctx;
    const char *tls_name; /* with tls_ctx: the name to verify (NULL: host) */
    /* Keep-alive (proto/httpc_pool.h): an idle connection to the same
     * endpoint from pool if there is one, given back after a delimited
     * response; a reused connection that fails before any byte of an
     * answer is replaced by a fresh one, once, so only requests that are
     * safe to repeat may use a pool. NULL: a fresh connection closed after
     * the exchange ("Connection: close"). */
    struct httpc_pool *pool;
};

/* Starts a request. The callback runs exactly once, never from inside
 * httpc_start, unless httpc_cancel() was called first; once it has run the
 * handle is freed (do not cancel it then). Every failure (bad address,
 * refused, reset, early close, TLS failure (including "cannot load
 * libssl.so.3: ..."), malformed head or chunking, deadline) is a
 * callback with status 0 and the reason in error. The body is delimited by
 * Content-Length, chunked encoding (decoded) or the connection's close.
 * timeout_ms < 1 counts as 1. Returns NULL only on allocation failure. */
struct httpc *httpc_start(struct ev_loop *loop, const struct httpc_request *req, httpc_cb cb,
                          void *arg);
/* Aborts and frees a request in flight; its callback will not run. */
void httpc_cancel(struct httpc *c);
/* Runs now, without waiting, whatever I/O the socket is ready for (an
 * answer that arrived while the loop was busy). Returns 1 if that ended
 * the request (the callback ran, c is freed), else 0. */
int httpc_poke(struct httpc *c);
/* When the whole request was sent (ev_time()), 0 while it was not. */
ev_tstamp httpc_sent_at(const struct httpc *c);

#endif
