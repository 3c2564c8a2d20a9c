/* The grpc probe against a REAL gRPC server (python3-grpcio, an independent
 * implementation: tests/fixtures/grpc/health_server.py) for everything the
 * gRPC layer can say, and against a raw socket writing canned HTTP/2 frames
 * for what a well-behaved server never does (GOAWAY, RST_STREAM, garbage,
 * closing, hanging). Also: the request the probe sends, cancel safety, and
 * no fds left behind. */
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
#include <nghttp2/nghttp2.h>

#include "sidecar/probe/probe.h"
#include "tests/failalloc.h"
#include "tests/test_probe_util.h"
#include "tests/test_repo.h"

static pid_t server_pid;
static int server_port;

static struct check_spec spec_of(int port, const char *service)
{
    struct check_spec s = {
        .name = "svc.main",
        .probe = PROBE_GRPC,
        .probe_host = "127.0.0.1",
        .probe_port = port,
        .probe_uri = (char *)service,
        .timeout_ms = 2000,
        .interval_ms = 100, /* first attempt within 100 ms */
        .rise = 1,
        .fall = 1,
    };
    return s;
}

/* ---- against the real gRPC server ----------------------------------------- */

static void test_serving_passes(void **state)
{
    struct check_spec s = spec_of(server_port, "");

    expect_one(&s, true, "grpc SERVING in ");
    s = spec_of(server_port, "svc.ok");
    expect_one(&s, true, "grpc SERVING in ");
}

static void test_not_serving_fails(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.down");

    expect_one(&s, false, "grpc NOT_SERVING");
    s = spec_of(server_port, "svc.service-unknown");
    expect_one(&s, false, "grpc SERVICE_UNKNOWN");
}

static void test_unknown_service_fails(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.nosuch");

    expect_one(&s, false, "grpc-status 5 (NOT_FOUND): unknown service");
}

/* grpc-message comes percent-encoded ("%" itself is "%25"). */
static void test_grpc_error_message(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.unavailable");

    expect_one(&s, false, "grpc-status 14 (UNAVAILABLE): warming up: 50% done");
}

static void test_garbage_message_fails(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.garbage");

    expect_one(&s, false, "grpc: bad HealthCheckResponse: malformed HealthCheckResponse");
}

/* A handler that never answers fails at the probe's deadline, and the
 * next attempt starts only after it; the loop is not held meanwhile. The
 * probe hands its deadline to the server (grpc-timeout), so grpcio may give
 * up at that same moment and say so first: either way, at the deadline. */
static void test_hang_fails_at_deadline(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.hang");
    struct rec r;

    s.timeout_ms = 300;
    probe_once(&s, &r, 2, 3.0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        if (strcmp(r.detail[i], "timeout after 300 ms") != 0 &&
            strncmp(r.detail[i], "grpc-status 4 (DEADLINE_EXCEEDED)", 33) != 0)
            fail_msg("attempt %d: \"%s\"", i, r.detail[i]);
    }
    assert_true(r.at[0] >= 0.295 && r.at[0] < 2.8); /* before the 3 s guard */
    assert_true(r.at[1] - r.at[0] >= 0.3);
}

/* extra_healthcheck_headers travel as metadata (lower-cased). */
static void test_metadata_sent(void **state)
{
    struct kv headers[] = {{"X-Mesh-Probe", "yes"}, {"Connection", "close"}, {"TE", "gzip"}};
    struct check_spec s = spec_of(server_port, "svc.metadata");

    expect_one(&s, false, "grpc NOT_SERVING"); /* without the header */
    s.headers = headers;
    s.nheaders = 3; /* the two forbidden ones are dropped, not sent */
    expect_one(&s, true, "grpc SERVING");
}

static void test_refused(void **state)
{
    struct check_spec s = spec_of(dead_port(), "");

    expect_one(&s, false, "connect: Connection refused");
}

