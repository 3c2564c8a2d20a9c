/* libFuzzer target: HTTP/1.x head parsing (proto/http1.c), the first thing
 * the admin endpoint runs on bytes from the network, and the response side
 * the http probe, httpc and `meshreg ctl` run on what an app answers.
 *
 * Beyond "no crash, no leak, no UB" it checks the parser's contract
 * (http1.h): every pointer it hands out lies inside the head it reports,
 * error_status is one of the documented values, a complete head parses the
 * same when the buffer ends right after it, and a buffer cut one byte short
 * of it is never a complete head. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

/* The admin endpoint's limits (sidecar.c: struct admin_limits). */
#define ADMIN_MAX_HEAD (16 * 1024)
#define ADMIN_MAX_BODY (64 * 1024)
/* httpc.c and ctl.c read response heads of up to 32 and 64 KiB. */
#define RESP_MAX_HEAD (32 * 1024)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int inside(const char *p, size_t n, const char *buf, long hl)
{
    return p >= buf && p + n <= buf + hl;
}

static void check_headers(const struct http1_header *h, size_t n, const char *buf, long hl)
{
    CHECK(n <= HTTP1_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name_len > 0);
        CHECK(inside(h[i].name, h[i].name_len, buf, hl));
        CHECK(inside(h[i].value, h[i].value_len, buf, hl));
        /* A header value never carries a line break into the caller. */
        CHECK(!memchr(h[i].value, '\n', h[i].value_len));
        CHECK(!memchr(h[i].value, '\r', h[i].value_len));
    }
}

static long request(const char *buf, size_t len, size_t max_head, size_t max_body)
{
    struct http1_request req;
    long hl = http1_parse_request(buf, len, max_head, max_body, &req);
    if (hl < 0) {
        int st = req.error_status;
        CHECK(st == 400 || st == 413 || st == 431 || st == 501 || st == 505);
        return hl;
    }
    CHECK(req.error_status == 0);
    if (hl == 0)
        return 0;
    CHECK((size_t)hl <= len && (size_t)hl <= max_head);
    CHECK(req.method_len > 0 && inside(req.method, req.method_len, buf, hl));
    CHECK(req.target_len > 0 && inside(req.target, req.target_len, buf, hl));
    CHECK(req.minor >= 0 && req.minor <= 9);
    CHECK(!req.chunked);
    CHECK(req.content_length >= -1);
    CHECK(req.content_length <= 0 || (size_t)req.content_length <= max_body);
    CHECK(req.minor == 0 || req.has_host);
    check_headers(req.headers, req.nheaders, buf, hl);
    CHECK(req.has_host == (http1_find_header(req.headers, req.nheaders, "Host") != NULL));
    return hl;
}

static long response(const char *buf, size_t len, size_t max_head)
{
    struct http1_response res;
    long hl = http1_parse_response(buf, len, max_head, &res);
    if (hl <= 0)
        return hl;
    CHECK((size_t)hl <= len && (size_t)hl <= max_head);
    CHECK(res.status >= 100 && res.status <= 999);
    CHECK(res.minor >= 0 && res.minor <= 9);
    CHECK(res.content_length >= -1);
    check_headers(res.headers, res.nheaders, buf, hl);
    return hl;
}

/* Parsing must not depend on bytes after the head: re-parse a heap copy
 * that ends exactly at it (ASan then catches any read past the end), and
 * one byte shorter, which cannot hold a complete head. */
static void reparse(const uint8_t *data, long hl, int is_request)
{
    char *head = malloc((size_t)hl);
    if (!head)
        return;
    memcpy(head, data, (size_t)hl);
    if (is_request) {
        CHECK(request(head, (size_t)hl, ADMIN_MAX_HEAD, ADMIN_MAX_BODY) == hl);
        CHECK(request(head, (size_t)hl - 1, ADMIN_MAX_HEAD, ADMIN_MAX_BODY) <= 0);
    } else {
        CHECK(response(head, (size_t)hl, RESP_MAX_HEAD) == hl);
        CHECK(response(head, (size_t)hl - 1, RESP_MAX_HEAD) <= 0);
    }
    free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    long hl = request(buf, size, ADMIN_MAX_HEAD, ADMIN_MAX_BODY);
    if (hl > 0)
        reparse(data, hl, 1);
    /* Tight limits reach the 431/413 paths with short inputs. */
    request(buf, size, size / 2, size / 4);
    request(buf, size, 0, 0);

    hl = response(buf, size, RESP_MAX_HEAD);
    if (hl > 0)
        reparse(data, hl, 0);
    response(buf, size, size / 2);
    return 0;
}
