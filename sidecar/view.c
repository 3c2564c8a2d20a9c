/* struct admin_view over a running struct sidecar (README "Admin / health
 * endpoint"): the only code that turns the core's structs into what the
 * admin side may read. */
#include "sidecar/view.h"

#include <stdio.h>
#include <string.h>

#include "sidecar/backend/reg.h"
#include "sidecar/backend/regset.h"
#include "sidecar/probe/probe.h"
#include "sidecar/log.h"

_Static_assert(ADMIN_VIEW_REASON_MAX == SPOOL_REASON_MAX && ADMIN_VIEW_SCOPE_MAX == SPOOL_SCOPE_MAX,
               "a drain the admin side accepts fits the spool");

static void spool_view(const struct sidecar *sc, const struct spool_entry *e,
                       struct admin_view_spool *out)
{
    double end = e->asked + sc->drain.drain_seconds, now = ev_now(sc->loop);
    out->scope = e->scope;
    out->reason = e->reason;
    out->since = e->since;
    out->until = e->until;
    out->window_remaining = end > now ? end - now : 0;
}

static void view_state(const void *owner, struct admin_view_state *out)
{
    const struct sidecar *sc = owner;
    const struct drain *d = &sc->drain;
    double now = ev_now(sc->loop);
    memset(out, 0, sizeof(*out));
    out->generation = sc->gen;
    out->now = now;
    out->uptime = now - sc->started;
    out->watches_polls = sc->cfg->adaptive_drain;
    out->hacheck_live = sc->cfg->hacheck_live;
    out->drain.phase = drain_phase_name(d->phase);
    out->drain.draining = drain_is_shutting_down(d);
    out->drain.shutting_down = drain_is_shutting_down(d);
    const struct spool_entry *all = spool_find(&sc->spool, SPOOL_ALL, now);
    out->drain.drained = all != NULL;
    out->drain.reason = all ? all->reason : "";
    out->drain.expires_in = all && all->until > now ? all->until - now : 0;
    out->drain.window_remaining = drain_window_remaining(d, now);
    out->drain.drains = sc->spool.n;
    if (!drain_is_shutting_down(d)) {
        for (size_t i = 0; i < sc->spool.n; i++) {
            struct admin_view_spool v;
            spool_view(sc, &sc->spool.e[i], &v);
            if (v.window_remaining > out->drain.window_remaining)
                out->drain.window_remaining = v.window_remaining;
        }
    }
    out->drain.draining = out->drain.draining || sc->spool.n > 0;
    out->drain.drain_seconds = d->drain_seconds;
    struct probe_stats ps;
    probe_stats(&ps);
    out->probes.lag_seconds = ps.lag_seconds;
    out->probes.lag_max_seconds = ps.lag_max_seconds;
    out->probes.in_flight = ps.in_flight;
    out->probes.waiting = ps.waiting;
    out->probes.late = ps.late;
}

/* The failure's name, from what the backend reported (README "Backend
 * credentials"): auth and TLS failures are never "cannot connect". */
static const char *problem_of(const struct reg *r)
{
    const char *t[2] = {r->conn == REG_CONNECTED ? "" : r->conn_detail, r->last_error};
    for (int i = 0; i < 2; i++) {
        if (strstr(t[i], "permission denied"))
            return "permission denied";
        if (strstr(t[i], "not authenticated"))
            return "not authenticated";
        if (strstr(t[i], "TLS"))
            return "TLS failed";
    }
    return r->conn == REG_CONNECTED ? NULL : "cannot connect";
}

static void view_cluster(const void *owner, size_t c, struct admin_view_backend *out)
{
    const struct regset *rs = ((const struct sidecar *)owner)->regs;
    const struct reg *r = rs->v[c].reg;
    memset(out, 0, sizeof(*out));
    out->name = rs->v[c].name;
    out->multi_cluster = regset_multi(rs);
    out->clusters = 1;
    out->uri = r->uri;
    out->type = r->ops->name;
    out->state = reg_conn_name(r->conn);
    out->connected = r->conn == REG_CONNECTED;
    out->detail = r->conn_detail;
    out->last_error = r->last_error;
    out->pending = reg_pending(r);
    out->ops_ok = r->ops_ok;
    out->ops_failed = r->ops_failed;
    out->problem = reg_pending(r) || r->conn != REG_CONNECTED ? problem_of(r) : NULL;
    out->tls_cert_expires = r->tls_cert_expires;
}