/* Many attempts leave no fd behind (session, socket). */
static void test_no_fd_leak(void **state)
{
    struct check_spec s = spec_of(server_port, "svc.ok");
    struct rec r;
    int before = count_fds();

    s.interval_ms = 20;
    probe_once(&s, &r, 10, 5.0);
    assert_int_equal(r.n, 10);
    for (int i = 0; i < 10; i++)
        assert_true(r.pass[i]);
    s = spec_of(server_port, "svc.nosuch");
    s.interval_ms = 20;
    probe_once(&s, &r, 5, 5.0);
    assert_int_equal(r.n, 5);
    assert_int_equal(count_fds(), before);
}

/* ---- against canned HTTP/2 ------------------------------------------------ */

/* An empty SETTINGS frame: the server's connection preface. */
#define H2_SETTINGS "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

static void expect_raw(const void *resp, size_t len, bool shut_after, const char *detail_prefix)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;

    raw_init(&r, loop, resp, len);
    r.shut_after = shut_after;
    struct check_spec s = spec_of(r.port, "svc.x");
    s.timeout_ms = 500;
    expect_one(&s, false, detail_prefix);
    run_for(loop, 0.05);
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.open_conns, 0); /* the probe closed its connection */
    raw_free(&r);
}

/* What the probe sends: the client preface, and (HPACK aside) the path and
 * the framed request naming the service at the end. */
static void test_request_bytes(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const unsigned char msg[] = {0, 0, 0, 0, 7, 0x0a, 5, 's', 'v', 'c', '.', 'x'};

    raw_init(&r, loop, NULL, 0);
    struct check_spec s = spec_of(r.port, "svc.x");
    s.timeout_ms = 300;
    struct rec rc;
    probe_once(&s, &rc, 1, 2.0);
    assert_int_equal(rc.n, 1);
    assert_string_equal(rc.detail[0], "timeout after 300 ms");
    assert_true(r.req_len > sizeof(preface) + sizeof(msg));
    assert_memory_equal(r.req, preface, sizeof(preface) - 1);
    assert_memory_equal(r.req + r.req_len - sizeof(msg), msg, sizeof(msg));
    raw_free_closed(&r);
}

static void test_goaway_fails(void **state)
{
    /* GOAWAY last-stream-id 0, NO_ERROR, debug "bye": our stream 1 was
     * never processed. */
    static const char resp[] = H2_SETTINGS "\x00\x00\x0b\x07\x00\x00\x00\x00\x00"
                                           "\x00\x00\x00\x00"
                                           "\x00\x00\x00\x00"
                                           "bye";
    expect_raw(resp, sizeof(resp) - 1, false, "GOAWAY from server: NO_ERROR: bye");
}

static void test_rst_stream_fails(void **state)
{
    static const char resp[] = H2_SETTINGS "\x00\x00\x04\x03\x00\x00\x00\x00\x01"
                                           "\x00\x00\x00\x07";
    expect_raw(resp, sizeof(resp) - 1, false, "RST_STREAM from server: REFUSED_STREAM");
}

static void test_http1_answer_fails(void **state)
{
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    expect_raw(resp, sizeof(resp) - 1, false, "bad HTTP/2 from server: PROTOCOL_ERROR");
}

static void test_close_without_answer_fails(void **state)
{
    expect_raw("", 0, true, "connection closed without response");
    expect_raw(H2_SETTINGS, sizeof(H2_SETTINGS) - 1, true, "connection closed without response");
}

static void test_non_grpc_answers_fail(void **state)
{
    /* HEADERS on stream 1, END_STREAM|END_HEADERS, ":status: 404" (HPACK
     * static index 13) */
    static const char r404[] = H2_SETTINGS "\x00\x00\x01\x01\x05\x00\x00\x00\x01\x8d";
    /* ":status: 200" (index 8) and no grpc-status at all */
    static const char r200[] = H2_SETTINGS "\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88";
    /* 200 + "grpc-status: x" as a literal without indexing */
    static const char rbad[] = H2_SETTINGS "\x00\x00\x10\x01\x05\x00\x00\x00\x01\x88"
                                           "\x00\x0bgrpc-status\x01x";

    expect_raw(r404, sizeof(r404) - 1, false, "HTTP/2 status 404, not a gRPC answer");
    expect_raw(r200, sizeof(r200) - 1, false, "no grpc-status in the answer");
    expect_raw(rbad, sizeof(rbad) - 1, false, "bad grpc-status \"x\"");
}

