/* libFuzzer target: the admin endpoint's input, minus the socket. Like
 * admin.c's conn_process(), the bytes are sniffed: the HTTP/2 client
 * preface starts an h2c session (sidecar/admin_h2.c on nghttp2, fed in
 * chunks, its output drained); anything else is HTTP/1.x, parsed with the
 * admin limits (proto/http1.c) request after request (pipelining). Every
 * complete request goes through admin_route() on a real struct sidecar.
 * This reaches what fuzz_form cannot: the drain route's query/body
 * parameters (reason, expires: strtod on peer bytes), the Content-Type
 * check, the hacheck path parsing (/http/<svc.ns>/<port>/...),
 * /health/<name>, and the HTTP/2 stream/header/body limits.
 *
 * The fixture is built once: two registrations (one up, one down) and the
 * file: backend in a temp dir, started so that one record exists and then
 * stopped so that no input can change it. Everything an input may change
 * (the drain state, the tick timer, the /health cache) is reset after it. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/http1.h"
#include "sidecar/admin/admin_h2.h"
#include "sidecar/admin/admin_route.h"
#include "sidecar/log.h"
#include "sidecar/backend/reg.h"
#include "sidecar/sidecar.h"
#include "sidecar/admin/status.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct {
    struct ev_loop *loop;
    struct mr_config cfg;
    struct check_spec specs[2];
    struct check checks[2];
    struct sidecar sc;
    char dir[64];
    char backend[96];
} fx;

static void spec_init(struct check_spec *s, const char *name, const char *ns, int port)
{
    memset(s, 0, sizeof(*s));
    s->name = (char *)name;
    s->service = "svc";
    s->ns = (char *)ns;
    s->instance = "main";
    s->registered = true;
    s->host = "10.0.0.5";
    s->port = port;
    s->instance_id = "host1";
    s->weight = 10;
    s->probe = PROBE_HTTP;
    s->probe_host = "127.0.0.1";
    s->probe_port = port;
    s->probe_uri = "/status";
    s->timeout_ms = 1000;
    s->interval_ms = 2000;
    s->rise = 1;
    s->fall = 1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fx_cleanup(void)
{
    if (fx.sc.reg)
        reg_free(fx.sc.reg);
    fx.sc.reg = NULL;
    status_reset();
    if (fx.dir[0])
        nftw(fx.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc, (void)argv;

    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/meshreg-fuzz-admin-XXXXXX");
    if (!fx.loop || !mkdtemp(fx.dir)) {
        fprintf(stderr, "fuzz_admin: cannot set up the fixture\n");
        exit(1);
    }
    snprintf(fx.backend, sizeof(fx.backend), "file:%s", fx.dir);
    atexit(fx_cleanup);

    spec_init(&fx.specs[0], "svc.main", "main", 8888);
    spec_init(&fx.specs[1], "svc.canary", "canary", 8889);
    fx.cfg.backend = fx.backend;
    fx.cfg.admin_addr = "127.0.0.1:0";
    fx.cfg.drain_seconds = 30;
    fx.cfg.ttl_seconds = 10;
    fx.cfg.checks = fx.specs;
    fx.cfg.nchecks = 2;

    struct sidecar *sc = &fx.sc;
    sc->loop = fx.loop;
    sc->cfg = &fx.cfg;
    sc->checks = fx.checks;
    sc->nchecks = 2;
    sc->started = ev_now(fx.loop);
    drain_init(&sc->drain, 30, 10, false);
    for (size_t i = 0; i < 2; i++) {
        struct check *c = &fx.checks[i];
        c->spec = &fx.specs[i];
        c->sc = sc;
        health_init(&c->health, 1, 1);
        health_feed(&c->health, i == 0);
        c->node = i == 0 ? "host1_8888" : "host1_8889";
        c->record = "{\"host\":\"10.0.0.5\"}";
        snprintf(c->last_detail, sizeof(c->last_detail), i == 0 ? "HTTP 200" : "HTTP 503");
        c->last_pass = i == 0;
        c->last_at = ev_now(fx.loop);
    }
    sc->reg = reg_new(fx.loop, fx.backend, 10, err, sizeof(err));
    if (!sc->reg || reg_start(sc->reg) < 0) {
        fprintf(stderr, "fuzz_admin: reg: %s\n", sc->reg ? "cannot start" : err);
        exit(1);
    }
    reg_set(sc->reg, "svc.main", "host1_8888", fx.checks[0].record);
    /* From here on reg_set() is a no-op: inputs cannot touch the files. */
    reg_stop(sc->reg);
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
    struct sidecar *sc = &fx.sc;
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
        admin_route(sc, &req, body, true, "127.0.0.1:40000", &r);
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
    struct admin_h2 *h = admin_h2_new(&fx.sc, true, "127.0.0.1:40000", 16 * 1024, 64 * 1024);
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
    struct sidecar *sc = &fx.sc;
    int sniff = admin_h2_sniff((const char *)data, size);
    if (sniff > 0)
        h2(data, size);
    else if (sniff < 0)
        http1(data, size);

    /* Back to the state every input starts from. */
    drain_init(&sc->drain, 30, 10, false);
    ev_timer_stop(sc->loop, &sc->tick);
    status_reset();
    sc->gen++;
    return 0;
}
