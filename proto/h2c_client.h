/* A minimal asynchronous HTTP/2 client over cleartext (h2c with prior
 * knowledge, RFC 9113 §3.3) on libev and nghttp2: one request on one fresh
 * connection, one deadline covering connect, send and receive. Used by the
 * grpc probe. No policy: the caller judges the response. */
#ifndef MESHREG_H2C_CLIENT_H
#define MESHREG_H2C_CLIENT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

struct h2c_header {
    const char *name; /* lower-case, as HTTP/2 requires */
    const char *value;
};

struct h2c_client_result {
    /* NULL when the stream completed (the server ended it); otherwise why
     * not: connect or socket error, HTTP/2 protocol error, the server's
     * RST_STREAM or GOAWAY, connection closed early, timeout. */
    const char *error;
    int status; /* :status of the final response head, 0 if none arrived */
    /* Response header fields then trailer fields, in arrival order. */
    const struct h2c_header *headers;
    size_t nheaders;
    const unsigned char *body; /* at most max_body bytes of DATA */
    size_t body_len;
    bool body_truncated; /* more DATA came than max_body (and was dropped) */
    double elapsed_ms;
};

typedef void (*h2c_client_cb)(void *arg, const struct h2c_client_result *res);

struct h2c_client;

struct h2c_client_request {
    const char *host; /* numeric IPv4/IPv6 address */
    int port;
    const char *method;    /* "POST" */
    const char *path;      /* "/grpc.health.v1.Health/Check" */
    const char *authority; /* NULL: host:port */
    /* Further request header fields (lower-case names, no pseudo-headers). */
    const struct h2c_header *headers;
    size_t nheaders;
    const void *body; /* NULL for none (the HEADERS frame ends the stream) */
    size_t body_len;
    int timeout_ms; /* < 1 counts as 1 */
    size_t max_body;
};

/* Starts a request. The callback runs exactly once, never from inside
 * h2c_client_start, unless h2c_client_cancel() was called first; the
 * result and everything it points to are valid only during the callback,
 * after which the handle is freed (do not cancel it then). Returns NULL
 * only on allocation failure. */
struct h2c_client *h2c_client_start(struct ev_loop *loop, const struct h2c_client_request *req,
                                    h2c_client_cb cb, void *arg);
/* Aborts and frees a request in flight (its session, socket and buffers);
 * its callback will not run. NULL is a no-op. */
void h2c_client_cancel(struct h2c_client *c);
/* Runs now, without waiting, whatever I/O the socket is ready for. Returns
 * 1 if that ended the request (the callback ran, c is freed), else 0. Once
 * the request is written the deadline counts from then, and it fails the
 * request only if the socket holds no answer when it fires. */
int h2c_client_poke(struct h2c_client *c);
/* When the request was all written (ev_time()), 0 while it was not. */
ev_tstamp h2c_client_sent_at(const struct h2c_client *c);

/* The value of the last field called `name` among headers and trailers
 * (trailers win, as they come last), or NULL. */
const char *h2c_client_result_header(const struct h2c_client_result *res, const char *name);

#endif
