/* The admin side's unit-test fixture, shared by test_admin.c, test_admin_h2.c and test_agent.c:
 * an owner of struct admin_view (sidecar/admin/admin_view.h) holding N checks with real rise/fall
 * counters (sidecar/health.h) and the real drain machine (sidecar/drain.h), a loop, the admin
 * endpoint or the agent-check on a free loopback port, and helpers that run the loop.
 *
 * Requests change the fixture's drains the way sidecar.c does (a spool of per-scope drains,
 * sidecar/spool.h, and a new generation); a check is up as in sidecar.c: healthy, no
 * shutdown, no drain. What sidecar.c does beyond that (the backend, the tick, --state-dir) is the end-to-end tests'
 * business (tests/e2e/main_drain.sh, main_register.sh). Also used by test_ctl.c's server child
 * and the fuzz_admin harness. */
#ifndef MESHREG_TEST_ADMIN_FIXTURE_H
#define MESHREG_TEST_ADMIN_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sidecar/admin/admin.h"
#include "sidecar/admin/admin_view.h"
#include "sidecar/admin/agent.h"
#include "sidecar/drain.h"
#include "sidecar/health.h"
#include "sidecar/spool.h"

#define AFX_MAX 8

/* The fixture serves cmocka tests and libFuzzer harnesses alike, so it
 * stops the process itself when it cannot be set up. */
#define AFX_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* One check as the fixture keeps it; tests change these fields directly
 * (then bump afx.gen when /health must see it, as sidecar.c does). */
struct afx_check {
    char name[32];     /* "svc.main", "svc.canary", "svc.c2", ... */
    bool registration; /* false: a worker's check */
    struct health health;
    const char *last_result;
    bool last_pass;
    double last_at;
    unsigned long total_passes, total_failures;
    int port;        /* record and probe port: 8888 + i */
    char node[32];   /* "host1_<port>" */
    bool registered; /* the backend confirmed its record */
};

struct afx {
    struct ev_loop *loop;
    struct afx_check checks[AFX_MAX];
    size_t nchecks;
    struct drain drain;
    struct spool spool; /* admin drains, as sidecar.c keeps them */
    struct admin_view_stats stats;      /* what ops->stats answers (see afx_stats) */
    unsigned long probe_counts[5][3];   /* its histograms' buckets */
    unsigned long backend_counts[2][3];
    unsigned long gen;
    double started;
    bool watches_polls;
    bool hacheck_live; /* what state() says of --hacheck-live (afx_new: true) */
    unsigned long reloads; /* ops->reload calls */
    unsigned long polls;   /* ops->polled calls */
    struct admin_view view;
    struct admin *admin; /* afx_admin() */
    struct agent *agent; /* afx_agent() */
    int port;            /* the port of whichever of the two was opened */
};

static inline const struct afx *afx_of(const void *owner)
{
    return owner;
}

static inline void afx_state(const void *owner, struct admin_view_state *out)
{
    const struct afx *f = afx_of(owner);
    double now = ev_now(f->loop);
    memset(out, 0, sizeof(*out));
    out->generation = f->gen;
    out->now = now;
    out->uptime = now - f->started;
    out->watches_polls = f->watches_polls;
    out->hacheck_live = f->hacheck_live;
    out->drain.phase = drain_phase_name(f->drain.phase);
    out->drain.draining = drain_is_shutting_down(&f->drain);
    out->drain.shutting_down = drain_is_shutting_down(&f->drain);
    const struct spool_entry *all = spool_find(&f->spool, SPOOL_ALL, now);
    out->drain.drained = all != NULL;
    out->drain.reason = all ? all->reason : "";
    out->drain.expires_in = all && all->until > now ? all->until - now : 0;
    out->drain.window_remaining = drain_window_remaining(&f->drain, now);
    for (size_t i = 0; i < f->spool.n && !drain_is_shutting_down(&f->drain); i++) {
        double w = f->spool.e[i].asked + f->drain.drain_seconds - now;
        if (w > out->drain.window_remaining)
            out->drain.window_remaining = w;
    }
    out->drain.draining = out->drain.draining || f->spool.n > 0;
    out->drain.drains = f->spool.n;
    out->drain.drain_seconds = f->drain.drain_seconds;
}