/* A complete, valid answer in canned bytes: headers, one DATA frame with
 * SERVING, trailers with grpc-status 0. Pins the trailers path. */
static void test_canned_serving(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    static const char resp[] =
        H2_SETTINGS "\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88" /* HEADERS 200 */
                    "\x00\x00\x07\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x02\x08\x01" /* DATA */
                    "\x00\x00\x0f\x01\x05\x00\x00\x00\x01\x00\x0bgrpc-status\x01"
                    "0"; /* trailers, END_STREAM */

    raw_init(&r, loop, resp, sizeof(resp) - 1);
    struct check_spec s = spec_of(r.port, "svc.x");
    expect_one(&s, true, "grpc SERVING in ");
    raw_free_closed(&r);
}

/* probe_stop mid-attempt frees the session and closes the socket, with no
 * callback; the probe then restarts cleanly. */
static void test_stop_mid_attempt(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    struct rec rc;

    raw_init(&r, loop, NULL, 0);
    struct check_spec s = spec_of(r.port, "svc.ok");
    struct probe *p = rec_probe(&s, &rc, 1);
    probe_start(p);
    run_for(loop, 0.2);
    assert_true(p->running);
    assert_int_equal(r.accepted, 1);
    probe_stop(p);
    run_for(loop, 0.1);
    assert_int_equal(rc.n, 0);
    assert_int_equal(r.open_conns, 0);
    raw_free(&r);

    /* restart, now against the real server */
    s.probe_port = server_port;
    probe_start(p);
    run_for(loop, 3.0);
    assert_int_equal(rc.n, 1);
    assert_true(rc.pass[0]);
    probe_free(p);
}

/* ---- the request's header block, decoded ---------------------------------- */

struct hfield {
    char name[64], value[128];
};

/* Decodes the HEADERS (+ CONTINUATION) block of stream 1 in what a client
 * sent (preface, then frames) with nghttp2's own HPACK decoder. */
static size_t request_fields(const unsigned char *req, size_t len, struct hfield *out, size_t max)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    unsigned char block[8192];
    size_t blen = 0, pos = sizeof(preface) - 1, n = 0;

    assert_true(len > pos);
    assert_memory_equal(req, preface, pos);
    while (pos + 9 <= len) {
        size_t flen = (size_t)req[pos] << 16 | (size_t)req[pos + 1] << 8 | req[pos + 2];
        unsigned type = req[pos + 3], flags = req[pos + 4];
        const unsigned char *f = req + pos + 9;
        assert_true(pos + 9 + flen <= len);
        pos += 9 + flen;
        if (type != 1 && type != 9) /* HEADERS, CONTINUATION */
            continue;
        size_t skip = 0, pad = 0;
        if (type == 1 && (flags & 0x08)) { /* PADDED */
            pad = f[0];
            skip = 1;
        }
        if (type == 1 && (flags & 0x20)) /* PRIORITY */
            skip += 5;
        assert_true(blen + flen - skip - pad <= sizeof(block));
        memcpy(block + blen, f + skip, flen - skip - pad);
        blen += flen - skip - pad;
        if (flags & 0x04) /* END_HEADERS */
            break;
    }
    assert_true(blen > 0);

    nghttp2_hd_inflater *inf;
    assert_int_equal(nghttp2_hd_inflate_new(&inf), 0);
    const unsigned char *in = block;
    size_t inlen = blen;
    for (;;) {
        nghttp2_nv nv;
        int iflags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &iflags, in, inlen, 1);
        assert_true(rv >= 0);
        in += rv;
        inlen -= (size_t)rv;
        if ((iflags & NGHTTP2_HD_INFLATE_EMIT) && n < max) {
            snprintf(out[n].name, sizeof(out[n].name), "%.*s", (int)nv.namelen, nv.name);
            snprintf(out[n].value, sizeof(out[n].value), "%.*s", (int)nv.valuelen, nv.value);
            n++;
        }
        if (iflags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            break;
        }
        if ((iflags & NGHTTP2_HD_INFLATE_EMIT) == 0 && inlen == 0)
            break;
    }
    nghttp2_hd_inflate_del(inf);
    return n;
}

