/* HTTP/1.x head parsing: well-formed, malformed, oversized, smuggling-prone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

#define HEAD 16384
#define BODY 65536

static long req(const char *s, struct http1_request *r)
{
    return http1_parse_request(s, strlen(s), HEAD, BODY, r);
}

static void simple_get(void **state)
{
    struct http1_request r;
    const char *s = "GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
    assert_int_equal(req(s, &r), (long)strlen(s));
    assert_int_equal(r.method_len, 3);
    assert_memory_equal(r.method, "GET", 3);
    assert_int_equal(r.target_len, 7);
    assert_memory_equal(r.target, "/health", 7);
    assert_int_equal(r.minor, 1);
    assert_true(r.keep_alive);
    assert_int_equal(r.content_length, -1);
    assert_int_equal(r.nheaders, 2);
    const struct http1_header *h = http1_find_header(r.headers, r.nheaders, "user-agent");
    assert_non_null(h);
    assert_int_equal(h->value_len, 1);
    assert_memory_equal(h->value, "t", 1);
}

static void incomplete_heads_ask_for_more(void **state)
{
    struct http1_request r;
    const char *full = "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
    for (size_t n = 0; n < strlen(full); n++)
        assert_int_equal(http1_parse_request(full, n, HEAD, BODY, &r), 0);
    assert_int_equal(http1_parse_request(full, strlen(full), HEAD, BODY, &r), (long)strlen(full));
    assert_int_equal(r.content_length, 5);
}

static void http10_without_host_is_fine_and_closes(void **state)
{
    struct http1_request r;
    assert_true(req("GET /health HTTP/1.0\r\n\r\n", &r) > 0);
    assert_int_equal(r.minor, 0);
    assert_false(r.has_host);
    assert_false(r.keep_alive);
    assert_true(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
    assert_true(r.keep_alive);
}

static void http11_connection_close(void **state)
{
    struct http1_request r;
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", &r) > 0);
    assert_false(r.keep_alive);
}

static void bare_lf_line_ends_are_accepted(void **state)
{
    struct http1_request r;
    const char *s = "GET /status HTTP/1.1\nHost: a\n\n";
    assert_int_equal(req(s, &r), (long)strlen(s));
}

static void leading_empty_lines_are_skipped(void **state)
{
    struct http1_request r;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(req(s, &r), (long)strlen(s));
    assert_memory_equal(r.method, "GET", 3);
}

static void expect_status(const char *s, int status)
{
    struct http1_request r;
    long n = req(s, &r);
    if (n != -1 || r.error_status != status)
        fail_msg("\"%s\": got %ld / %d, want -1 / %d", s, n, r.error_status, status);
}

static void malformed_requests_are_400(void **state)
{
    expect_status("GARBAGE\r\n\r\n", 400);
    expect_status("GET\r\n\r\n", 400);
    expect_status("GET /x\r\n\r\n", 400);
    expect_status(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\n\r\n", 400);                       /* 1.1 needs Host */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); /* two Hosts */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400); /* obs-fold */
    expect_status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);         /* bare CR */
    expect_status("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400);
}

static void framing_attacks_are_refused(void **state)
{
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    /* Repeated identical Content-Length is allowed (RFC 9112 6.3). */
    struct http1_request r;
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
                    &r) > 0);
    assert_int_equal(r.content_length, 2);
}

static void unsupported_version_is_505(void **state)
{
    expect_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
}

static void oversized_head_is_431(void **state)
{
    size_t n = HEAD + 100;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    memcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    s[n] = '\0';
    struct http1_request r;
    /* Not even complete yet, but already too big: refuse now. */
    assert_int_equal(http1_parse_request(s, n, HEAD, BODY, &r), -1);
    assert_int_equal(r.error_status, 431);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    assert_int_equal(http1_parse_request(s, n, HEAD, BODY, &r), -1);
    assert_int_equal(r.error_status, 431);
    free(s);
}

static void too_many_headers_is_431(void **state)
{
    char s[4096];
    size_t off = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTP1_MAX_HEADERS + 1; i++)
        off += (size_t)snprintf(s + off, sizeof(s) - off, "X%d: v\r\n", i);
    snprintf(s + off, sizeof(s) - off, "\r\n");
    expect_status(s, 431);
}

static void oversized_body_is_413(void **state)
{
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", 413);
    struct http1_request r;
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n", &r) > 0);
}