static inline void afx_backend(const void *owner, struct admin_view_backend *out)
{
    (void)owner;
    memset(out, 0, sizeof(*out));
    out->uri = "file:/fixture";
    out->type = "file";
    out->state = "connected";
    out->connected = true;
    out->detail = "";
    out->last_error = "";
    out->clusters = 1;
}

/* One store, as a single-cluster backend has. */
static inline void afx_cluster(const void *owner, size_t c, struct admin_view_backend *out)
{
    (void)c;
    afx_backend(owner, out);
    out->name = "";
}

static inline size_t afx_count(const void *owner)
{
    return afx_of(owner)->nchecks;
}

static inline void afx_spool_view(const struct afx *f, const struct spool_entry *e,
                                  struct admin_view_spool *out)
{
    double w = e->asked + f->drain.drain_seconds - ev_now(f->loop);
    out->scope = e->scope;
    out->reason = e->reason;
    out->since = e->since;
    out->until = e->until;
    out->window_remaining = w > 0 ? w : 0;
}

static inline void afx_reg(const void *owner, size_t i, struct admin_view_reg *out)
{
    const struct afx *f = afx_of(owner);
    const struct afx_check *c = &f->checks[i];
    memset(out, 0, sizeof(*out));
    out->name = c->name;
    out->registration = c->registration;
    out->probe = "tcp";
    out->probe_port = c->port;
    out->probed = c->health.probed;
    out->healthy = c->health.up;
    out->passes_in_a_row = c->health.passes_in_a_row;
    out->failures_in_a_row = c->health.failures_in_a_row;
    out->last_result = c->last_result;
    out->last_pass = c->last_pass;
    out->last_at = c->last_at;
    out->total_passes = c->total_passes;
    out->total_failures = c->total_failures;
    out->interval_ms = 2000;
    out->rise = c->health.rise;
    out->fall = c->health.fall;
    const struct spool_entry *d =
        c->registration ? spool_covers(&f->spool, c->name, ev_now(f->loop)) : NULL;
    out->drained = d != NULL;
    if (d)
        afx_spool_view(f, d, &out->drain);
    out->up = c->health.up && !drain_is_shutting_down(&f->drain) && !d;
    if (c->registration) {
        out->host = "10.0.0.5";
        out->port = c->port;
        out->node = c->node;
    }
}

static inline void afx_target(const void *owner, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", afx_of(owner)->checks[i].port);
}

static inline bool afx_registered(const void *owner, size_t i)
{
    return afx_of(owner)->checks[i].registered;
}

static inline size_t afx_placements(const void *owner, size_t i)
{
    return afx_of(owner)->checks[i].registration ? 1 : 0;
}

static inline void afx_placement(const void *owner, size_t i, size_t j, const char **cluster,
                                 bool *registered)
{
    (void)j;
    *cluster = "";
    *registered = afx_registered(owner, i);
}

static inline bool afx_find(const void *owner, const char *name, size_t len, size_t *i)
{
    const struct afx *f = afx_of(owner);
    for (size_t k = 0; k < f->nchecks; k++) {
        if (strlen(f->checks[k].name) == len && memcmp(f->checks[k].name, name, len) == 0) {
            *i = k;
            return true;
        }
    }
    return false;
}

static inline void afx_drain_at(const void *owner, size_t i, struct admin_view_spool *out)
{
    afx_spool_view(afx_of(owner), &afx_of(owner)->spool.e[i], out);
}

static inline void afx_info(const struct afx *f, const struct spool_entry *e,
                            struct admin_drain_info *out)
{
    struct admin_view_spool v;
    afx_spool_view(f, e, &v);
    snprintf(out->scope, sizeof(out->scope), "%s", e->scope);
    snprintf(out->reason, sizeof(out->reason), "%s", e->reason);
    out->since = e->since;
    out->until = e->until;
    out->window_remaining = v.window_remaining;
}

/* Counters for /metrics: tests set afx.stats directly (all zero: nothing
 * happened yet, every kind still listed). */
