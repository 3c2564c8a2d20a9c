#include "sidecar/admin/metrics.h"

#include <stdbool.h>
#include <stdlib.h>

#ifndef MESHREG_VERSION
#define MESHREG_VERSION "0.1.0"
#endif

void metrics_label_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '"')
            fputs("\\\"", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} */
static void series(FILE *f, const char *name, const char *label, const char *value)
{
    fprintf(f, "%s{%s=\"", name, label);
    metrics_label_escape(f, value);
    fputs("\"}", f);
}

enum per_check { PC_UP, PC_HEALTHY, PC_REGISTERED, PC_DRAINED };

/* One gauge over every check, by name. */
static void per_check(FILE *f, const struct admin_view *v, const char *name, const char *help,
                      enum per_check what)
{
    struct admin_view_reg r;
    size_t n = v->ops->count(v->owner);
    head(f, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        v->ops->reg(v->owner, i, &r);
        bool val = what == PC_UP          ? r.up
                   : what == PC_HEALTHY   ? r.healthy
                   : what == PC_REGISTERED ? v->ops->registered(v->owner, i)
                                          : r.drained;
        series(f, name, "name", r.name);
        fprintf(f, " %d\n", val);
    }
}

static void probes_per_check(FILE *f, const struct admin_view *v)
{
    struct admin_view_reg r;
    size_t n = v->ops->count(v->owner);
    head(f, "meshreg_probes_total", "counter", "Probe attempts by result, per check.");
    for (size_t i = 0; i < n; i++) {
        v->ops->reg(v->owner, i, &r);
        for (int pass = 1; pass >= 0; pass--) {
            fputs("meshreg_probes_total{name=\"", f);
            metrics_label_escape(f, r.name);
            fprintf(f, "\",result=\"%s\"} %lu\n", pass ? "pass" : "fail",
                    pass ? r.total_passes : r.total_failures);
        }
    }
}

/* The _bucket (cumulative, then +Inf), _sum and _count lines of one
 * histogram whose one label is label=value. */
static void histogram(FILE *f, const char *name, const char *label, const char *value,
                      const struct admin_view_hist *h)
{
    unsigned long cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += h->counts ? h->counts[i] : 0;
        fprintf(f, "%s_bucket{%s=\"%s\",le=\"", name, label, value);
        if (i < h->nbounds)
            fprintf(f, "%g\"} %lu\n", h->bounds[i], cum);
        else
            fprintf(f, "+Inf\"} %lu\n", h->count);
    }
    fprintf(f, "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %lu\n", name, label, value, h->sum,
            name, label, value, h->count);
}

static void probe_kinds(FILE *f, const struct admin_view_stats *s)
{
    head(f, "meshreg_probe_duration_seconds", "histogram",
         "Probe attempt durations by probe kind.");
    for (size_t k = 0; k < s->nkinds; k++)
        histogram(f, "meshreg_probe_duration_seconds", "kind", s->kinds[k].kind,
                  &s->kinds[k].duration);
    head(f, "meshreg_probe_results_total", "counter", "Probe attempts by kind and outcome.");
    for (size_t k = 0; k < s->nkinds; k++) {
        const struct admin_view_probe_kind *p = &s->kinds[k];
        fprintf(f,
                "meshreg_probe_results_total{kind=\"%s\",outcome=\"pass\"} %lu\n"
                "meshreg_probe_results_total{kind=\"%s\",outcome=\"fail\"} %lu\n"
                "meshreg_probe_results_total{kind=\"%s\",outcome=\"timeout\"} %lu\n",
                p->kind, p->pass, p->kind, p->fail, p->kind, p->timeout);
    }
}

/* What keeps each cluster from taking our records, as /status names it
 * (README "Backend credentials"), and the client certificate's expiry of
 * each cluster that has one: the single-cluster families with a cluster
 * label; a family with no series is left out, as for a single cluster. */