/* A single-cluster backend is its one store; smartstack is as connected as
 * its worst cluster, with the sums of their counters. */
static void view_backend(const void *owner, struct admin_view_backend *out)
{
    const struct regset *rs = ((const struct sidecar *)owner)->regs;
    if (!regset_multi(rs)) {
        view_cluster(owner, 0, out);
        out->name = NULL;
        return;
    }
    memset(out, 0, sizeof(*out));
    enum reg_conn worst = rs->n ? REG_CONNECTED : REG_DISCONNECTED;
    for (size_t i = 0; i < rs->n; i++) {
        const struct reg *r = rs->v[i].reg;
        if (r->conn == REG_DISCONNECTED || (r->conn == REG_CONNECTING && worst == REG_CONNECTED))
            worst = r->conn;
        out->pending += reg_pending(r);
        out->ops_ok += r->ops_ok;
        out->ops_failed += r->ops_failed;
    }
    out->multi_cluster = true;
    out->clusters = rs->n;
    out->uri = rs->uri;
    out->type = "smartstack";
    out->state = reg_conn_name(worst);
    out->connected = worst == REG_CONNECTED;
    out->detail = rs->n ? ""
                        : "no cluster: no registration is placed in a location with a "
                          "topology file";
    out->last_error = "";
}

static size_t view_placements(const void *owner, size_t i)
{
    return ((const struct sidecar *)owner)->checks[i].nplaces;
}

static void view_placement(const void *owner, size_t i, size_t j, const char **cluster,
                           bool *registered)
{
    const struct sidecar *sc = owner;
    const struct check *c = &sc->checks[i];
    *cluster = regset_name_of(sc->regs, c->places[j].reg);
    *registered = reg_present(c->places[j].reg, c->spec->name, c->node);
}

static size_t view_count(const void *owner)
{
    return ((const struct sidecar *)owner)->nchecks;
}

static void view_reg(const void *owner, size_t i, struct admin_view_reg *out)
{
    const struct sidecar *sc = owner;
    const struct check *c = &sc->checks[i];
    const struct check_spec *s = c->spec;
    memset(out, 0, sizeof(*out));
    out->name = s->name;
    out->registration = s->registered;
    out->probe = probe_kind_name(s->probe);
    out->probe_port = s->probe == PROBE_CMD ? 0 : s->probe_port;
    if (s->probe == PROBE_HTTP || s->probe == PROBE_HTTPS)
        out->probe_path = s->probe_uri ? s->probe_uri : "/";
    out->probed = c->health.probed;
    out->healthy = c->health.up;
    out->passes_in_a_row = c->health.passes_in_a_row;
    out->failures_in_a_row = c->health.failures_in_a_row;
    out->last_result = c->last_detail;
    out->last_pass = c->last_pass;
    out->last_at = c->last_at;
    out->total_passes = c->total_passes;
    out->total_failures = c->total_failures;
    out->interval_ms = s->interval_ms;
    out->rise = s->rise;
    out->fall = s->fall;
    const struct spool_entry *dr = sidecar_check_drain(sc, c);
    out->drained = dr != NULL;
    if (dr)
        spool_view(sc, dr, &out->drain);
    out->up = sidecar_check_up(sc, c);
    if (s->registered) {
        out->host = s->host;
        out->port = s->port;
        out->node = c->node;
    }
}

static void view_target(const void *owner, size_t i, char *buf, size_t len)
{
    const struct check_spec *s = ((const struct sidecar *)owner)->checks[i].spec;
    switch (s->probe) {
    case PROBE_HTTP:
    case PROBE_HTTPS:
        snprintf(buf, len, "%s://%s:%d%s", s->probe == PROBE_HTTP ? "http" : "https", s->probe_host,
                 s->probe_port, s->probe_uri ? s->probe_uri : "/");
        break;
    case PROBE_CMD:
        snprintf(buf, len, "%s", s->probe_cmd ? s->probe_cmd : "");
        break;
    default:
        snprintf(buf, len, "%s:%d", s->probe_host, s->probe_port);
    }
}

static bool view_registered(const void *owner, size_t i)
{
    const struct sidecar *sc = owner;
    return sidecar_check_registered(sc, &sc->checks[i]);
}

