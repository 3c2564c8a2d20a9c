/* libFuzzer target: the admin endpoint's input, minus the socket. Like
 * admin.c's conn_process(), the bytes are sniffed: the HTTP/2 client
 * preface starts an h2c session (sidecar/admin_h2.c on nghttp2, fed in
 * chunks, its output drained); anything else is HTTP/1.x, parsed with the
 * admin limits (proto/http1.c) request after request (pipelining). Every
 * complete request goes through admin_route() on the admin fixture's view
 * (tests/admin_fixture.h: real rise/fall counters and drain machine).
 * This reaches what fuzz_form cannot: the drain route's query/body
 * parameters (reason, expires: strtod on peer bytes), the Content-Type
 * check, the hacheck path parsing (/http/<svc.ns>/<port>/...),
 * /health/<name>, and the HTTP/2 stream/header/body limits.
 *
 * The fixture is built once: two registrations, one up (its record
 * confirmed) and one down. Everything an input may change (the drain
 * state, the /health cache) is reset after it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "sidecar/admin/admin_h2.h"
#include "sidecar/admin/admin_route.h"
#include "sidecar/log.h"
#include "tests/admin_fixture.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct afx *fx;
static struct admin_routes rt; /* the admin endpoint's: the view and the /health cache */

static void fx_cleanup(void)
{
    status_cache_clear(&rt.health);
    afx_free(fx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    fx = afx_new(2, 1);
    afx_set_health(fx, &fx->checks[1], false);
    fx->checks[1].last_result = "HTTP 503";
    fx->checks[1].last_pass = false;
    fx->checks[1].registered = false;
    fx->checks[0].last_result = "HTTP 200";
    rt.view = fx->view;
    atexit(fx_cleanup);
    return 0;
}

static void check_reply(const struct http1_request *req, const struct admin_reply *r)
{
    static const int ok[] = {200, 400, 403, 404, 405, 500, 503};
    size_t i;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && ok[i] != r->status; i++)
        ;
    if (i == sizeof(ok) / sizeof(ok[0]))
        fprintf(stderr, "status %d\n", r->status);
    CHECK(i < sizeof(ok) / sizeof(ok[0]));
    CHECK(r->content_type != NULL);
    CHECK(r->len == 0 || r->body != NULL);
    CHECK((r->status == 405) == (r->allow != NULL));
    /* Bodies are text or JSON: no NUL inside, and what the peer sent in
     * the path is quoted at most once, cut (no echo amplification). */
    CHECK(r->body == NULL || !memchr(r->body, '\0', r->len));
    CHECK(r->len <= 64 * 1024);
    (void)req;
}

/* HTTP/1.x: every complete request in the buffer, in order, as admin.c
 * answers a pipelining client; it stops where admin.c would wait for more
 * or close. */
static void http1(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct http1_request req;
        struct admin_reply r;
        long hl =
            http1_parse_request((const char *)data + off, size - off, 16 * 1024, 64 * 1024, &req);
        if (hl <= 0)
            return;
        size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
        if (size - off - (size_t)hl < body_len)
            return; /* admin.c waits for the whole body */
        /* The body in its own exact-size buffer: reading past it is an
         * ASan report, as it would be past the connection's input. */
        char *body = malloc(body_len ? body_len : 1);
        if (!body)
            return;
        memcpy(body, data + off + hl, body_len);
        admin_route(&rt, &req, body, true, "127.0.0.1:40000", &r);
        check_reply(&req, &r);
        free(r.body);
        free(body);
        off += (size_t)hl + body_len;
        if (!req.keep_alive)
            return;
    }
}

/* Takes everything the session has to write; bounded, since a session
 * that never stops producing would be a bug of its own. */
static int drain_output(struct admin_h2 *h)
{
    for (int i = 0; i < 100000; i++) {
        const char *out;
        long n = admin_h2_send(h, &out);
        if (n <= 0)
            return (int)n;
        CHECK(out != NULL);
    }
    CHECK(!"admin_h2_send() never ran dry");
    return -1;
}

/* h2c: the input (preface first) in chunks whose size depends on the
 * input's length, so both whole and split frames are seen. */
static void h2(const uint8_t *data, size_t size)
{
    struct admin_h2 *h = admin_h2_new(&rt, true, "127.0.0.1:40000", 16 * 1024, 64 * 1024);
    if (!h)
        return;
    size_t chunk = size % 2 ? size : 1 + size % 61;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc = admin_h2_recv(h, (const char *)data + off, n);
        CHECK(rc >= -1);
        if (drain_output(h) < 0 || rc < 0)
            break;
    }
    drain_output(h);
    (void)admin_h2_alive(h);
    admin_h2_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sniff = admin_h2_sniff((const char *)data, size);
    if (sniff > 0)
        h2(data, size);
    else if (sniff < 0)
        http1(data, size);

    /* Back to the state every input starts from. */
    drain_init(&fx->drain, 30, 10, false);
    status_cache_clear(&rt.health);
    fx->gen++;
    return 0;
}
