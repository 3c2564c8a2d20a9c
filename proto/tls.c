/* OpenSSL by dlopen: see tls.h for why. The headers give the exact types
 * (through __typeof__, so a mismatch with the real prototypes is a compile
 * error), the library is found at run time. Nothing here names an OpenSSL
 * function directly, so the object file has no reference for the linker to
 * resolve against libssl: `ldd meshreg` shows none.
 *
 * Built with -DMESHREG_TLS_STATIC (`make static`), the same table is filled
 * with the functions' own addresses instead and OpenSSL is linked in: a
 * static binary cannot dlopen a shared library. Nothing else changes. */
#include "proto/tls.h"

#ifndef MESHREG_TLS_STATIC
#include <dlfcn.h>
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>

#define TLS_SSL_SONAME "libssl.so.3"
#define TLS_CRYPTO_SONAME "libcrypto.so.3"

#define TLS_FUNCS(X)                                                                               \
    X(ssl, TLS_client_method)                                                                      \
    X(ssl, SSL_CTX_new)                                                                            \
    X(ssl, SSL_CTX_set_verify)                                                                     \
    X(ssl, SSL_CTX_set_options)                                                                    \
    X(ssl, SSL_new)                                                                                \
    X(ssl, SSL_free)                                                                               \
    X(ssl, SSL_set_fd)                                                                             \
    X(ssl, SSL_ctrl)                                                                               \
    X(ssl, SSL_connect)                                                                            \
    X(ssl, SSL_read)                                                                               \
    X(ssl, SSL_write)                                                                              \
    X(ssl, SSL_get_error)                                                                          \
    X(ssl, SSL_pending)                                                                            \
    X(ssl, SSL_CTX_free)                                                                           \
    X(ssl, SSL_CTX_load_verify_locations)                                                          \
    X(ssl, SSL_CTX_set_default_verify_paths)                                                       \
    X(ssl, SSL_CTX_use_certificate_chain_file)                                                     \
    X(ssl, SSL_CTX_use_PrivateKey_file)                                                            \
    X(ssl, SSL_CTX_check_private_key)                                                              \
    X(ssl, SSL_CTX_get0_certificate)                                                               \
    X(ssl, SSL_set1_host)                                                                          \
    X(ssl, SSL_get0_param)                                                                         \
    X(ssl, SSL_get_verify_result)                                                                  \
    X(crypto, ERR_peek_last_error)                                                                 \
    X(crypto, ERR_reason_error_string)                                                             \
    X(crypto, ERR_clear_error)                                                                     \
    X(crypto, X509_VERIFY_PARAM_set1_ip_asc)                                                       \
    X(crypto, X509_verify_cert_error_string)                                                       \
    X(crypto, X509_get0_notAfter)                                                                  \
    X(crypto, ASN1_TIME_diff)

static struct {
    void *ssl, *crypto; /* dlopen handles */
    SSL_CTX *ctx;       /* shared by every connection, for the process's life */
#define X(lib, fn) __typeof__(&fn) fn;
    TLS_FUNCS(X)
#undef X
} api;

static const char *ssl_soname = TLS_SSL_SONAME;
static const char *crypto_soname = TLS_CRYPTO_SONAME;

struct tls_conn {
    SSL *ssl;
    bool verify; /* a verifying context: name the verification failure */
};

struct tls_ctx {
    SSL_CTX *ctx;
    int refs; /* tls_ctx_ref()s not yet freed, besides the creator's */
};

void tls_set_sonames(const char *ssl, const char *crypto)
{
    ssl_soname = ssl ? ssl : TLS_SSL_SONAME;
    crypto_soname = crypto ? crypto : TLS_CRYPTO_SONAME;
}

bool tls_loaded(void)
{
    return api.ctx != NULL;
}

#ifdef MESHREG_TLS_STATIC
static void unload(void)
{
    memset(&api, 0, sizeof(api));
}