static bool view_find(const void *owner, const char *name, size_t len, size_t *i)
{
    const struct sidecar *sc = owner;
    const struct check *c = sidecar_find(sc, name, len);
    if (!c)
        return false;
    *i = (size_t)(c - sc->checks);
    return true;
}

_Static_assert(HIST_NBOUNDS == REG_LAT_NBOUNDS, "one bucket layout in /metrics");
_Static_assert(PROBE_GRPC + 1 <= ADMIN_VIEW_PROBE_KINDS, "every probe kind fits the view");

static void view_hist(const struct hist *h, struct admin_view_hist *out)
{
    out->bounds = hist_bounds;
    out->nbounds = HIST_NBOUNDS;
    out->counts = h->counts;
    out->count = h->count;
    out->sum = h->sum;
}

static void view_stats(const void *owner, struct admin_view_stats *out)
{
    const struct sidecar *sc = owner;
    memset(out, 0, sizeof(*out));
    for (int k = PROBE_HTTP; k <= PROBE_GRPC; k++) {
        const struct sidecar_probe_stats *ps = &sc->probe_stats[k];
        struct admin_view_probe_kind *o = &out->kinds[out->nkinds++];
        o->kind = probe_kind_name((enum probe_kind)k);
        o->pass = ps->pass;
        o->fail = ps->fail;
        o->timeout = ps->timeout;
        view_hist(&ps->duration, &o->duration);
    }
    /* Summed over the clusters; good until the loop runs again, as the
     * view's contract says (one loop, one thread). */
    static struct reg_op_stats sum[2];
    memset(sum, 0, sizeof(sum));
    for (size_t c = 0; c < sc->regs->n; c++)
        for (size_t i = 0; i < 2; i++) {
            const struct reg_op_stats *one = &sc->regs->v[c].reg->op_stats[i];
            sum[i].ok += one->ok;
            sum[i].failed += one->failed;
            sum[i].lat_sum += one->lat_sum;
            for (size_t b = 0; b <= REG_LAT_NBOUNDS; b++)
                sum[i].lat_counts[b] += one->lat_counts[b];
        }
    for (size_t i = 0; i < 2; i++) {
        const struct reg_op_stats *rs = &sum[i];
        struct admin_view_backend_op *o = &out->backend_ops[i];
        o->op = i == 0 ? "put" : "delete";
        o->ok = rs->ok;
        o->failed = rs->failed;
        o->duration.bounds = reg_lat_bounds;
        o->duration.nbounds = REG_LAT_NBOUNDS;
        o->duration.counts = rs->lat_counts;
        o->duration.count = rs->ok + rs->failed;
        o->duration.sum = rs->lat_sum;
    }
    const struct sidecar_reloads *r = &sc->reloads;
    out->reloads_ok = r->ok;
    out->reloads_rejected = r->rejected;
    out->config_generation = r->ok + 1;
    out->last_reload = r->last_at == 0 ? "none" : r->last_ok ? "ok" : "rejected";
    out->last_reload_error = r->last_error;
    out->last_reload_at = r->last_at;
}

static void view_drain_at(const void *owner, size_t i, struct admin_view_spool *out)
{
    const struct sidecar *sc = owner;
    spool_view(sc, &sc->spool.e[i], out);
}

static void view_drain(void *owner, const struct admin_drain_request *r,
                       struct admin_drain_result *out)
{
    sidecar_request_drain(owner, r, out);
}

static void view_undrain(void *owner, const char *scope, struct admin_drain_result *out)
{
    sidecar_request_undrain(owner, scope, out);
}

static void view_reload(void *owner)
{
    sidecar_request_reload(owner, "reload requested");
}

static void view_polled(void *owner, const char *peer, bool answered_draining)
{
    sidecar_note_poll(owner, peer, answered_draining);
}

static const struct admin_view_ops view_ops = {
    .state = view_state,
    .backend = view_backend,
    .cluster = view_cluster,
    .count = view_count,
    .reg = view_reg,
    .target = view_target,
    .registered = view_registered,
    .placements = view_placements,
    .placement = view_placement,
    .find = view_find,
    .stats = view_stats,
    .drain_at = view_drain_at,
    .drain = view_drain,
    .undrain = view_undrain,
    .reload = view_reload,
    .polled = view_polled,
};

struct admin_view view_of(struct sidecar *sc)
{
    struct admin_view v = {&view_ops, sc};
    return v;
}
