/* proto/tls against a real OpenSSL server in a child process
 * (tests/fixtures/proto/tls_peer.h): loading libssl at run time and its
 * failures, the handshake, reads and writes on a non-blocking socket, and
 * what a peer can do wrong (not speak TLS, refuse the handshake, close or
 * reset the connection, stop reading). The cases run in order: the first
 * ones need OpenSSL not loaded yet. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/tcpconn.h"
#include "proto/tls.h"
#include "tests/failalloc.h"
#include "tests/fixtures/proto/tls_peer.h"

/* ---- helpers --------------------------------------------------------------------- */

static int connect_to(int port)
{
    struct sockaddr_storage ss;
    char err[128];
    socklen_t len = tcpconn_addr("127.0.0.1", port, &ss);
    int fd = tcpconn_start(&ss, len, err, sizeof(err));

    assert_true(fd >= 0);
    return fd;
}

/* Waits up to 10 s for what a TLS_WANT_* asks. */
static void wait_for(int fd, int rc)
{
    struct pollfd pf = {.fd = fd, .events = rc == TLS_WANT_WRITE ? POLLOUT : POLLIN};

    assert_true(rc == TLS_WANT_READ || rc == TLS_WANT_WRITE);
    assert_int_equal(poll(&pf, 1, 10000), 1);
}

/* The handshake to its end: 0 or TLS_ERROR (err set). */
static int handshake(struct tls_conn *t, int fd, char *err, size_t errlen)
{
    for (;;) {
        int rc = tls_conn_handshake(t, err, errlen);

        if (rc == 0 || rc == TLS_ERROR)
            return rc;
        wait_for(fd, rc);
    }
}

/* One read that does not stop at TLS_WANT_*. */
static ssize_t read_some(struct tls_conn *t, int fd, void *buf, size_t n, char *err,
                         size_t errlen)
{
    for (;;) {
        ssize_t rc = tls_conn_read(t, buf, n, err, errlen);

        if (rc != TLS_WANT_READ && rc != TLS_WANT_WRITE)
            return rc;
        wait_for(fd, (int)rc);
    }
}

static ssize_t write_all(struct tls_conn *t, int fd, const void *buf, size_t n, char *err,
                         size_t errlen)
{
    for (;;) {
        ssize_t rc = tls_conn_write(t, buf, n, err, errlen);

        if (rc != TLS_WANT_READ && rc != TLS_WANT_WRITE)
            return rc;
        wait_for(fd, (int)rc);
    }
}

/* A connection through the handshake to the child's script. */
static struct tls_conn *connected(struct tls_peer *p, const char *sni, int *fd)
{
    char err[160] = "";
    struct tls_conn *t;

    *fd = connect_to(p->port);
    t = tls_conn_new(*fd, sni, err, sizeof(err));
    assert_non_null(t);
    if (handshake(t, *fd, err, sizeof(err)) != 0)
        fail_msg("handshake failed: %s", err);
    return t;
}

/* Waits until the peer's FIN or RST has arrived on fd. */
static void wait_peer_gone(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};

    assert_int_equal(poll(&pf, 1, 10000), 1);
}

/* ---- the child's scripts --------------------------------------------------------- */

static const char hello[] = "hello, world";

/* Reads a request, answers with one record, ends with close_notify. */
static void script_answer(struct tls_peer *p, int fd)
{
    SSL *ssl = peer_tls_accept(p, fd);

    if (!ssl || !peer_read_request(p, ssl))
        return;
    peer_write_all(ssl, hello, sizeof(hello) - 1);
    peer_api.SSL_shutdown(ssl);
}

static void script_handshake_then_close(struct tls_peer *p, int fd)
{
    if (peer_tls_accept(p, fd))
        close(fd);
}

static void script_handshake_then_reset(struct tls_peer *p, int fd)
{
    if (peer_tls_accept(p, fd))
        peer_reset(fd);
}

/* Completes the handshake, then never reads again. */
static void script_handshake_then_stall(struct tls_peer *p, int fd)
{
    peer_tls_accept(p, fd);
}

/* Ends the TLS session (close_notify), then, when told, resets. */
static void script_close_notify_then_reset(struct tls_peer *p, int fd)
{
    SSL *ssl = peer_tls_accept(p, fd);

    if (!ssl)
        return;
    peer_api.SSL_shutdown(ssl);
    peer_wait_go(p);
    peer_reset(fd);
}