static void response_heads(void **state)
{
    struct http1_response r;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_int_equal(http1_parse_response(s, strlen(s), HEAD, &r), (long)strlen(s) - 2);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, 2);
    assert_true(r.keep_alive);
    s = "HTTP/1.0 503\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_true(http1_parse_response(s, strlen(s), HEAD, &r) > 0);
    assert_int_equal(r.status, 503);
    assert_true(r.chunked);
    assert_false(r.keep_alive);
    /* Garbage is refused before a full head arrives: no wait for the deadline. */
    assert_int_equal(http1_parse_response("SSH-2.0", 7, HEAD, &r), -1);
    assert_int_equal(http1_parse_response("HTT", 3, HEAD, &r), 0);
    s = "HTTP/1.1 2x0 OK\r\n\r\n";
    assert_int_equal(http1_parse_response(s, strlen(s), HEAD, &r), -1);
    s = "HTTP/1.1 099 Low\r\n\r\n";
    assert_int_equal(http1_parse_response(s, strlen(s), HEAD, &r), -1);
}

static void writes_a_head(void **state)
{
    char out[256];
    size_t n = http1_write_head(out, sizeof(out), 503, "application/json", 12, true);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                             "\r\nContent-Length: 12\r\n\r\n");
    n = http1_write_head(out, sizeof(out), 200, NULL, 0, false);
    out[n] = '\0';
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_int_equal(http1_write_head(out, 10, 200, NULL, 0, true), 0);
}

/* The head writer copies pieces by hand for speed; it must produce exactly
 * what the obvious snprintf would, truncation (0) included. */
static void head_matches_the_obvious_snprintf(void **state)
{
    static const int sts[] = {100, 200, 204, 400, 403, 404, 405, 413, 431, 503, 505, 299};
    static const char *const cts[] = {NULL, "application/json", ""};
    static const size_t lens[] = {0, 9, 10, 48, 100, 65536, (size_t)-1};
    for (size_t cap = 1; cap < 160; cap++)
        for (size_t a = 0; a < sizeof(sts) / sizeof(*sts); a++)
            for (size_t b = 0; b < 3; b++)
                for (size_t c = 0; c < sizeof(lens) / sizeof(*lens); c++)
                    for (int ka = 0; ka < 2; ka++) {
                        char got[256], want[256];
                        int n = snprintf(want, cap,
                                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                                         "%zu\r\n%s\r\n",
                                         sts[a], http1_reason(sts[a]),
                                         cts[b] ? cts[b] : "text/plain", lens[c],
                                         ka ? "" : "Connection: close\r\n");
                        size_t w = n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
                        size_t g = http1_write_head(got, cap, sts[a], cts[b], lens[c], ka);
                        assert_int_equal(g, w);
                        if (w)
                            assert_memory_equal(got, want, w + 1);
                    }
}

/* Token lists and values with the whitespace real clients put around
 * them; header names with every tchar class. */
static void whitespace_and_tokens(void **state)
{
    struct http1_request r;
    const struct http1_header *h;

    assert_true(req("GET / HTTP/1.1\r\nHost: a  \t\r\nConnection: keep-alive , close \t\r\n\r\n",
                    &r) > 0);
    assert_false(r.keep_alive);
    h = http1_find_header(r.headers, r.nheaders, "HOST");
    assert_non_null(h);
    assert_int_equal(h->value_len, 1); /* trailing blanks are not the value */
    assert_true(req("GET / HTTP/1.0\r\nConnection:\t,, Keep-Alive\t,\r\n\r\n", &r) > 0);
    assert_true(r.keep_alive);
    /* a token only counts whole */
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose, clase\r\n\r\n",
                    &r) > 0);
    assert_true(r.keep_alive);
    /* 1.0 asking for both: close wins */
    assert_true(req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r) > 0);
    assert_false(r.keep_alive);
    /* a tab inside a value is fine */
    assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", &r) > 0);
    h = http1_find_header(r.headers, r.nheaders, "x");
    assert_int_equal(h->value_len, 3);
    /* names made of every kind of tchar, and methods too */
    assert_true(req("M-SEARCH * HTTP/1.1\r\nHost: a\r\nX_Y.Z~1!#$%&'*+^`|: v\r\n\r\n", &r) > 0);
    assert_int_equal(r.method_len, 8);
    assert_non_null(http1_find_header(r.headers, r.nheaders, "x_y.z~1!#$%&'*+^`|"));
    assert_null(http1_find_header(r.headers, r.nheaders, "x_y"));
}

