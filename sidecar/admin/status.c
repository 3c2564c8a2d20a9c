/* Bodies of the reading routes, from in-memory state only.
 *
 * GET /health is what load balancers poll many times a second, so its
 * whole-process body is cached and rebuilt only when sc->gen moved (a probe
 * result, a drain, a backend change); /status and /metrics are for humans
 * and scrapers and are built fresh with jansson. */
#include "sidecar/admin/status.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/probe/probe.h"
#include "sidecar/backend/reg.h"
#include "sidecar/sidecar.h"

#ifndef MESHREG_VERSION
#define MESHREG_VERSION "0.1.0"
#endif

/* The state word of one check, as /health and /status show it. */
static const char *check_state(const struct sidecar *sc, const struct check *c)
{
    if (sidecar_check_up(sc, c))
        return "up";
    if (!c->health.probed)
        return "starting";
    if (c->health.up)
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

static json_t *health_object(const struct sidecar *sc, const struct check *only, bool *all_up)
{
    json_t *checks = json_object();
    *all_up = true;
    for (size_t i = 0; i < sc->nchecks; i++) {
        const struct check *c = &sc->checks[i];
        if (only && c != only)
            continue;
        if (!sidecar_check_up(sc, c))
            *all_up = false;
        json_object_set_new(checks, c->spec->name, json_string(check_state(sc, c)));
    }
    const char *overall = *all_up ? "up" : drain_is_draining(&sc->drain) ? "draining" : "down";
    return json_pack("{s:s, s:o}", "status", overall, "checks", checks);
}

static struct {
    const struct sidecar *sc;
    unsigned long gen;
    bool valid;
    int code;
    char *body;
    size_t len;
} health_cache;

static char *copy_body(const char *s, size_t n)
{
    char *b = malloc(n + 1);
    if (b) {
        memcpy(b, s, n);
        b[n] = '\0';
    }
    return b;
}

int status_health(const struct sidecar *sc, const char *name, size_t name_len, char **body,
                  size_t *len)
{
    bool all_up;
    *body = NULL;
    *len = 0;
    if (name) {
        const struct check *c = sidecar_find(sc, name, name_len);
        if (!c) {
            json_t *o = json_pack("{s:s, s:s#}", "error", "unknown registration", "name", name,
                                  (int)name_len);
            *body = dump(o, len);
            return 404;
        }
        *body = dump(health_object(sc, c, &all_up), len);
        return all_up ? 200 : 503;
    }
    if (!health_cache.valid || health_cache.sc != sc || health_cache.gen != sc->gen) {
        size_t n = 0;
        char *b = dump(health_object(sc, NULL, &all_up), &n);
        if (!b)
            return 500;
        free(health_cache.body);
        health_cache.body = b;
        health_cache.len = n;
        health_cache.code = all_up ? 200 : 503;
        health_cache.sc = sc;
        health_cache.gen = sc->gen;
        health_cache.valid = true;
    }
    *body = copy_body(health_cache.body, health_cache.len);
    *len = health_cache.len;
    return *body ? health_cache.code : 500;
}

void status_reset(void)
{
    free(health_cache.body);
    memset(&health_cache, 0, sizeof(health_cache));
}

static json_t *check_object(const struct sidecar *sc, const struct check *c, double now)
{
    const struct check_spec *s = c->spec;
    char target[512];
    switch (s->probe) {
    case PROBE_HTTP:
    case PROBE_HTTPS:
        snprintf(target, sizeof(target), "%s://%s:%d%s", s->probe == PROBE_HTTP ? "http" : "https",
                 s->probe_host, s->probe_port, s->probe_uri ? s->probe_uri : "/");
        break;
    case PROBE_CMD:
        snprintf(target, sizeof(target), "%s", s->probe_cmd ? s->probe_cmd : "");
        break;
    default:
        snprintf(target, sizeof(target), "%s:%d", s->probe_host, s->probe_port);
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:s, s:s, s:b, s:b, s:b, s:s, s:b, s:I, s:I, s:I, s:i, s:i, s:i}", "name",
        s->name, "state", check_state(sc, c), "registration", s->registered, "probe",
        config_probe_kind_name(s->probe), "target", target, "healthy", c->health.up, "up",
        sidecar_check_up(sc, c), "registered", sidecar_check_registered(sc, c), "last_result",
        c->last_detail, "last_pass", c->last_pass, "last_ago_ms",
        (json_int_t)(c->last_at > 0 ? (now - c->last_at) * 1000 : -1), "passes",
        (json_int_t)c->total_passes, "failures", (json_int_t)c->total_failures, "interval_ms",
        s->interval_ms, "rise", s->rise, "fall", s->fall);
    if (o && s->registered) {
        json_object_set_new(o, "host", json_string(s->host));
        json_object_set_new(o, "port", json_integer(s->port));
        json_object_set_new(o, "node", json_string(c->node));
    }
    return o;
}

