/* Bodies of the reading routes, from the sidecar's view only.
 *
 * GET /health's whole-process body is kept in a status_cache and rebuilt
 * only when the view's generation moved (a probe result, a drain, a backend
 * change); /status and /metrics are for humans and scrapers and are built
 * fresh with jansson. */
#include "sidecar/admin/status.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MESHREG_VERSION
#define MESHREG_VERSION "0.1.0"
#endif

/* The state word of one check, as /health and /status show it. */
static const char *check_state(const struct admin_view_reg *r)
{
    if (r->up)
        return "up";
    if (!r->probed)
        return "starting";
    if (r->healthy)
        return "draining"; /* healthy, but drained or shutting down */
    return "down";
}

static char *dump(json_t *o, size_t *len)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    /* A trailing newline makes curl output and line-based tools happy. */
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *len = n + 1;
    return t;
}

/* only: the one check to show, or every check when only == SIZE_MAX. */
static json_t *health_object(const struct admin_view *v, size_t only, bool *all_up)
{
    struct admin_view_state st;
    struct admin_view_reg r;
    json_t *checks = json_object();
    size_t n = v->ops->count(v->owner);
    *all_up = true;
    for (size_t i = 0; i < n; i++) {
        if (only != SIZE_MAX && i != only)
            continue;
        v->ops->reg(v->owner, i, &r);
        if (!r.up)
            *all_up = false;
        json_object_set_new(checks, r.name, json_string(check_state(&r)));
    }
    v->ops->state(v->owner, &st);
    const char *overall = *all_up ? "up" : st.drain.draining ? "draining" : "down";
    return json_pack("{s:s, s:o}", "status", overall, "checks", checks);
}

static char *copy_body(const char *s, size_t n)
{
    char *b = malloc(n + 1);
    if (b) {
        memcpy(b, s, n);
        b[n] = '\0';
    }
    return b;
}

void status_cache_clear(struct status_cache *c)
{
    free(c->body);
    memset(c, 0, sizeof(*c));
}

int status_health(const struct admin_view *v, struct status_cache *cache, const char *name,
                  size_t name_len, char **body, size_t *len)
{
    bool all_up;
    *body = NULL;
    *len = 0;
    if (name) {
        size_t i;
        if (!v->ops->find(v->owner, name, name_len, &i)) {
            json_t *o = json_pack("{s:s, s:s#}", "error", "unknown registration", "name", name,
                                  (int)name_len);
            *body = dump(o, len);
            return 404;
        }
        *body = dump(health_object(v, i, &all_up), len);
        return all_up ? 200 : 503;
    }
    struct admin_view_state st;
    v->ops->state(v->owner, &st);
    if (!cache->valid || cache->generation != st.generation) {
        size_t n = 0;
        char *b = dump(health_object(v, SIZE_MAX, &all_up), &n);
        if (!b)
            return 500;
        free(cache->body);
        cache->body = b;
        cache->len = n;
        cache->code = all_up ? 200 : 503;
        cache->generation = st.generation;
        cache->valid = true;
    }
    *body = copy_body(cache->body, cache->len);
    *len = cache->len;
    return *body ? cache->code : 500;
}

/* One admin drain; times are Unix time, null for "never". */
static json_t *spool_object(const struct admin_view_spool *d, double now)
{
    json_t *o = json_pack("{s:s, s:s, s:f}", "service", d->scope, "reason", d->reason, "since",
                          d->since);
    if (!o)
        return NULL;
    json_object_set_new(o, "until", d->until > 0 ? json_real(d->until) : json_null());
    json_object_set_new(o, "expires_in_ms",
                        d->until > 0 ? json_integer((json_int_t)((d->until - now) * 1000))
                                     : json_null());
    json_object_set_new(o, "window_remaining_ms",
                        json_integer((json_int_t)(d->window_remaining * 1000)));
    return o;
}

/* Per registration: whether it is placed anywhere and, for a multi-cluster
 * backend, each cluster it is placed in and whether that one confirmed it. */
static void placements_into(json_t *o, const struct admin_view *v, size_t i, bool multi)
{
    size_t n = v->ops->placements(v->owner, i);
    json_object_set_new(o, "placed", json_boolean(n > 0));
    if (!multi)
        return;
    json_t *cl = json_object();
    for (size_t j = 0; j < n; j++) {
        const char *name;
        bool reg;
        v->ops->placement(v->owner, i, j, &name, &reg);
        json_object_set_new(cl, name, json_boolean(reg));
    }
    json_object_set_new(o, "clusters", cl);
}