/* Linked in: the table is the functions themselves; nothing can be missing. */
static int resolve(char *err, size_t errlen)
{
#define X(lib, fn) api.fn = fn;
    TLS_FUNCS(X)
#undef X
    return 0;
}
#else
/* dlerror() says "NAME: why"; the caller already names the library. */
static const char *dl_reason(const char *name)
{
    const char *e = dlerror();
    size_t n = strlen(name);

    if (!e)
        return "unknown error";
    if (strncmp(e, name, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
        return e + n + 2;
    return e;
}

static void unload(void)
{
    if (api.ssl)
        dlclose(api.ssl);
    if (api.crypto)
        dlclose(api.crypto);
    memset(&api, 0, sizeof(api));
}

static int resolve(char *err, size_t errlen)
{
    void *sym;

    /* libssl first: when it is missing, that is the name to report. */
    api.ssl = dlopen(ssl_soname, RTLD_NOW | RTLD_LOCAL);
    if (!api.ssl) {
        snprintf(err, errlen, "cannot load %s: %s", ssl_soname, dl_reason(ssl_soname));
        unload();
        return -1;
    }
    api.crypto = dlopen(crypto_soname, RTLD_NOW | RTLD_LOCAL);
    if (!api.crypto) {
        snprintf(err, errlen, "cannot load %s: %s", crypto_soname, dl_reason(crypto_soname));
        unload();
        return -1;
    }
    /* memcpy, not a cast: ISO C has no object-to-function pointer
     * conversion, and POSIX guarantees the representations match. */
#define X(lib, fn)                                                                                 \
    sym = dlsym(api.lib, #fn);                                                                     \
    if (!sym) {                                                                                    \
        snprintf(err, errlen, "cannot load %s: no symbol %s", lib##_soname, #fn);                  \
        unload();                                                                                  \
        return -1;                                                                                 \
    }                                                                                              \
    memcpy(&api.fn, &sym, sizeof(sym));
    TLS_FUNCS(X)
#undef X
    return 0;
}
#endif

int tls_load(char *err, size_t errlen)
{
    if (api.ctx)
        return 0;
    if (resolve(err, errlen) != 0)
        return -1;
    api.ctx = api.SSL_CTX_new(api.TLS_client_method());
    if (!api.ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        unload();
        return -1;
    }
    /* No verification: see tls.h. */
    api.SSL_CTX_set_verify(api.ctx, SSL_VERIFY_NONE, NULL);
    /* A peer closing the socket without close_notify ends the stream like
     * a clean close: HTTP/1.x servers often do, and the body is delimited
     * by the HTTP framing anyway. */
    api.SSL_CTX_set_options(api.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return 0;
}

struct tls_conn *tls_conn_new(int fd, const char *sni, char *err, size_t errlen)
{
    struct tls_conn *t;

    if (!api.ctx) {
        snprintf(err, errlen, "TLS not loaded");
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    api.ERR_clear_error();
    t->ssl = api.SSL_new(api.ctx);
    if (!t->ssl || api.SSL_set_fd(t->ssl, fd) != 1 ||
        (sni && sni[0] &&
         /* SSL_set_tlsext_host_name() is a macro over SSL_ctrl */
         api.SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      (void *)sni) != 1)) {
        snprintf(err, errlen, "cannot set up a TLS connection");
        tls_conn_free(t);
        api.ERR_clear_error();
        return NULL;
    }
    return t;
}

/* Maps a failed SSL_* call's result to our codes, the reason into err. */
static int failure(struct tls_conn *t, int rc, int saved_errno, char *err, size_t errlen)
{
    int e = api.SSL_get_error(t->ssl, rc);
    unsigned long code;
    const char *why;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        code = api.ERR_peek_last_error();
        if (code == 0) {
            snprintf(err, errlen, "%s",
                     saved_errno ? strerror(saved_errno) : "connection closed by peer");
            return TLS_ERROR;
        }
        break;
    case SSL_ERROR_SSL:
        code = api.ERR_peek_last_error();
        break;
    default:
        snprintf(err, errlen, "TLS error %d", e);
        api.ERR_clear_error();
        return TLS_ERROR;
    }
    why = code ? api.ERR_reason_error_string(code) : NULL;
    long vr = t->verify ? api.SSL_get_verify_result(t->ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(err, errlen, "%s: %s", why ? why : "certificate verify failed",
                 api.X509_verify_cert_error_string(vr));
    else
        snprintf(err, errlen, "%s", why ? why : "protocol error");
    api.ERR_clear_error();
    return TLS_ERROR;
}

int tls_conn_handshake(struct tls_conn *t, char *err, size_t errlen)
{
    int rc;

    api.ERR_clear_error(); /* the queue is per thread: start it clean */
    errno = 0;
    rc = api.SSL_connect(t->ssl);
    if (rc == 1)
        return 0;
    rc = failure(t, rc, errno, err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "connection closed by peer");
        return TLS_ERROR;
    }
    return rc;
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n, char *err, size_t errlen)
{
    int rc;

    api.ERR_clear_error();
    errno = 0;
    rc = api.SSL_read(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (rc > 0)
        return rc;
    return failure(t, rc, errno, err, errlen);
}

ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t n, char *err, size_t errlen)
{
    int rc;

    api.ERR_clear_error();
    errno = 0;
    rc = api.SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (rc > 0)
        return rc;
    rc = failure(t, rc, errno, err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "connection closed by peer");
        return TLS_ERROR;
    }
    return rc;
}

bool tls_conn_pending(const struct tls_conn *t)
{
    return api.SSL_pending(t->ssl) > 0;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    /* No SSL_shutdown: a probe's connection is dropped, not reused, and a
     * close_notify to a peer that is gone would only risk an error. */
    if (t->ssl)
        api.SSL_free(t->ssl);
    free(t);
}

/* ---- verifying contexts (README "Backend credentials") ---- */

/* The reason OpenSSL queued for the last failed call, "unknown" if none. */
static const char *last_reason(void)
{
    unsigned long code = api.ERR_peek_last_error();
    const char *why = code ? api.ERR_reason_error_string(code) : NULL;
    return why ? why : "unknown error";
}

/* Days until the certificate in ctx expires (negative: expired). */
static int cert_days_left(SSL_CTX *ctx, double *expires_at)
{
    X509 *x = api.SSL_CTX_get0_certificate(ctx);
    int days = 0, secs = 0;
    if (!x || !api.ASN1_TIME_diff(&days, &secs, NULL, api.X509_get0_notAfter(x)))
        return 1 << 30;
    if (expires_at)
        *expires_at = (double)time(NULL) + days * 86400.0 + secs;
    return days - (secs < 0);
}

/* Loads the files into ctx; on failure names the file and what OpenSSL said. */
static int ctx_load(SSL_CTX *ctx, const char *cafile, const char *cert, const char *key,
                    char *err, size_t errlen)
{
    api.ERR_clear_error();
    if (cafile ? api.SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
               : api.SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "%s: cannot load CA certificates: %s",
                 cafile ? cafile : "system store", last_reason());
        return -1;
    }
    if (cert && api.SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "%s: cannot load the certificate: %s", cert, last_reason());
        return -1;
    }
    if (key && api.SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (cert && strstr(last_reason(), "mismatch"))
            snprintf(err, errlen, "%s does not match the certificate %s: %s", key, cert,
                     last_reason());
        else
            snprintf(err, errlen, "%s: cannot load the private key: %s", key, last_reason());
        return -1;
    }
    if (cert && key && api.SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s does not match the certificate %s: %s", key, cert,
                 last_reason());
        return -1;
    }
    return 0;
}

