/* httpc over TLS against a real OpenSSL server in a child process
 * (tests/fixtures/proto/tls_peer.h), over loopback TCP: the exchange, SNI,
 * bodies, resets, blocked sends, handshake failures, out of memory; and,
 * first of all, a libssl that cannot be loaded (this binary has not loaded
 * OpenSSL before that case). Deadlines are checked from below only. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "proto/httpc.h"
#include "proto/tls.h"
#include "tests/failalloc.h"
#include "tests/test_listen.h"
#include "tests/test_loop_util.h"
#include "tests/httpc_outcome.h"
#include "tests/fixtures/proto/tls_peer.h"

/* Must run before anything loads OpenSSL in this process. */
static void test_https_cannot_load(void **state)
{
    struct ev_loop *loop = *state;
    struct outcome o;
    struct httpc_request r = basic_req(test_dead_port());

    assert_false(tls_loaded());
    r.tls = true;
    tls_set_sonames("libmeshreg-test-missing-ssl.so.3", NULL);
    do_request(loop, &r, &o);
    tls_set_sonames(NULL, NULL);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "cannot load libmeshreg-test-missing-ssl.so.3: cannot open "
                                 "shared object file: No such file or directory");
    assert_false(tls_loaded());
    free(o.body);
}

/* Handshake, read the request, write p->resp; then close_notify, or in
 * the variant a bare close. */
static void script_https_answer(struct tls_peer *p, int fd)
{
    SSL *ssl = peer_tls_accept(p, fd);

    if (!ssl || !peer_read_request(p, ssl))
        return;
    peer_write_all(ssl, p->resp, p->resp_len);
    if (p->variant) {
        close(fd); /* no close_notify, as many servers do */
        return;
    }
    peer_api.SSL_shutdown(ssl);
}

static void script_https_reset_after_request(struct tls_peer *p, int fd)
{
    SSL *ssl = peer_tls_accept(p, fd);

    if (ssl && peer_read_request(p, ssl))
        peer_reset(fd);
}

/* Handshake, then never read; reset once 64 KiB wait unread, unless the
 * variant (then just stall). */
static void script_https_noread(struct tls_peer *p, int fd)
{
    if (!peer_tls_accept(p, fd) || p->variant)
        return;
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int queued = 0;

        if (poll(&pf, 1, 10000) <= 0)
            _exit(7);
        if (ioctl(fd, FIONREAD, &queued) == 0 && queued >= 65536)
            break;
        usleep(1000); /* pacing while the queue fills */
    }
    peer_reset(fd);
}

static void script_https_not_tls(struct tls_peer *p, int fd)
{
    static const char plain[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

    if (write(fd, plain, sizeof(plain) - 1) < 0)
        _exit(6);
}

static struct httpc_request https_req(const struct tls_peer *p)
{
    struct httpc_request r = basic_req(p->port);

    r.tls = true;
    return r;
}

static void test_https_exchange(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct tls_peer p = {.resp = resp, .resp_len = sizeof(resp) - 1};
    struct outcome o;

    tls_peer_start(&p, script_https_answer);
    struct httpc_request r = https_req(&p);
    r.host_header = "app.example:8443";
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "ok");
    assert_true(tls_loaded());
    assert_string_equal(tls_peer_report(&p), "sni=app.example");
    assert_string_equal(tls_peer_report(&p), "got=0");
    free(o.body);
    tls_peer_end(&p);
}

/* SNI is the Host header's host when that is a name: not an IP literal,
 * not nothing, not a name too long for it. */
static void test_https_sni(void **state)
{
    struct ev_loop *loop = *state;
    static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
    static char longname[300];
    const struct {
        const char *host_header;
        const char *sni;
    } cases[] = {
        {NULL, "(none)"},        {"10.1.2.3:443", "(none)"}, {"10.1.2.3", "(none)"},
        {"[::1]:443", "(none)"}, {":443", "(none)"},         {"", "(none)"},
        {longname, "(none)"},    {"svc.local", "svc.local"}, {"a-b.example:1", "a-b.example"},
    };

    memset(longname, 'n', sizeof(longname) - 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_peer p = {.resp = resp, .resp_len = sizeof(resp) - 1};
        char want[64];
        struct outcome o;

        tls_peer_start(&p, script_https_answer);
        struct httpc_request r = https_req(&p);
        r.host_header = cases[i].host_header;
        do_request(loop, &r, &o);
        assert_int_equal(o.status, 204);
        snprintf(want, sizeof(want), "sni=%s", cases[i].sni);
        assert_string_equal(tls_peer_report(&p), want);
        free(o.body);
        tls_peer_end(&p);
    }
}

