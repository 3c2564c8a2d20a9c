/* Keep-alive for proto/httpc: idle HTTP/1.1 connections (socket and, for
 * https, its TLS session) kept per endpoint so that the next request to the
 * same endpoint skips connect and handshake. A request joins a pool through
 * httpc_request.pool; httpc takes an idle connection from it, and gives the
 * connection back after a response whose end was delimited (Content-Length,
 * chunked end, no body) and that did not say "Connection: close". Anything
 * else (a transport error, a deadline, a body delimited by the close)
 * closes it. Used by the etcd backend; probes keep one connection per probe.
 *
 * An idle connection is watched: the server closing it (or sending anything
 * unasked) closes it here, and so does the idle timeout. The endpoint key
 * includes the TLS context, so connections made with older TLS material are
 * never reused once the caller switched contexts (httpc_pool_flush closes
 * them at once). Single-threaded, one loop. */
#ifndef MESHREG_HTTPC_POOL_H
#define MESHREG_HTTPC_POOL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

struct tls_conn;
struct httpc_pool;

/* max_idle: idle connections kept per endpoint (0: none, i.e. keep-alive
 * off); idle_timeout_s: an idle connection is closed after that long.
 * NULL on allocation failure. */
struct httpc_pool *httpc_pool_new(struct ev_loop *loop, int max_idle, double idle_timeout_s);
/* Closes every idle connection. Requests still using a connection of this
 * pool must have ended or been cancelled first. NULL is a no-op. */
void httpc_pool_free(struct httpc_pool *p);
/* Closes every idle connection, and makes those now in use be closed
 * instead of kept when their request ends: after a transport error, an
 * endpoint switch, new credentials or TLS files. */
void httpc_pool_flush(struct httpc_pool *p);
/* Idle connections now (all endpoints). */
size_t httpc_pool_idle(const struct httpc_pool *p);
/* Connections the pool's requests opened / took from the idle list / sent
 * again on a fresh connection after the reused one turned out closed,
 * since httpc_pool_new. */
struct httpc_pool_stats {
    unsigned long opened, reused, retried;
};
struct httpc_pool_stats httpc_pool_stats(const struct httpc_pool *p);

/* ---- for proto/httpc.c ---- */

/* The endpoint of a request, as a key: scheme, TLS context, address, port
 * and the name verified or sent as SNI. */
#define HTTPC_POOL_KEY_MAX 400
void httpc_pool_key(char *key, size_t keylen, bool tls, const void *tls_ctx, const char *host,
                    int port, const char *tls_name);
/* The pool's generation: a connection opened before the last flush is not
 * kept. */
unsigned httpc_pool_gen(const struct httpc_pool *p);
/* Takes the most recently used idle connection to key, checked to be still
 * open; false when there is none. Counts a reuse. */
bool httpc_pool_take(struct httpc_pool *p, const char *key, int *fd, struct tls_conn **tls);
/* Gives a connection back after a complete exchange. It is closed instead
 * when it belongs to an older generation, has bytes waiting, or the
 * endpoint already has max_idle idle connections. Takes ownership. */
void httpc_pool_give(struct httpc_pool *p, const char *key, unsigned gen, int fd,
                     struct tls_conn *tls);
/* Counts a fresh connection / a retry (for httpc_pool_stats). */
void httpc_pool_count(struct httpc_pool *p, bool retry);

#endif