static json_t *check_object(const struct admin_view *v, size_t i, double now, bool multi)
{
    struct admin_view_reg r_, *r = &r_;
    char target[512];
    v->ops->reg(v->owner, i, r);
    v->ops->target(v->owner, i, target, sizeof(target));
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:s, s:s, s:b, s:b, s:b, s:s, s:b, s:I, s:I, s:I, s:i, s:i, s:i}", "name",
        r->name, "state", check_state(r), "registration", r->registration, "probe", r->probe,
        "target", target, "healthy", r->healthy, "up", r->up, "registered",
        v->ops->registered(v->owner, i), "last_result", r->last_result, "last_pass", r->last_pass,
        "last_ago_ms", (json_int_t)(r->last_at > 0 ? (now - r->last_at) * 1000 : -1), "passes",
        (json_int_t)r->total_passes, "failures", (json_int_t)r->total_failures, "interval_ms",
        r->interval_ms, "rise", r->rise, "fall", r->fall);
    if (o)
        json_object_set_new(o, "drained", json_boolean(r->drained));
    if (o && r->drained)
        json_object_set_new(o, "drain", spool_object(&r->drain, now));
    if (o && r->registration) {
        json_object_set_new(o, "host", json_string(r->host));
        json_object_set_new(o, "port", json_integer(r->port));
        json_object_set_new(o, "node", json_string(r->node));
        placements_into(o, v, i, multi);
    }
    return o;
}

static json_t *backend_object(const struct admin_view_backend *b)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s?}", "uri", b->uri, "type",
                          b->type, "state", b->state, "detail", b->detail, "last_error",
                          b->last_error, "pending", (json_int_t)b->pending, "ops_ok",
                          (json_int_t)b->ops_ok, "ops_failed", (json_int_t)b->ops_failed,
                          "problem", b->problem);
    if (o && b->tls_cert_expires > 0)
        json_object_set_new(o, "tls_client_cert_expires",
                            json_integer((json_int_t)b->tls_cert_expires));
    return o;
}

int status_full(const struct admin_view *v, char **body, size_t *len)
{
    struct admin_view_state st;
    struct admin_view_backend b_;
    const struct admin_view_backend *b = &b_;
    v->ops->state(v->owner, &st);
    v->ops->backend(v->owner, &b_);
    const struct admin_view_drain *d = &st.drain;
    json_t *checks = json_array();
    size_t n = v->ops->count(v->owner);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(checks, check_object(v, i, st.now, b->multi_cluster));
    json_t *drain = json_pack(
        "{s:s, s:b, s:b, s:b, s:s, s:I, s:I, s:i}", "phase", d->phase, "draining", d->draining,
        "shutting_down", d->shutting_down, "admin", d->drained, "reason", d->reason,
        "expires_in_ms", (json_int_t)(d->expires_in * 1000), "window_remaining_ms",
        (json_int_t)(d->window_remaining * 1000), "drain_seconds", (int)d->drain_seconds);
    json_t *backend = backend_object(b);
    json_t *clusters = json_array();
    for (size_t c = 0; c < b->clusters; c++) {
        struct admin_view_backend cb;
        v->ops->cluster(v->owner, c, &cb);
        json_t *co = backend_object(&cb);
        json_object_set_new(co, "name", json_string(cb.name));
        json_array_append_new(clusters, co);
    }
    json_object_set_new(backend, "clusters", clusters);
    const struct admin_view_probes *pr = &st.probes;
    json_t *probes = json_pack("{s:I, s:I, s:I, s:I, s:I}", "lag_ms",
                               (json_int_t)(pr->lag_seconds * 1000), "lag_max_ms",
                               (json_int_t)(pr->lag_max_seconds * 1000), "in_flight",
                               (json_int_t)pr->in_flight, "waiting", (json_int_t)pr->waiting,
                               "late", (json_int_t)pr->late);
    struct admin_view_stats vs;
    v->ops->stats(v->owner, &vs);
    json_t *reload = json_pack("{s:s, s:s, s:I, s:I, s:I}", "last", vs.last_reload, "last_error",
                               vs.last_reload_error, "ok", (json_int_t)vs.reloads_ok, "rejected",
                               (json_int_t)vs.reloads_rejected, "config_generation",
                               (json_int_t)vs.config_generation);
    if (reload)
        json_object_set_new(reload, "last_at",
                            vs.last_reload_at > 0 ? json_real(vs.last_reload_at) : json_null());
    json_t *drains = json_array();
    for (size_t i = 0; i < d->drains; i++) {
        struct admin_view_spool sp;
        v->ops->drain_at(v->owner, i, &sp);
        json_array_append_new(drains, spool_object(&sp, st.now));
    }
    json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "version", MESHREG_VERSION,
                          "uptime_ms", (json_int_t)(st.uptime * 1000), "drain", drain, "drains",
                          drains, "reload", reload, "backend", backend, "probes", probes,
                          "checks", checks);
    *body = dump(o, len);
    return *body ? 200 : 500;
}