static const char *field(const struct hfield *f, size_t n, const char *name, int *count)
{
    const char *v = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0) {
            v = f[i].value;
            (*count)++;
        }
    return v;
}

/* extra_healthcheck_headers as they go out: names lower-cased; Host as
 * :authority (the last one given); grpc-*, connection-specific, fixed and
 * malformed ones dropped, never sent twice or injected. */
static void test_metadata_on_the_wire(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct raw r;
    struct kv headers[] = {
        {"X-Mixed-Case", "Value Kept"},
        {"Host", "first.example"},
        {"host", "svc.example:8443"},
        {"grpc-timeout", "1S"},
        {"Grpc-Encoding", "gzip"},
        {"Content-Type", "text/plain"},
        {"User-Agent", "spoof"},
        {"Keep-Alive", "1"},
        {"bad name", "x"},
        {"", "empty name"},
        {"x-crlf", "a\r\nx-injected: 1"},
        {"x-null", NULL},
        {"x-token_ok!", "1"},
    };

    raw_init(&r, loop, NULL, 0);
    struct check_spec s = spec_of(r.port, "svc.x");
    s.timeout_ms = 300;
    s.headers = headers;
    s.nheaders = sizeof(headers) / sizeof(headers[0]);
    struct rec rc;
    probe_once(&s, &rc, 1, 2.0);
    assert_int_equal(rc.n, 1);
    assert_string_equal(rc.detail[0], "timeout after 300 ms");

    struct hfield f[32];
    size_t n = request_fields(r.req, r.req_len, f, 32);
    int k;
    assert_string_equal(field(f, n, ":method", &k), "POST");
    assert_string_equal(field(f, n, ":path", &k), "/grpc.health.v1.Health/Check");
    assert_string_equal(field(f, n, ":authority", &k), "svc.example:8443");
    assert_int_equal(k, 1);
    assert_string_equal(field(f, n, "content-type", &k), "application/grpc");
    assert_int_equal(k, 1);
    assert_string_equal(field(f, n, "user-agent", &k), "meshreg-probe");
    assert_int_equal(k, 1);
    assert_string_equal(field(f, n, "te", &k), "trailers");
    assert_string_equal(field(f, n, "grpc-timeout", &k), "300m");
    assert_int_equal(k, 1);
    assert_string_equal(field(f, n, "x-mixed-case", &k), "Value Kept");
    assert_string_equal(field(f, n, "x-token_ok!", &k), "1");
    assert_null(field(f, n, "grpc-encoding", &k));
    assert_null(field(f, n, "keep-alive", &k));
    assert_null(field(f, n, "host", &k));
    assert_null(field(f, n, "bad name", &k));
    assert_null(field(f, n, "x-crlf", &k));
    assert_null(field(f, n, "x-null", &k));
    assert_null(field(f, n, "x-injected", &k));
    assert_int_equal(n, 10); /* 4 pseudo-headers (:scheme too), 4 fixed, 2 extra */
    run_for(loop, 0.05);
    raw_free(&r);

    /* without a Host, :authority is host:port */
    raw_init(&r, loop, NULL, 0);
    s = spec_of(r.port, "");
    s.timeout_ms = 300;
    probe_once(&s, &rc, 1, 2.0);
    n = request_fields(r.req, r.req_len, f, 32);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", r.port);
    assert_string_equal(field(f, n, ":authority", &k), want);
    run_for(loop, 0.05);
    raw_free(&r);
}

/* A SERVING answer (grpc-status 0) whose message is over the 4 kB a health
 * answer can need, and one with a status the health proto does not name. */
