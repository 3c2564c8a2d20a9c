/* TLS client connections over a caller's non-blocking socket, with OpenSSL
 * loaded at run time: dlopen("libssl.so.3") on the first tls_load(), and
 * only the dozen functions needed resolved with dlsym. A process that never
 * asks for TLS (no https probe) never maps libssl or libcrypto, and the
 * binary does not link them; it compiles against libssl-dev's headers only
 * for the types and constants. `make static` builds this file with
 * MESHREG_TLS_STATIC instead: OpenSSL is linked in and nothing is loaded.
 *
 * No certificate verification: the peer is the local app's health port,
 * reached over loopback, and a health check is not where its identity is
 * established (like nerve's and HAProxy's `check-ssl verify none`). The
 * connection gives the app the TLS it insists on, not authentication.
 *
 * OpenSSL writes to the socket with write(2), not send(MSG_NOSIGNAL): a
 * process using this must ignore SIGPIPE (the sidecar does).
 * Single-threaded use only, like the rest of meshreg. */
#ifndef MESHREG_TLS_H
#define MESHREG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Results of the operations below besides a byte count. */
#define TLS_ERROR (-1)
#define TLS_WANT_READ (-2)  /* retry once the socket is readable */
#define TLS_WANT_WRITE (-3) /* retry once the socket is writable */

struct tls_conn;

/* Loads libssl (and libcrypto) and creates the shared client context, once;
 * later calls return 0 at once. On failure returns -1 with the reason in err
 * ("cannot load libssl.so.3: ..."), and the next call tries again. */
int tls_load(char *err, size_t errlen);
/* Whether tls_load() has succeeded in this process. */
bool tls_loaded(void);
/* For tests: the library names tls_load() opens; NULL restores the default.
 * No effect once loaded. */
void tls_set_sonames(const char *ssl, const char *crypto);

/* A client connection on connected socket fd (not owned: the caller closes
 * it after tls_conn_free). sni: server name to send, or NULL for none (an
 * IP address must not be sent as SNI). Needs tls_load() first. NULL with
 * the reason in err on failure. */
struct tls_conn *tls_conn_new(int fd, const char *sni, char *err, size_t errlen);
/* Drives the handshake: 0 done, TLS_WANT_READ/TLS_WANT_WRITE, or TLS_ERROR
 * with the reason in err. */
int tls_conn_handshake(struct tls_conn *t, char *err, size_t errlen);
/* > 0 bytes read, 0 end of stream (close_notify or the peer closing the
 * socket without one, as many HTTP servers do), TLS_WANT_*, TLS_ERROR. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n, char *err, size_t errlen);
/* > 0 bytes written (all of n), TLS_WANT_*, TLS_ERROR. After a TLS_WANT_*
 * the same buffer and length must be passed again. */
ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t n, char *err, size_t errlen);
/* Decrypted bytes buffered inside the connection (invisible to poll). */
bool tls_conn_pending(const struct tls_conn *t);
/* Frees the connection (not the socket). NULL is a no-op. */
void tls_conn_free(struct tls_conn *t);

/* Verifying contexts, for etcds:// (README "Backend credentials"), unlike the
 * probes' context above: the server's certificate must chain to cafile (NULL:
 * the system store) and carry the host name or IP address connected to;
 * cert/key (both or neither) are the client certificate. Loads OpenSSL if
 * needed. NULL with "FILE: what OpenSSL said" in err. *cert_expires (if not
 * NULL): the client certificate's notAfter (unix time), 0 without one. */
struct tls_ctx;
struct tls_ctx *tls_ctx_new(const char *cafile, const char *cert, const char *key,
                            double *cert_expires, char *err, size_t errlen);
/* Another reference to t (a request in flight while its owner switches to
 * a new context); each reference and the creator's own end with
 * tls_ctx_free(), the last one frees. NULL stays NULL. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
void tls_ctx_free(struct tls_ctx *t);
/* Parses the files as tls_ctx_new would, for `meshreg check` (no
 * connection); *days_left: until the client certificate expires. */
int tls_check_files(const char *cafile, const char *cert, const char *key, int *days_left,
                    char *err, size_t errlen);
/* A connection that verifies the server against host (name or address);
 * a failed verification makes the handshake fail with OpenSSL's reason and
 * the verification error ("certificate verify failed: unable to get local
 * issuer certificate"). */
struct tls_conn *tls_conn_new_verified(struct tls_ctx *ctx, int fd, const char *host, char *err,
                                       size_t errlen);

#endif