static void script_not_tls(struct tls_peer *p, int fd)
{
    static const char plain[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

    if (write(fd, plain, sizeof(plain) - 1) < 0)
        _exit(6);
}

/* Reads the ClientHello, then closes (a FIN: nothing is left unread). */
static void script_close_after_hello(struct tls_peer *p, int fd)
{
    char buf[4096];

    if (read(fd, buf, sizeof(buf)) <= 0)
        _exit(6);
    close(fd);
}

static void script_reset_at_once(struct tls_peer *p, int fd)
{
    peer_reset(fd);
}

static void script_handshake_only(struct tls_peer *p, int fd)
{
    peer_tls_accept(p, fd);
}

/* ---- before OpenSSL is loaded ---------------------------------------------------- */

static void test_conn_before_load(void **state)
{
    char err[128] = "";

    assert_false(tls_loaded());
    assert_null(tls_conn_new(0, NULL, err, sizeof(err)));
    assert_string_equal(err, "TLS not loaded");
    tls_conn_free(NULL); /* a no-op */
}

static void test_load_missing_libssl(void **state)
{
    char err[256] = "";

    tls_set_sonames("libmeshreg-test-missing-ssl.so.3", NULL);
    assert_int_equal(tls_load(err, sizeof(err)), -1);
    tls_set_sonames(NULL, NULL);
    assert_string_equal(err, "cannot load libmeshreg-test-missing-ssl.so.3: cannot open shared "
                             "object file: No such file or directory");
    assert_false(tls_loaded());
}

/* libssl is there but libcrypto is not: that one is named, and nothing of
 * the half-done load remains (the next load starts from scratch). */
static void test_load_missing_libcrypto(void **state)
{
    char err[256] = "";

    tls_set_sonames(NULL, "libmeshreg-test-missing-crypto.so.3");
    assert_int_equal(tls_load(err, sizeof(err)), -1);
    tls_set_sonames(NULL, NULL);
    assert_string_equal(err, "cannot load libmeshreg-test-missing-crypto.so.3: cannot open "
                             "shared object file: No such file or directory");
    assert_false(tls_loaded());
}

/* A library that loads but is not OpenSSL: the first function missing. */
static void test_load_missing_symbols(void **state)
{
    char err[256] = "";

    tls_set_sonames("libc.so.6", NULL);
    assert_int_equal(tls_load(err, sizeof(err)), -1);
    assert_string_equal(err, "cannot load libc.so.6: no symbol TLS_client_method");
    assert_false(tls_loaded());

    /* the libssl functions resolve, the libcrypto ones do not */
    tls_set_sonames(NULL, "libc.so.6");
    assert_int_equal(tls_load(err, sizeof(err)), -1);
    tls_set_sonames(NULL, NULL);
    assert_string_equal(err, "cannot load libc.so.6: no symbol ERR_peek_last_error");
    assert_false(tls_loaded());
    assert_null(tls_conn_new(0, NULL, err, sizeof(err)));
    assert_string_equal(err, "TLS not loaded");
}

static void test_load(void **state)
{
    char err[256] = "";

    assert_int_equal(tls_load(err, sizeof(err)), 0);
    assert_true(tls_loaded());
    /* once loaded, the names no longer matter and a load is a no-op */
    tls_set_sonames("libmeshreg-test-missing-ssl.so.3", NULL);
    assert_int_equal(tls_load(err, sizeof(err)), 0);
    tls_set_sonames(NULL, NULL);
    assert_true(tls_loaded());
}

/* ---- connections ---------------------------------------------------------------- */

static void test_conn_new_failures(void **state)
{
    char err[160] = "", sni[300];
    struct tls_conn *t;

    /* our own allocation fails */
    failalloc_arm(1, false);
    t = tls_conn_new(0, "a.example", err, sizeof(err));
    failalloc_off();
    assert_null(t);
    assert_string_equal(err, "out of memory");

    /* a server name longer than TLS allows (255) */
    memset(sni, 'a', sizeof(sni) - 1);
    sni[sizeof(sni) - 1] = '\0';
    err[0] = '\0';
    assert_null(tls_conn_new(0, sni, err, sizeof(err)));
    assert_string_equal(err, "cannot set up a TLS connection");

    /* the longest one allowed is fine */
    sni[255] = '\0';
    t = tls_conn_new(0, sni, err, sizeof(err));
    assert_non_null(t);
    tls_conn_free(t);
}

/* A whole exchange: handshake with SNI sent (and the peer's self-signed
 * certificate for another name accepted: nothing is verified), a request
 * written, the answer read in pieces (the rest of a record is pending
 * inside the connection, invisible to poll), then close_notify: 0. */
static void test_exchange(void **state)
{
    struct tls_peer p = {0};
    static const char req[] = "GET / HTTP/1.1\r\nHost: app.example\r\n\r\n";
    char err[160] = "", buf[64];
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script_answer);
    t = connected(&p, "app.example", &fd);
    assert_string_equal(tls_peer_report(&p), "sni=app.example");
    assert_int_equal(write_all(t, fd, req, sizeof(req) - 1, err, sizeof(err)), sizeof(req) - 1);
    assert_string_equal(tls_peer_report(&p), "got=0");
    assert_int_equal(read_some(t, fd, buf, 5, err, sizeof(err)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(tls_conn_pending(t));
    assert_int_equal(read_some(t, fd, buf, sizeof(buf), err, sizeof(err)), sizeof(hello) - 6);
    assert_memory_equal(buf, hello + 5, sizeof(hello) - 6);
    assert_false(tls_conn_pending(t));
    /* the peer's close_notify: a clean end of stream */
    assert_int_equal(read_some(t, fd, buf, sizeof(buf), err, sizeof(err)), 0);
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

/* No server name, or an empty one: no SNI at all. */
static void test_no_sni(void **state)
{
    static const char *const names[] = {NULL, ""};

    for (int i = 0; i < 2; i++) {
        struct tls_peer p = {0};
        struct tls_conn *t;
        int fd;

        tls_peer_start(&p, script_handshake_only);
        t = connected(&p, names[i], &fd);
        assert_string_equal(tls_peer_report(&p), "sni=(none)");
        tls_conn_free(t);
        close(fd);
        tls_peer_end(&p);
    }
}

/* A reader with more room than an int can say: asks for INT_MAX at most,
 * and gets what there is. */
static void test_read_huge_buffer(void **state)
{
    struct tls_peer p = {0};
    static const char req[] = "GET / HTTP/1.1\r\n\r\n";
    size_t huge = (size_t)INT_MAX + 4096;
    char err[160] = "";
    void *buf = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    struct tls_conn *t;
    int fd;

    if (buf == MAP_FAILED)
        skip(); /* no address space for it here */
    tls_peer_start(&p, script_answer);
    t = connected(&p, NULL, &fd);
    assert_int_equal(write_all(t, fd, req, sizeof(req) - 1, err, sizeof(err)), sizeof(req) - 1);
    assert_int_equal(read_some(t, fd, buf, huge, err, sizeof(err)), sizeof(hello) - 1);
    assert_memory_equal(buf, hello, sizeof(hello) - 1);
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
    munmap(buf, huge);
}

/* The peer closes the socket without close_notify, as many HTTP servers
 * do: an end of stream like any other. */
static void test_eof_without_close_notify(void **state)
{
    struct tls_peer p = {0};
    char err[160] = "", buf[64];
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script_handshake_then_close);
    t = connected(&p, NULL, &fd);
    wait_peer_gone(fd);
    assert_int_equal(read_some(t, fd, buf, sizeof(buf), err, sizeof(err)), 0);
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

static void test_read_reset(void **state)
{
    struct tls_peer p = {0};
    char err[160] = "", buf[64];
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script_handshake_then_reset);
    t = connected(&p, NULL, &fd);
    wait_peer_gone(fd);
    assert_int_equal(read_some(t, fd, buf, sizeof(buf), err, sizeof(err)), TLS_ERROR);
    assert_string_equal(err, "Connection reset by peer");
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

static void test_write_reset(void **state)
{
    struct tls_peer p = {0};
    char err[160] = "";
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script_handshake_then_reset);
    t = connected(&p, NULL, &fd);
    wait_peer_gone(fd);
    assert_int_equal(write_all(t, fd, "x", 1, err, sizeof(err)), TLS_ERROR);
    assert_string_equal(err, "Connection reset by peer");
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

/* After the peer's close_notify, a write that fails says the peer closed
 * (not the socket error underneath). */
static void test_write_after_close_notify(void **state)
{
    struct tls_peer p = {0};
    char err[160] = "", buf[16];
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script_close_notify_then_reset);
    t = connected(&p, NULL, &fd);
    assert_int_equal(read_some(t, fd, buf, sizeof(buf), err, sizeof(err)), 0);
    tls_peer_go(&p);
    wait_peer_gone(fd);
    assert_int_equal(write_all(t, fd, "x", 1, err, sizeof(err)), TLS_ERROR);
    assert_string_equal(err, "connection closed by peer");
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

/* A peer that stops reading: the write fills the socket and asks to be
 * retried once it is writable (TLS_WANT_WRITE), never blocks. The buffer
 * is bigger than an int can say, too. */
static void test_write_blocks(void **state)
{
    struct tls_peer p = {0};
    size_t huge = (size_t)INT_MAX + 4096;
    char err[160] = "";
    void *buf = mmap(NULL, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct tls_conn *t;
    ssize_t rc;
    int fd;

    if (buf == MAP_FAILED)
        skip();
    tls_peer_start(&p, script_handshake_then_stall);
    t = connected(&p, NULL, &fd);
    rc = tls_conn_write(t, buf, huge, err, sizeof(err));
    assert_int_equal(rc, TLS_WANT_WRITE);
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
    munmap(buf, huge);
}

/* ---- handshake failures ---------------------------------------------------------- */

/* The handshake fails with a reason containing want1 or want2. */
static void expect_handshake_error(tls_peer_script script, int max_version, const char *want1,
                                   const char *want2)
{
    struct tls_peer p = {.max_version = max_version};
    char err[160] = "";
    struct tls_conn *t;
    int fd;

    tls_peer_start(&p, script);
    fd = connect_to(p.port);
    t = tls_conn_new(fd, "app.example", err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(handshake(t, fd, err, sizeof(err)), TLS_ERROR);
    if (!strstr(err, want1) && (!want2 || !strstr(err, want2)))
        fail_msg("handshake error \"%s\", want \"%s\"%s%s", err, want1, want2 ? " or " : "",
                 want2 ? want2 : "");
    tls_conn_free(t);
    close(fd);
    tls_peer_end(&p);
}

/* Plain HTTP on the port: not a TLS record. */
static void test_handshake_not_tls(void **state)
{
    expect_handshake_error(script_not_tls, 0, "wrong version number", "packet length too long");
}

static void test_handshake_peer_closes(void **state)
{
    expect_handshake_error(script_close_after_hello, 0, "connection closed by peer",
                           "unexpected eof while reading");
}

static void test_handshake_peer_resets(void **state)
{
    expect_handshake_error(script_reset_at_once, 0, "Connection reset by peer", NULL);
}

/* The server only speaks TLS 1.0, which the client refuses, or the server
 * gives up with an alert that is then the reason. */
static void test_handshake_refused(void **state)
{
    expect_handshake_error(script_handshake_only, TLS1_VERSION, "unsupported protocol", "alert");
}

static int group_setup(void **state)
{
    return tls_peer_setup() ? 0 : -1;
}

static int group_teardown(void **state)
{
    tls_peer_cleanup();
    return 0;
}

int main(void)
{
    /* OpenSSL writes with write(2): see tls.h */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_before_load),
        cmocka_unit_test(test_load_missing_libssl),
        cmocka_unit_test(test_load_missing_libcrypto),
        cmocka_unit_test(test_load_missing_symbols),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_conn_new_failures),
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_no_sni),
        cmocka_unit_test(test_read_huge_buffer),
        cmocka_unit_test(test_eof_without_close_notify),
        cmocka_unit_test(test_read_reset),
        cmocka_unit_test(test_write_reset),
        cmocka_unit_test(test_write_after_close_notify),
        cmocka_unit_test(test_write_blocks),
        cmocka_unit_test(test_handshake_not_tls),
        cmocka_unit_test(test_handshake_peer_closes),
        cmocka_unit_test(test_handshake_peer_resets),
        cmocka_unit_test(test_handshake_refused),
    };
    return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