static void cluster_problems(FILE *f, const struct admin_view *v, size_t n)
{
    struct admin_view_backend c;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        v->ops->cluster(v->owner, i, &c);
        if (!c.problem)
            continue;
        if (!any)
            head(f, "meshreg_backend_problem", "gauge",
                 "1 for what keeps the cluster from taking our records.");
        any = true;
        fputs("meshreg_backend_problem{cluster=\"", f);
        metrics_label_escape(f, c.name);
        fprintf(f, "\",problem=\"%s\"} 1\n", c.problem);
    }
    any = false;
    for (size_t i = 0; i < n; i++) {
        v->ops->cluster(v->owner, i, &c);
        if (!(c.tls_cert_expires > 0))
            continue;
        if (!any)
            head(f, "meshreg_backend_tls_client_cert_expiry_seconds", "gauge",
                 "When the cluster's client certificate expires (unix time).");
        any = true;
        series(f, "meshreg_backend_tls_client_cert_expiry_seconds", "cluster", c.name);
        fprintf(f, " %.0f\n", c.tls_cert_expires);
    }
}

/* smartstack's connection series, one per cluster with cluster="LOC"
 * (README "Backends"). */
static void backend_clusters(FILE *f, const struct admin_view *v, size_t n)
{
    struct admin_view_backend c;
    head(f, "meshreg_backend_connected", "gauge", "1 while the cluster's session is up.");
    for (size_t i = 0; i < n; i++) {
        v->ops->cluster(v->owner, i, &c);
        series(f, "meshreg_backend_connected", "cluster", c.name);
        fprintf(f, " %d\n", c.connected);
    }
    head(f, "meshreg_backend_pending", "gauge", "Records not yet confirmed by the cluster.");
    for (size_t i = 0; i < n; i++) {
        v->ops->cluster(v->owner, i, &c);
        series(f, "meshreg_backend_pending", "cluster", c.name);
        fprintf(f, " %zu\n", c.pending);
    }
    head(f, "meshreg_backend_ops_total", "counter", "Backend operations by cluster and result.");
    for (size_t i = 0; i < n; i++) {
        v->ops->cluster(v->owner, i, &c);
        fputs("meshreg_backend_ops_total{cluster=\"", f);
        metrics_label_escape(f, c.name);
        fprintf(f, "\",result=\"ok\"} %lu\nmeshreg_backend_ops_total{cluster=\"", c.ops_ok);
        metrics_label_escape(f, c.name);
        fprintf(f, "\",result=\"failed\"} %lu\n", c.ops_failed);
    }
    cluster_problems(f, v, n);
}

static void backend(FILE *f, const struct admin_view *v, const struct admin_view_backend *b,
                    const struct admin_view_stats *s)
{
    if (b->multi_cluster)
        backend_clusters(f, v, b->clusters);
    else
        fprintf(f,
                "# HELP meshreg_backend_connected 1 while the backend session is up.\n"
                "# TYPE meshreg_backend_connected gauge\nmeshreg_backend_connected %d\n"
                "# HELP meshreg_backend_pending Records not yet confirmed by the backend.\n"
                "# TYPE meshreg_backend_pending gauge\nmeshreg_backend_pending %zu\n"
                "# HELP meshreg_backend_ops_total Backend operations by result.\n"
                "# TYPE meshreg_backend_ops_total counter\n"
                "meshreg_backend_ops_total{result=\"ok\"} %lu\n"
                "meshreg_backend_ops_total{result=\"failed\"} %lu\n",
                b->connected, b->pending, b->ops_ok, b->ops_failed);
    if (!b->multi_cluster && b->tls_cert_expires > 0)
        fprintf(f,
                "# HELP meshreg_backend_tls_client_cert_expiry_seconds When the etcds:// client "
                "certificate expires (unix time).\n"
                "# TYPE meshreg_backend_tls_client_cert_expiry_seconds gauge\n"
                "meshreg_backend_tls_client_cert_expiry_seconds %.0f\n",
                b->tls_cert_expires);
    if (!b->multi_cluster && b->problem)
        fprintf(f,
                "# HELP meshreg_backend_problem 1 for what keeps the backend from taking our "
                "records.\n# TYPE meshreg_backend_problem gauge\n"
                "meshreg_backend_problem{problem=\"%s\"} 1\n",
                b->problem);
    head(f, "meshreg_backend_operations_total", "counter",
         "Backend operations by operation and result.");
    for (size_t i = 0; i < 2; i++) {
        const struct admin_view_backend_op *o = &s->backend_ops[i];
        fprintf(f,
                "meshreg_backend_operations_total{op=\"%s\",result=\"ok\"} %lu\n"
                "meshreg_backend_operations_total{op=\"%s\",result=\"failed\"} %lu\n",
                o->op, o->ok, o->op, o->failed);
    }
    head(f, "meshreg_backend_operation_duration_seconds", "histogram",
         "Backend operations from issue to confirmation or failure.");
    for (size_t i = 0; i < 2; i++)
        histogram(f, "meshreg_backend_operation_duration_seconds", "op", s->backend_ops[i].op,
                  &s->backend_ops[i].duration);
}