static void more_malformed_requests(void **state)
{
    expect_status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);   /* bare CR, request line */
    expect_status("GET / HTTP/1.1\n\rX: y\nHost: a\n\n", 400);    /* bare CR, header line */
    expect_status("GET / HTTP/x.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/:.1\r\nHost: a\r\n\r\n", 400); /* just past the digits */
    expect_status("GET / HTTP/1.:\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1-1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP-1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* DEL in the target */
    expect_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);       /* empty target */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX@Y: v\r\n\r\n", 400);
    /* a NUL byte in a header name */
    static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: v\r\n\r\n";
    struct http1_request r;
    assert_int_equal(http1_parse_request(nul, sizeof(nul) - 1, HEAD, BODY, &r), -1);
    assert_int_equal(r.error_status, 400);
}

static long resp(const char *s, size_t max_head, struct http1_response *r)
{
    return http1_parse_response(s, strlen(s), max_head, r);
}

static void more_response_heads(void **state)
{
    struct http1_response r;

    /* 1.0 with keep-alive; 1.1 with close; a bare LF status line */
    assert_true(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HEAD, &r) > 0);
    assert_true(r.keep_alive);
    assert_true(resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", HEAD, &r) > 0);
    assert_false(r.keep_alive);
    assert_true(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive,close\r\n\r\n", HEAD, &r) > 0);
    assert_false(r.keep_alive);
    assert_true(resp("HTTP/1.1 204\n\n", HEAD, &r) > 0);
    assert_int_equal(r.status, 204);
    /* refused */
    assert_int_equal(resp("HTTP/1.1 20\r\n\r\n", HEAD, &r), -1);       /* short status line */
    assert_int_equal(resp("HTTP/1.1 200OK\r\n\r\n", HEAD, &r), -1);    /* no space after code */
    assert_int_equal(resp("HTTP/1.1 2:0 OK\r\n\r\n", HEAD, &r), -1);
    assert_int_equal(resp("HTTP/1.1_200 OK\r\n\r\n", HEAD, &r), -1);
    assert_int_equal(resp("HTTP/2.0 200 OK\r\n\r\n", HEAD, &r), -1);   /* not 1.x */
    assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", HEAD, &r), -1);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", HEAD, &r), -1);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          HEAD, &r),
                     -1);
    /* a complete head over the limit, and an incomplete one past it */
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: 0123456789\r\n\r\n", 20, &r), -1);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: 0123456789", 20, &r), -1);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: 0", 40, &r), 0);
}

static void reasons_and_bad_statuses(void **state)
{
    static const int known[] = {200, 204, 400, 403, 404, 405, 408, 413, 431, 500, 501, 503, 505};
    char out[256];

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(http1_reason(known[i]), "Unknown") == 0)
            fail_msg("no reason for %d", known[i]);
    assert_string_equal(http1_reason(500), "Internal Server Error");
    assert_string_equal(http1_reason(408), "Request Timeout");
    assert_string_equal(http1_reason(418), "Unknown");
    /* a status that is not three digits writes nothing */
    assert_int_equal(http1_write_head(out, sizeof(out), 99, NULL, 0, true), 0);
    assert_int_equal(http1_write_head(out, sizeof(out), 1000, NULL, 0, true), 0);
    assert_int_equal(http1_write_head(out, sizeof(out), -200, NULL, 0, true), 0);
    assert_int_equal(http1_write_head(out, sizeof(out), 999, NULL, 0, true) > 0, 1);
    assert_true(strncmp(out, "HTTP/1.1 999 Unknown\r\n", 22) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),
        cmocka_unit_test(incomplete_heads_ask_for_more),
        cmocka_unit_test(http10_without_host_is_fine_and_closes),
        cmocka_unit_test(http11_connection_close),
        cmocka_unit_test(bare_lf_line_ends_are_accepted),
        cmocka_unit_test(leading_empty_lines_are_skipped),
        cmocka_unit_test(malformed_requests_are_400),
        cmocka_unit_test(framing_attacks_are_refused),
        cmocka_unit_test(unsupported_version_is_505),
        cmocka_unit_test(oversized_head_is_431),
        cmocka_unit_test(too_many_headers_is_431),
        cmocka_unit_test(oversized_body_is_413),
        cmocka_unit_test(response_heads),
        cmocka_unit_test(writes_a_head),
        cmocka_unit_test(head_matches_the_obvious_snprintf),
        cmocka_unit_test(whitespace_and_tokens),
        cmocka_unit_test(more_malformed_requests),
        cmocka_unit_test(more_response_heads),
        cmocka_unit_test(reasons_and_bad_statuses),
    };
    return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