struct tls_ctx *tls_ctx_new(const char *cafile, const char *cert, const char *key,
                            double *cert_expires, char *err, size_t errlen)
{
    if (tls_load(err, errlen) != 0)
        return NULL;
    struct tls_ctx *t = calloc(1, sizeof(*t));
    if (!t || !(t->ctx = api.SSL_CTX_new(api.TLS_client_method()))) {
        snprintf(err, errlen, "cannot create a TLS context");
        free(t);
        return NULL;
    }
    api.SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    api.SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (ctx_load(t->ctx, cafile, cert, key, err, errlen) != 0) {
        api.ERR_clear_error();
        tls_ctx_free(t);
        return NULL;
    }
    if (cert_expires) {
        *cert_expires = 0;
        if (cert)
            cert_days_left(t->ctx, cert_expires);
    }
    return t;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
    if (t)
        t->refs++;
    return t;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (!t || t->refs-- > 0)
        return;
    if (t->ctx)
        api.SSL_CTX_free(t->ctx);
    free(t);
}

int tls_check_files(const char *cafile, const char *cert, const char *key, int *days_left,
                    char *err, size_t errlen)
{
    if (tls_load(err, errlen) != 0)
        return -1;
    SSL_CTX *ctx = api.SSL_CTX_new(api.TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        return -1;
    }
    int rc = ctx_load(ctx, cafile, cert, key, err, errlen);
    if (rc == 0 && days_left)
        *days_left = cert ? cert_days_left(ctx, NULL) : 1 << 30;
    api.ERR_clear_error();
    api.SSL_CTX_free(ctx);
    return rc;
}

struct tls_conn *tls_conn_new_verified(struct tls_ctx *ctx, int fd, const char *host, char *err,
                                       size_t errlen)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->verify = true;
    api.ERR_clear_error();
    struct in6_addr a6;
    struct in_addr a4;
    bool is_ip = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    t->ssl = api.SSL_new(ctx->ctx);
    /* Hostname verification: the name (and SNI) or the IP address the
     * certificate must carry. */
    if (!t->ssl || api.SSL_set_fd(t->ssl, fd) != 1 ||
        (is_ip ? api.X509_VERIFY_PARAM_set1_ip_asc(api.SSL_get0_param(t->ssl), host) != 1
               : (api.SSL_set1_host(t->ssl, host) != 1 ||
                  api.SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                               (void *)host) != 1))) {
        snprintf(err, errlen, "cannot set up a TLS connection to %s", host);
        tls_conn_free(t);
        api.ERR_clear_error();
        return NULL;
    }
    return t;
}