static inline void afx_stats(const void *owner, struct admin_view_stats *out)
{
    const struct afx *f = afx_of(owner);
    static const double bounds[2] = {0.01, 0.1};
    static const char *const kinds[] = {"http", "https", "tcp", "cmd", "grpc"};
    *out = f->stats;
    for (size_t k = 0; k < 5; k++) {
        struct admin_view_probe_kind *o = &out->kinds[k];
        o->kind = kinds[k];
        o->duration.bounds = bounds;
        o->duration.nbounds = 2;
        o->duration.counts = f->probe_counts[k];
    }
    out->nkinds = 5;
    for (size_t i = 0; i < 2; i++) {
        out->backend_ops[i].op = i == 0 ? "put" : "delete";
        out->backend_ops[i].duration.bounds = bounds;
        out->backend_ops[i].duration.nbounds = 2;
        out->backend_ops[i].duration.counts = f->backend_counts[i];
    }
    if (!out->last_reload)
        out->last_reload = "none";
    if (!out->last_reload_error)
        out->last_reload_error = "";
}

/* Scopes as sidecar.c knows them: "all" or a registration's name. */
static inline bool afx_scope_known(const struct afx *f, const char *scope)
{
    size_t i;
    return strcmp(scope, SPOOL_ALL) == 0 ||
           (afx_find(f, scope, strlen(scope), &i) && f->checks[i].registration);
}

static inline void afx_drain(void *owner, const struct admin_drain_request *r,
                             struct admin_drain_result *out)
{
    struct afx *f = owner;
    struct spool_entry old;
    double now = ev_now(f->loop);
    double until = r->until > 0 ? r->until : r->expires_s > 0 ? now + r->expires_s : 0;
    memset(out, 0, sizeof(*out));
    out->status = 404;
    if (!afx_scope_known(f, r->scope))
        return;
    AFX_CHECK(spool_down(&f->spool, r->scope, r->reason, until, now, &old, &out->replaced) == 0,
              "spool_down");
    out->status = 200;
    if (out->replaced)
        afx_info(f, &old, &out->old);
    afx_info(f, spool_find(&f->spool, r->scope, now), &out->now);
    f->gen++;
}

static inline void afx_undrain(void *owner, const char *scope, struct admin_drain_result *out)
{
    struct afx *f = owner;
    struct spool_entry old;
    memset(out, 0, sizeof(*out));
    out->status = afx_scope_known(f, scope) ? 200 : 404;
    if ((out->replaced = spool_up(&f->spool, scope, &old)))
        afx_info(f, &old, &out->old);
    f->gen++;
}

/* The `all` drain as tests look at it. */
static inline bool afx_drained(const struct afx *f)
{
    return spool_find(&f->spool, SPOOL_ALL, ev_now(f->loop)) != NULL;
}

static inline const char *afx_reason(const struct afx *f)
{
    const struct spool_entry *e = spool_find(&f->spool, SPOOL_ALL, ev_now(f->loop));
    return e ? e->reason : "";
}

static inline double afx_until(const struct afx *f)
{
    const struct spool_entry *e = spool_find(&f->spool, SPOOL_ALL, ev_now(f->loop));
    return e ? e->until : 0;
}

/* Drains (or, drained false, undrains) the `all` scope directly. */
static inline void afx_set_drained(struct afx *f, bool drained, const char *reason)
{
    bool replaced;
    if (drained)
        AFX_CHECK(spool_down(&f->spool, SPOOL_ALL, reason, 0, ev_now(f->loop), NULL, &replaced) ==
                      0,
                  "spool_down");
    else
        spool_up(&f->spool, SPOOL_ALL, NULL);
    f->gen++;
}

static inline void afx_reload(void *owner)
{
    ((struct afx *)owner)->reloads++;
}

static inline void afx_polled(void *owner, const char *peer, bool answered_draining)
{
    (void)peer, (void)answered_draining;
    ((struct afx *)owner)->polls++;
}

static const struct admin_view_ops afx_ops = {
    .state = afx_state,
    .backend = afx_backend,
    .cluster = afx_cluster,
    .count = afx_count,
    .reg = afx_reg,
    .target = afx_target,
    .registered = afx_registered,
    .placements = afx_placements,
    .placement = afx_placement,
    .find = afx_find,
    .stats = afx_stats,
    .drain_at = afx_drain_at,
    .drain = afx_drain,
    .undrain = afx_undrain,
    .reload = afx_reload,
    .polled = afx_polled,
};

