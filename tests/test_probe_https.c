/* The https probe against a REAL TLS server (Python's ssl + http.server:
 * tests/fixtures/tls/https_server.py) with a throwaway self-signed
 * certificate made at test time by the openssl CLI, plus raw sockets for
 * what no TLS server does (plain HTTP on the port, never handshaking).
 *
 * Order matters: the first tests check that http probes, and an https
 * probe whose libssl cannot be loaded, leave libssl unmapped in this
 * process (/proc/self/maps); only then is OpenSSL loaded for real. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "proto/tls.h"
#include "sidecar/probe/probe.h"
#include "tests/test_probe_util.h"
#include "tests/test_repo.h"

static pid_t server_pid;
static int server_port;
static char tmpdir[] = "/tmp/meshreg-tls-XXXXXX";

/* The raw peer (tests/test_probe_util.h) answering resp (NULL: never)
 * once, then a FIN. */
static void raw_answer(struct raw *r, struct ev_loop *loop, const char *resp)
{
    raw_init(r, loop, resp, resp ? strlen(resp) : 0);
    r->shut_after = true;
}

/* ---- running probes --------------------------------------------------------- */

static struct check_spec spec_of(enum probe_kind kind, int port, const char *uri)
{
    struct check_spec s = {
        .name = "svc.main",
        .probe = kind,
        .probe_host = "127.0.0.1",
        .probe_port = port,
        .probe_uri = (char *)uri,
        .timeout_ms = 2000,
        .interval_ms = 100,
        .rise = 1,
        .fall = 1,
    };
    return s;
}

/* Whether a library whose file name contains `name` is mapped here. */
static bool mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    bool found = false;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

/* ---- before OpenSSL is loaded ----------------------------------------------- */

/* http probes never load OpenSSL: no https probe, no libssl in memory. */
static void test_http_only_no_libssl(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;

    raw_answer(&r, loop, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTP, r.port, "/ok");
    expect_one(&s, true, "HTTP 200 in ");
    raw_free(&r);
    /* and an http probe against the real TLS port fails, still without TLS */
    s = spec_of(PROBE_HTTP, server_port, "/ok");
    s.timeout_ms = 500;
    struct rec rc;
    probe_once(&s, &rc, 1, 3.0);
    assert_int_equal(rc.n, 1);
    assert_false(rc.pass[0]);
    assert_false(tls_loaded());
    assert_false(mapped("libssl"));
    assert_false(mapped("libcrypto"));
}

/* A libssl that cannot be loaded fails the attempt with the reason; the
 * next attempt tries again (and here fails the same way). */
static void test_cannot_load_libssl(void **state)
{
    struct rec r;

    tls_set_sonames("libssl-meshreg-test-missing.so.3", NULL);
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/ok");
    s.interval_ms = 50;
    probe_once(&s, &r, 2, 3.0);
    tls_set_sonames(NULL, NULL);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        assert_string_equal(r.detail[i],
                            "https probe: cannot load libssl-meshreg-test-missing.so.3: "
                            "cannot open shared object file: No such file or directory");
    }
    assert_false(tls_loaded());
    assert_false(mapped("libssl"));
}

/* ---- against the real TLS server --------------------------------------------- */

static void test_200_passes_and_loads_libssl(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/ok");
    struct rec r;

    /* The first attempt also loads OpenSSL: generous time for slow runs
     * (valgrind takes seconds over OpenSSL's initialisation). */
    s.timeout_ms = 20000;
    probe_once(&s, &r, 1, 25.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "HTTP 200 in ", 12) == 0);
    assert_true(tls_loaded());
    assert_true(mapped("libssl.so.3"));
}

static void test_503_fails(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/down");

    expect_one(&s, false, "HTTP 503");
}

static void test_3xx_passes_404_fails(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/redirect");

    expect_one(&s, true, "HTTP 302 in ");
    s = spec_of(PROBE_HTTPS, server_port, "/nosuch");
    expect_one(&s, false, "HTTP 404");
}

static void test_body_expect(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/body");

    s.body_expect = "healthy";
    expect_one(&s, true, "HTTP 200 in ");
    s.body_expect = "\"ok\"";
    expect_one(&s, false, "HTTP 200, body does not contain \"\"ok\"\"");
}

/* A Host among the extra headers is sent as Host and as the TLS server
 * name, so an app serving several names by SNI answers for the right one. */
static void test_host_header_is_sni(void **state)
{
    struct kv headers[] = {{"Host", "app.example"}};
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/sni");

    expect_one(&s, false, "HTTP 421"); /* no SNI for 127.0.0.1 */
    s.headers = headers;
    s.nheaders = 1;
    expect_one(&s, true, "HTTP 200 in ");
}