int status_full(const struct sidecar *sc, char **body, size_t *len)
{
    double now = ev_now(sc->loop);
    const struct drain *d = &sc->drain;
    json_t *checks = json_array();
    for (size_t i = 0; i < sc->nchecks; i++)
        json_array_append_new(checks, check_object(sc, &sc->checks[i], now));
    json_t *drain = json_pack(
        "{s:s, s:b, s:b, s:b, s:s, s:I, s:I, s:i}", "phase", drain_phase_name(d->phase), "draining",
        drain_is_draining(d), "shutting_down", drain_is_shutting_down(d), "admin", d->admin,
        "reason", d->reason, "expires_in_ms",
        (json_int_t)(d->admin && d->admin_expires_at > now ? (d->admin_expires_at - now) * 1000
                                                           : 0),
        "window_remaining_ms", (json_int_t)(drain_window_remaining(d, now) * 1000), "drain_seconds",
        (int)d->drain_seconds);
    const struct reg *r = sc->reg;
    json_t *backend =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "uri", r->uri, "type", r->ops->name,
                  "state", reg_conn_name(r->conn), "detail", r->conn_detail, "last_error",
                  r->last_error, "pending", (json_int_t)reg_pending(r), "ops_ok",
                  (json_int_t)r->ops_ok, "ops_failed", (json_int_t)r->ops_failed);
    json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o}", "version", MESHREG_VERSION, "uptime_ms",
                          (json_int_t)((now - sc->started) * 1000), "drain", drain, "backend",
                          backend, "checks", checks);
    *body = dump(o, len);
    return *body ? 200 : 500;
}

int status_metrics(const struct sidecar *sc, char **body, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return 500;
    fprintf(f, "# HELP meshreg_check_up 1 when the check is up (healthy, not drained).\n"
               "# TYPE meshreg_check_up gauge\n");
    for (size_t i = 0; i < sc->nchecks; i++)
        fprintf(f, "meshreg_check_up{name=\"%s\"} %d\n", sc->checks[i].spec->name,
                sidecar_check_up(sc, &sc->checks[i]));
    fprintf(f, "# HELP meshreg_check_healthy 1 when the probe state is healthy.\n"
               "# TYPE meshreg_check_healthy gauge\n");
    for (size_t i = 0; i < sc->nchecks; i++)
        fprintf(f, "meshreg_check_healthy{name=\"%s\"} %d\n", sc->checks[i].spec->name,
                sc->checks[i].health.up);
    fprintf(f, "# HELP meshreg_check_registered 1 when the backend confirmed the record.\n"
               "# TYPE meshreg_check_registered gauge\n");
    for (size_t i = 0; i < sc->nchecks; i++)
        fprintf(f, "meshreg_check_registered{name=\"%s\"} %d\n", sc->checks[i].spec->name,
                sidecar_check_registered(sc, &sc->checks[i]));
    fprintf(f, "# HELP meshreg_probes_total Probe attempts by result.\n"
               "# TYPE meshreg_probes_total counter\n");
    for (size_t i = 0; i < sc->nchecks; i++) {
        const struct check *c = &sc->checks[i];
        fprintf(f, "meshreg_probes_total{name=\"%s\",result=\"pass\"} %lu\n", c->spec->name,
                c->total_passes);
        fprintf(f, "meshreg_probes_total{name=\"%s\",result=\"fail\"} %lu\n", c->spec->name,
                c->total_failures);
    }
    fprintf(f,
            "# HELP meshreg_draining 1 while drained or shutting down.\n"
            "# TYPE meshreg_draining gauge\nmeshreg_draining %d\n"
            "# HELP meshreg_backend_connected 1 while the backend session is up.\n"
            "# TYPE meshreg_backend_connected gauge\nmeshreg_backend_connected %d\n"
            "# HELP meshreg_backend_pending Records not yet confirmed by the backend.\n"
            "# TYPE meshreg_backend_pending gauge\nmeshreg_backend_pending %zu\n"
            "# HELP meshreg_backend_ops_total Backend operations by result.\n"
            "# TYPE meshreg_backend_ops_total counter\n"
            "meshreg_backend_ops_total{result=\"ok\"} %lu\n"
            "meshreg_backend_ops_total{result=\"failed\"} %lu\n",
            drain_is_draining(&sc->drain), sc->reg->conn == REG_CONNECTED, reg_pending(sc->reg),
            sc->reg->ops_ok, sc->reg->ops_failed);
    if (fclose(f) != 0) {
        free(buf);
        return 500;
    }
    *body = buf;
    *len = n;
    return 200;
}