/* A body of many TLS records (more than one wakeup's reads), and one
 * delimited by a close without close_notify. */
static void test_https_bodies(void **state)
{
    struct ev_loop *loop = *state;
    static char resp[(1 << 20) + 100];
    size_t body_len = 1 << 20;
    int hl =
        snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body_len);
    struct outcome o;

    for (size_t i = 0; i < body_len; i++)
        resp[hl + (int)i] = (char)('A' + i % 23);
    struct tls_peer p = {.resp = resp, .resp_len = (size_t)hl + body_len};
    tls_peer_start(&p, script_https_answer);
    struct httpc_request r = https_req(&p);
    r.max_body = body_len;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, body_len);
    assert_memory_equal(o.body, resp + hl, body_len);
    free(o.body);
    tls_peer_end(&p);

    static const char until_close[] = "HTTP/1.0 200 OK\r\n\r\nuntil the close";
    struct tls_peer q = {.resp = until_close, .resp_len = sizeof(until_close) - 1, .variant = true};
    tls_peer_start(&q, script_https_answer);
    r = https_req(&q);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "until the close");
    free(o.body);
    tls_peer_end(&q);
}

static void test_https_recv_reset(void **state)
{
    struct ev_loop *loop = *state;
    struct tls_peer p = {0};
    struct outcome o;

    tls_peer_start(&p, script_https_reset_after_request);
    struct httpc_request r = https_req(&p);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "TLS recv: Connection reset by peer");
    free(o.body);
    tls_peer_end(&p);
}

/* TLS writes that cannot go on wait for the socket (to the deadline when
 * the server never reads), and a reset meanwhile is the send's error. */
static void test_https_send_blocked(void **state)
{
    struct ev_loop *loop = *state;
    size_t len = 16 << 20;
    char *body = calloc(1, len);
    struct outcome o;

    assert_non_null(body);
    struct tls_peer p = {.variant = true};
    tls_peer_start(&p, script_https_noread);
    struct httpc_request r = https_req(&p);
    r.method = "POST";
    r.body = body;
    r.body_len = len;
    r.timeout_ms = 1500;
    do_request(loop, &r, &o);
    assert_string_equal(tls_peer_report(&p), "sni=(none)"); /* the handshake was done */
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 1500 ms");
    free(o.body);
    tls_peer_end(&p);

    struct tls_peer q = {0};
    tls_peer_start(&q, script_https_noread);
    r.port = q.port;
    r.timeout_ms = 20000;
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "TLS send: Connection reset by peer");
    free(o.body);
    tls_peer_end(&q);
    free(body);
}

static void test_https_handshake_fails(void **state)
{
    struct ev_loop *loop = *state;
    struct tls_peer p = {0};
    struct outcome o;

    tls_peer_start(&p, script_https_not_tls);
    struct httpc_request r = https_req(&p);
    do_request(loop, &r, &o);
    assert_int_equal(o.status, 0);
    if (strcmp(o.error, "TLS handshake: wrong version number") != 0 &&
        strcmp(o.error, "TLS handshake: packet length too long") != 0)
        fail_msg("error \"%s\"", o.error);
    free(o.body);
    tls_peer_end(&p);
}

/* The TLS connection's own allocation fails once connected. */
static void test_https_conn_oom(void **state)
{
    struct ev_loop *loop = *state;
    struct tls_peer p = {0};
    struct outcome o = {0};
    struct httpc *c;

    tls_peer_start(&p, script_https_answer);
    struct httpc_request r = https_req(&p);
    o.loop = loop;
    c = httpc_start(loop, &r, on_result, &o);
    assert_non_null(c);
    failalloc_arm(1, false); /* the next allocation of this process */
    run_until_done(loop, 30.0);
    failalloc_off();
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.failed_allocs, 1);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "TLS: out of memory");
    free(o.body);
    tls_peer_end(&p);
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
    /* OpenSSL writes with write(2): see proto/tls.h */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        /* the first one needs OpenSSL not loaded yet */
        cmocka_unit_test_setup_teardown(test_https_cannot_load, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_exchange, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_sni, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_bodies, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_recv_reset, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_send_blocked, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_handshake_fails, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_https_conn_oom, loop_setup, loop_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