static void test_oversized_and_unknown_status(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    static unsigned char big[6000];
    size_t o = 0;
    static const unsigned char settings[] = H2_SETTINGS;
    static const unsigned char head200[] = "\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88";
    static const unsigned char trailers[] =
        "\x00\x00\x0f\x01\x05\x00\x00\x00\x01\x00\x0bgrpc-status"
        "\x01"
        "0";

    memcpy(big + o, settings, 9), o += 9;
    memcpy(big + o, head200, 10), o += 10;
    /* DATA, 5000 bytes: a 4995-byte gRPC message of field 2 (bytes) */
    const unsigned char data_head[] = {0x00, 0x13, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    memcpy(big + o, data_head, 9), o += 9;
    big[o++] = 0;
    big[o++] = 0, big[o++] = 0, big[o++] = 0x13, big[o++] = 0x83; /* length 4995 */
    memset(big + o, 0, 4995), o += 4995;
    memcpy(big + o, trailers, sizeof(trailers) - 1), o += sizeof(trailers) - 1;

    struct raw r;
    raw_init(&r, loop, big, o);
    struct check_spec s = spec_of(r.port, "svc.x");
    expect_one(&s, false, "grpc: answer larger than 4096 bytes");
    raw_free_closed(&r);

    /* HealthCheckResponse{status: 99} */
    static const char resp99[] =
        H2_SETTINGS "\x00\x00\x01\x01\x04\x00\x00\x00\x01\x88"
                    "\x00\x00\x07\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x02\x08\x63"
                    "\x00\x00\x0f\x01\x05\x00\x00\x00\x01\x00\x0bgrpc-status\x01"
                    "0";
    raw_init(&r, loop, resp99, sizeof(resp99) - 1);
    s = spec_of(r.port, "svc.x");
    expect_one(&s, false, "grpc status 99");
    run_for(loop, 0.05);
    raw_free(&r);
}

/* Every allocation of an attempt can fail: that attempt fails cleanly
 * (ASan: nothing leaked, nothing touched after free) and the next one,
 * with allocations back, passes against the real server. */
static void test_out_of_memory_everywhere(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct kv headers[] = {{"Host", "svc.example"}, {"X-Mesh-Probe", "yes"}};
    struct check_spec s = spec_of(server_port, "svc.metadata");
    char err[128];

    s.headers = headers;
    s.nheaders = 2;
    s.interval_ms = 20;
    /* never started: nothing allocated, nothing to free */
    probe_free(probe_new(loop, &s, on_result, NULL, err, sizeof(err)));
    /* state, message, headers, copies, the client */
    assert_true(probe_oom_sweep(&s, 200, 5.0) >= 5);
}

/* ---- the real server ------------------------------------------------------- */

static int group_setup(void **state)
{
    char script[PATH_MAX + 64];

    if (test_repo_path("tests/fixtures/grpc/health_server.py", R_OK, script, sizeof(script)) < 0) {
        fprintf(stderr, "test_probe_grpc: tests/fixtures/grpc/health_server.py not found\n");
        return -1;
    }
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import grpc' 2>/dev/null") != 0) {
        fprintf(stderr, "test_probe_grpc needs /usr/bin/python3 with grpc (python3-grpcio)\n");
        return -1;
    }
    /* grpcio takes a moment to import and bind */
    char *argv[] = {"/usr/bin/python3", script, "0", NULL};
    return spawn_port_server(argv, "test_probe_grpc: the gRPC server", &server_pid, &server_port);
}

static int group_teardown(void **state)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        /* a server that does not stop within 3 s is killed */
        for (int i = 0; i < 300 && waitpid(server_pid, NULL, WNOHANG) == 0; i++)
            usleep(10000);
        if (kill(server_pid, 0) == 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, NULL, 0);
        }
    }
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serving_passes),
        cmocka_unit_test(test_not_serving_fails),
        cmocka_unit_test(test_unknown_service_fails),
        cmocka_unit_test(test_grpc_error_message),
        cmocka_unit_test(test_garbage_message_fails),
        cmocka_unit_test(test_hang_fails_at_deadline),
        cmocka_unit_test(test_metadata_sent),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_request_bytes),
        cmocka_unit_test(test_goaway_fails),
        cmocka_unit_test(test_rst_stream_fails),
        cmocka_unit_test(test_http1_answer_fails),
        cmocka_unit_test(test_close_without_answer_fails),
        cmocka_unit_test(test_non_grpc_answers_fail),
        cmocka_unit_test(test_canned_serving),
        cmocka_unit_test(test_stop_mid_attempt),
        cmocka_unit_test(test_metadata_on_the_wire),
        cmocka_unit_test(test_oversized_and_unknown_status),
        cmocka_unit_test(test_out_of_memory_everywhere),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