/* n healthy registrations "svc.main", "svc.canary", "svc.c2", ... (ports
 * 8888 + i, each probed once and passed), rise 1 and fall `fall`, not
 * drained, on a fresh loop. */
static inline struct afx *afx_new(size_t n, int fall)
{
    struct afx *f = calloc(1, sizeof(*f));
    AFX_CHECK(f && n <= AFX_MAX, "afx_new(%zu)", n);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    AFX_CHECK(f->loop, "ev_loop_new");
    f->started = ev_now(f->loop);
    f->nchecks = n;
    f->hacheck_live = true;
    drain_init(&f->drain, 30, 10, false);
    for (size_t i = 0; i < n; i++) {
        struct afx_check *c = &f->checks[i];
        if (i < 2)
            snprintf(c->name, sizeof(c->name), "%s", i == 0 ? "svc.main" : "svc.canary");
        else
            snprintf(c->name, sizeof(c->name), "svc.c%zu", i);
        c->registration = true;
        health_init(&c->health, 1, fall);
        health_feed(&c->health, true);
        c->last_result = "connected";
        c->last_pass = true;
        c->last_at = ev_now(f->loop);
        c->total_passes = 1;
        c->port = 8888 + (int)i;
        snprintf(c->node, sizeof(c->node), "host1_%d", c->port);
        c->registered = true;
    }
    f->view.ops = &afx_ops;
    f->view.owner = f;
    return f;
}

/* Feeds c until its health is `up`. */
static inline void afx_set_health(struct afx *f, struct afx_check *c, bool up)
{
    while (c->health.up != up)
        health_feed(&c->health, up);
    f->gen++;
}

/* The admin endpoint on 127.0.0.1 at a free port (lim NULL: the sidecar's
 * defaults); f->port is its port. */
static inline void afx_admin(struct afx *f, const struct admin_limits *lim, char *const *allow,
                             size_t nallow)
{
    char err[256];
    struct admin_limits def = {16 * 1024, 64 * 1024, 10.0, 4096};
    f->admin = admin_new(f->loop, &f->view, "127.0.0.1:0", allow, nallow, lim ? lim : &def, err,
                         sizeof(err));
    AFX_CHECK(f->admin, "admin_new: %s", err);
    f->port = admin_port(f->admin);
}

/* The agent-check on admin_addr's host at a free port; f->port is its port. */
static inline void afx_agent(struct afx *f, const char *admin_addr)
{
    char err[256];
    f->agent = agent_new(f->loop, &f->view, admin_addr, 0, err, sizeof(err));
    AFX_CHECK(f->agent, "agent_new(%s): %s", admin_addr, err);
    f->port = agent_port(f->agent);
}

static inline void afx_free(struct afx *f)
{
    admin_free(f->admin);
    agent_free(f->agent);
    spool_clear(&f->spool);
    ev_loop_destroy(f->loop);
    free(f);
}

static inline void afx_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until done(arg) holds or `timeout` seconds passed; returns
 * done(arg). done is checked before each turn of the loop, so whatever
 * wakes the loop (a client's ev_io, the timer) gets it re-checked. */
static inline bool afx_run_until(struct ev_loop *loop, bool (*done)(void *arg), void *arg,
                                 double timeout)
{
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, afx_timeout_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(loop, &t);
    while (!(done && done(arg)) && !timed_out)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return done && done(arg);
}

/* Runs the loop for `seconds` (to let the server accept, time out, ...). */
static inline void afx_spin(struct ev_loop *loop, double seconds)
{
    afx_run_until(loop, NULL, NULL, seconds);
}

/* A blocking socket connected to loopback:port (family AF_INET or AF_INET6);
 * a loopback connect completes at once (the kernel's backlog), no loop needed. */
static inline int afx_connect(int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    AFX_CHECK(fd >= 0, "socket: %s", strerror(errno));
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sin6->sin6_addr = in6addr_loopback;
        len = sizeof(*sin6);
    }
    AFX_CHECK(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect to port %d: %s", port,
              strerror(errno));
    return fd;
}

#endif