/* The handshake completes, then the app never answers: deadline. */
static void test_hang_after_handshake(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/hang");
    struct rec r;

    s.timeout_ms = 300;
    probe_once(&s, &r, 2, 3.0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        assert_string_equal(r.detail[i], "timeout after 300 ms");
    }
    assert_true(r.at[0] >= 0.295 && r.at[0] < 0.5);
}

/* ---- against raw sockets ----------------------------------------------------- */

/* A plain HTTP app on the port an https probe checks. */
static void test_plain_http_on_tls_port_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;

    raw_answer(&r, loop, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    struct check_spec s = spec_of(PROBE_HTTPS, r.port, "/ok");
    expect_one(&s, false, "TLS handshake: ");
    raw_free_closed(&r);
}

/* Accepts and never says a word: the handshake hangs until the deadline,
 * and the socket is closed then. */
static void test_handshake_hang_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    struct rec rc;

    raw_answer(&r, loop, NULL);
    struct check_spec s = spec_of(PROBE_HTTPS, r.port, "/ok");
    s.timeout_ms = 300;
    probe_once(&s, &rc, 1, 3.0);
    assert_int_equal(rc.n, 1);
    assert_false(rc.pass[0]);
    assert_string_equal(rc.detail[0], "timeout after 300 ms");
    assert_int_equal(r.accepted, 1);
    raw_free_closed(&r);
}

/* Closing right after accept: the handshake sees the end of the stream. */
static void test_close_during_handshake_fails(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;

    raw_answer(&r, loop, "");
    struct check_spec s = spec_of(PROBE_HTTPS, r.port, "/ok");
    expect_one(&s, false, "TLS handshake: connection closed by peer");
    raw_free(&r);
}

/* probe_stop mid-handshake frees the TLS connection and closes the socket,
 * with no callback. */
static void test_stop_mid_handshake(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    struct rec rc;

    raw_answer(&r, loop, NULL);
    struct check_spec s = spec_of(PROBE_HTTPS, r.port, "/ok");
    struct probe *p = rec_probe(&s, &rc, 1);
    probe_start(p);
    run_for(loop, 0.2);
    assert_true(p->running);
    assert_int_equal(r.accepted, 1);
    probe_stop(p);
    run_for(loop, 0.05);
    assert_int_equal(rc.n, 0);
    assert_int_equal(r.open_conns, 0);
    probe_free(p);
    raw_free(&r);
}

static void test_no_fd_leak(void **state)
{
    struct check_spec s = spec_of(PROBE_HTTPS, server_port, "/ok");
    struct rec r;
    int before = count_fds();

    s.interval_ms = 20;
    probe_once(&s, &r, 10, 5.0);
    assert_int_equal(r.n, 10);
    for (int i = 0; i < 10; i++)
        assert_true(r.pass[i]);
    assert_int_equal(count_fds(), before);
}

/* ---- the server ---------------------------------------------------------------- */

static int group_setup(void **state)
{
    char script[PATH_MAX + 64], cmd[512], cert[64], key[64], port_arg[] = "0";

    if (test_repo_path("tests/fixtures/tls/https_server.py", R_OK, script, sizeof(script)) < 0) {
        fprintf(stderr, "test_probe_https: tests/fixtures/tls/https_server.py not found\n");
        return -1;
    }
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    /* A throwaway self-signed certificate, valid for a day. */
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=localhost >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_probe_https needs the openssl CLI (package openssl)\n");
        return -1;
    }
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_probe_https needs /usr/bin/python3\n");
        return -1;
    }
    char *argv[] = {"/usr/bin/python3", script, cert, key, port_arg, NULL};
    return spawn_port_server(argv, "test_probe_https: the TLS server", &server_pid, &server_port);
}

static int group_teardown(void **state)
{
    char cmd[128];

    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        for (int i = 0; i < 300 && waitpid(server_pid, NULL, WNOHANG) == 0; i++)
            usleep(10000);
        if (kill(server_pid, 0) == 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, NULL, 0);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    /* OpenSSL writes with write(2): a peer gone must not kill us (the
     * sidecar ignores SIGPIPE the same way) */
    signal(SIGPIPE, SIG_IGN);
    ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_only_no_libssl),
        cmocka_unit_test(test_cannot_load_libssl),
        cmocka_unit_test(test_200_passes_and_loads_libssl),
        cmocka_unit_test(test_503_fails),
        cmocka_unit_test(test_3xx_passes_404_fails),
        cmocka_unit_test(test_body_expect),
        cmocka_unit_test(test_host_header_is_sni),
        cmocka_unit_test(test_hang_after_handshake),
        cmocka_unit_test(test_plain_http_on_tls_port_fails),
        cmocka_unit_test(test_handshake_hang_fails),
        cmocka_unit_test(test_close_during_handshake_fails),
        cmocka_unit_test(test_stop_mid_handshake),
        cmocka_unit_test(test_no_fd_leak),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