static void process(FILE *f, const struct admin_view_state *st, const struct admin_view_stats *s)
{
    head(f, "meshreg_build_info", "gauge", "Always 1; the version is a label.");
    fprintf(f, "meshreg_build_info{version=\"%s\"} 1\n", MESHREG_VERSION);
    fprintf(f,
            "# HELP meshreg_draining 1 while drained or shutting down.\n"
            "# TYPE meshreg_draining gauge\nmeshreg_draining %d\n"
            "# HELP meshreg_drains Admin drains in force, of any scope.\n"
            "# TYPE meshreg_drains gauge\nmeshreg_drains %zu\n"
            "# HELP meshreg_reloads_total Configuration reloads by result.\n"
            "# TYPE meshreg_reloads_total counter\n"
            "meshreg_reloads_total{result=\"ok\"} %lu\n"
            "meshreg_reloads_total{result=\"rejected\"} %lu\n"
            "# HELP meshreg_config_generation The configuration in use: 1 at start, +1 per "
            "accepted reload.\n"
            "# TYPE meshreg_config_generation gauge\nmeshreg_config_generation %lu\n"
            "# HELP meshreg_last_reload_success 1 when the last reload was accepted (or none "
            "was tried).\n"
            "# TYPE meshreg_last_reload_success gauge\nmeshreg_last_reload_success %d\n",
            st->drain.draining, st->drain.drains, s->reloads_ok, s->reloads_rejected,
            s->config_generation, s->last_reload[0] != 'r');
    fprintf(f,
            "# HELP meshreg_probe_lag_seconds How late probe attempts start (the last 5-10 s).\n"
            "# TYPE meshreg_probe_lag_seconds gauge\nmeshreg_probe_lag_seconds %.3f\n"
            "# HELP meshreg_probes_in_flight Probe attempts running.\n"
            "# TYPE meshreg_probes_in_flight gauge\nmeshreg_probes_in_flight %u\n"
            "# HELP meshreg_probes_waiting Probe attempts due, waiting for a slot.\n"
            "# TYPE meshreg_probes_waiting gauge\nmeshreg_probes_waiting %u\n",
            st->probes.lag_seconds, st->probes.in_flight, st->probes.waiting);
}

int metrics_render(const struct admin_view *v, char **body, size_t *len)
{
    struct admin_view_state st;
    struct admin_view_backend b;
    struct admin_view_stats s;
    char *buf = NULL;
    size_t n = 0;
    *body = NULL;
    *len = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return 500;
    v->ops->state(v->owner, &st);
    v->ops->backend(v->owner, &b);
    v->ops->stats(v->owner, &s);
    process(f, &st, &s);
    per_check(f, v, "meshreg_check_up", "1 when the check is up (healthy, not drained).", PC_UP);
    per_check(f, v, "meshreg_check_healthy", "1 when the probe state is healthy.", PC_HEALTHY);
    per_check(f, v, "meshreg_check_registered", "1 when the backend confirmed the record.",
              PC_REGISTERED);
    per_check(f, v, "meshreg_check_drained", "1 when an admin drain covers the check.",
              PC_DRAINED);
    probes_per_check(f, v);
    probe_kinds(f, &s);
    backend(f, v, &b, &s);
    if (fclose(f) != 0) {
        free(buf);
        return 500;
    }
    *body = buf;
    *len = n;
    return 200;
}
