#include "config/checks.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/names.h"
#include "config/placement.h"
#include "config/smartstack.h"

struct cache_entry {
    char *path;
    struct smartstack *ss; /* NULL: missing or invalid */
    int read_errno;        /* ENOENT etc. when the file could not be opened */
    bool invalid;          /* errors already reported */
};

struct checks_cache {
    struct cache_entry *e;
    size_t n;
    /* hashed look-ups, so that N registrations load in O(N): the files by
     * path, cfg's checks by name (NULL until the first is added) */
    struct names *paths, *names;
    size_t paths_cap, names_cap, names_n;
};

static const char *entry_path(const void *arr, size_t k)
{
    return ((const struct cache_entry *)arr)[k].path;
}

static const char *check_name(const void *arr, size_t k)
{
    return ((const struct check_spec *)arr)[k].name;
}

/* Adds name -> i to *x, rebuilt at twice the size from arr[0..i) when full. */
static void index_put(struct names **x, size_t *cap, const char *name, size_t i,
                      const char *(*key)(const void *arr, size_t k), const void *arr)
{
    if (*x && names_add(*x, name, i) == 0)
        return;
    names_free(*x);
    *cap = *cap ? *cap * 2 : 64;
    *x = cmem_check(names_new(*cap));
    for (size_t k = 0; k < i; k++)
        names_add(*x, key(arr, k), k);
    names_add(*x, name, i);
}

struct checks_cache *checks_cache_new(void)
{
    return cmem_calloc(1, sizeof(struct checks_cache));
}

void checks_cache_free(struct checks_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].path);
        smartstack_free(c->e[i].ss);
    }
    free(c->e);
    names_free(c->paths);
    names_free(c->names);
    free(c);
}

/* Loads path once. A file that cannot be opened is remembered with its errno
 * (the caller decides whether that is an error); a file with errors is
 * reported once, however many registrations point into it. */
static const struct cache_entry *cache_get(struct checks_cache *c, const char *path, struct diag *d)
{
    size_t k;
    if (c->paths && names_find(c->paths, path, strlen(path), &k))
        return &c->e[k];
    for (size_t i = 0; !c->paths && i < c->n; i++)
        if (strcmp(c->e[i].path, path) == 0)
            return &c->e[i];
    struct cache_entry *e = cmem_push(&c->e, &c->n, sizeof(*e));
    e->path = cmem_strdup(path);
    index_put(&c->paths, &c->paths_cap, e->path, c->n - 1, entry_path, c->e);
    struct stat st;
    if (stat(path, &st) < 0) {
        e->read_errno = errno;
        return e;
    }
    if (S_ISDIR(st.st_mode)) {
        e->read_errno = EISDIR;
        return e;
    }
    if (smartstack_load(path, &e->ss, d) < 0)
        e->invalid = true;
    return e;
}

void checks_spec_clear(struct check_spec *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->service);
    free(c->ns);
    free(c->instance);
    free(c->host);
    free(c->instance_id);
    free(c->probe_host);
    free(c->probe_uri);
    free(c->probe_cmd);
    free(c->smartstack_missing);
    free(c->body_expect);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->headers[i].key);
        free(c->headers[i].value);
    }
    free(c->headers);
    for (size_t i = 0; i < c->nlabels; i++) {
        free(c->labels[i].key);
        free(c->labels[i].value);
    }
    free(c->labels);
    placement_input_clear(&c->place_in);
    placement_set_free(&c->placements);
    memset(c, 0, sizeof(*c));
}

/* Fills c->place_in from the smartstack entry e (NULL for a worker), then
 * c->placements and c->labels (README "Placements"). */
static int add_placements(const struct settings *s, const struct smartstack_ns *e,
                          const struct mr_config *cfg, struct check_spec *c, struct diag *d)
{
    struct placement_input *in = &c->place_in;
    if (e && e->has_advertise) {
        for (size_t i = 0; i < e->nadvertise; i++)
            *(char **)cmem_push(&in->advertise, &in->nadvertise, sizeof(char *)) =
                cmem_strdup(e->advertise[i]);
    } else {
        *(char **)cmem_push(&in->advertise, &in->nadvertise, sizeof(char *)) =
            cmem_strdup("region");
    }
    for (size_t i = 0; e && i < e->nxadv; i++)
        for (size_t j = 0; j < e->xadv[i].ndst; j++) {
            struct kv *x = cmem_push(&in->extra_advertise, &in->nextra_advertise, sizeof(*x));
            x->key = cmem_strdup(e->xadv[i].src);
            x->value = cmem_strdup(e->xadv[i].dst[j]);
        }
    in->deploy_group = cmem_strdup(settings_env(s->envp, "PAASTA_DEPLOY_GROUP"));
    if (e && placement_load_labels(cfg->labels_dir, c->name, c->port, &in->custom_labels,
                                   &in->ncustom_labels, d) < 0)
        return -1;
    char err[256];
    if (placement_compute(cfg->locdb, c, cfg->zk_location_type, &c->placements, err, sizeof(err)) <
        0) {
        diag_add(d, "%s: %s", c->name, err);
        return -1;
    }
    placement_union_labels(&c->placements, c, &c->labels, &c->nlabels);
    if (!e)
        placement_set_free(&c->placements); /* a worker is registered nowhere */
    return 0;
}

/* nerve-tools sends x-smartstack-target-identity: <svc.ns> with every check,
 * set after extra_healthcheck_headers so its own value wins; HTTP names are
 * case-insensitive, so an extra header of that name in any case goes. */
static void add_identity_header(struct check_spec *c)
{
    static const char name[] = "x-smartstack-target-identity";
    size_t k = 0;
    for (size_t i = 0; i < c->nheaders; i++) {
        if (strcasecmp(c->headers[i].key, name) == 0) {
            free(c->headers[i].key);
            free(c->headers[i].value);
            continue;
        }
        c->headers[k++] = c->headers[i];
    }
    c->nheaders = k;
    struct kv *h = cmem_push(&c->headers, &c->nheaders, sizeof(*h));
    h->key = cmem_strdup(name);
    h->value = cmem_strdup(c->name);
}

static int ms_of(double seconds)
{
    long v = lround(seconds * 1000.0);
    return v < 1 ? 1 : v > 86400000 ? 86400000 : (int)v;
}

static struct check_spec *new_check(const struct settings *s, const struct checks_req *r,
                                    struct mr_config *cfg, const char *name)
{
    struct check_spec *c = cmem_push(&cfg->checks, &cfg->nchecks, sizeof(*c));
    c->name = cmem_strdup(name);
    c->service = cmem_strdup(r->service);
    c->instance = cmem_strdup(r->instance);
    c->host = cmem_strdup(s->host);
    c->port = r->port;
    c->instance_id = cmem_strdup(s->instance_id);
    c->weight = r->weight;
    c->probe_host = cmem_strdup("127.0.0.1");
    c->probe_port = r->port;
    c->rise = r->rise;
    return c;
}

static int build_registration(const struct settings *s, const struct checks_req *r,
                              const char *name, const struct smartstack *ss,
                              const struct smartstack_ns *e, struct mr_config *cfg, struct diag *d)
{
    const char *mode = e->healthcheck_mode ? e->healthcheck_mode : e->mode ? e->mode : "http";
    enum probe_kind kind;
    if (!probe_kind_parse(mode, &kind)) {
        diag_add(d, "%s:%d:%d: %s: unknown healthcheck mode '%s'", ss->file, e->mode_line,
                 e->mode_col, e->name, mode);
        return -1;
    }
    if (kind == PROBE_CMD && !r->healthcheck_cmd) {
        diag_add(d,
                 "%s:%d:%d: %s: healthcheck_mode cmd needs a healthcheck_cmd (in the instance "
                 "config or the services: entry)",
                 ss->file, e->mode_line, e->mode_col, e->name);
        return -1;
    }
    struct check_spec *c = new_check(s, r, cfg, name);
    c->ns = cmem_strdup(e->name);
    c->registered = true;
    c->probe = kind;
    if (e->healthcheck_port >= 0)
        c->probe_port = e->healthcheck_port;
    if (kind == PROBE_HTTP || kind == PROBE_HTTPS)
        c->probe_uri = cmem_strdup(e->healthcheck_uri ? e->healthcheck_uri : "/status");
    else if (kind == PROBE_GRPC)
        c->probe_uri = cmem_strdup(e->healthcheck_uri ? e->healthcheck_uri + 1 : "");
    else if (kind == PROBE_CMD)
        c->probe_cmd = cmem_strdup(r->healthcheck_cmd);
    c->body_expect = cmem_strdup(e->body_expect);
    for (size_t i = 0; i < e->nheaders; i++) {
        struct kv *h = cmem_push(&c->headers, &c->nheaders, sizeof(*h));
        h->key = cmem_strdup(e->headers[i].key);
        h->value = cmem_strdup(e->headers[i].value);
    }
    double t = e->healthcheck_timeout_s >= 0 ? e->healthcheck_timeout_s : 1.0;
    c->timeout_ms = ms_of(t);
    c->interval_ms = r->reg_interval_ms ? r->reg_interval_ms : ms_of(t + 1.0);
    c->fall = r->reg_fall;
    c->grace_ms = 0;
    if (kind == PROBE_HTTP || kind == PROBE_HTTPS)
        add_identity_header(c);
    return add_placements(s, e, cfg, c, d);
}

static int build_worker(const struct settings *s, const struct checks_req *r, struct mr_config *cfg,
                        struct diag *d)
{
    const char *mode = r->healthcheck_mode  ? r->healthcheck_mode
                       : r->healthcheck_cmd ? "cmd"
                                            : "tcp";
    enum probe_kind kind;
    char *name = cmem_printf("%s.%s", r->service, r->instance);
    if (!probe_kind_parse(mode, &kind)) {
        diag_add(d, "%s: unknown healthcheck mode '%s'", name, mode);
        free(name);
        return -1;
    }
    if (kind == PROBE_CMD && !r->healthcheck_cmd) {
        diag_add(d, "%s: healthcheck_mode cmd needs a healthcheck_cmd", name);
        free(name);
        return -1;
    }
    struct check_spec *c = new_check(s, r, cfg, name);
    free(name);
    c->registered = false;
    c->probe = kind;
    if (kind == PROBE_HTTP || kind == PROBE_HTTPS)
        c->probe_uri = cmem_strdup("/status");
    else if (kind == PROBE_GRPC)
        c->probe_uri = cmem_strdup("");
    else if (kind == PROBE_CMD)
        c->probe_cmd = cmem_strdup(r->healthcheck_cmd);
    double t = r->worker_timeout_s >= 0 ? r->worker_timeout_s : 1.0;
    c->timeout_ms = ms_of(t);
    c->interval_ms = r->worker_interval_ms ? r->worker_interval_ms : ms_of(t + 1.0);
    c->fall = r->worker_fall;
    c->grace_ms = r->worker_grace_s > 0 ? ms_of(r->worker_grace_s) : 0;
    return add_placements(s, NULL, cfg, c, d);
}

static bool have_check(struct checks_cache *c, const struct mr_config *cfg, const char *name)
{
    size_t k;
    if (c->names_n > cfg->nchecks) { /* another configuration: start over */
        names_free(c->names);
        c->names = NULL;
        c->names_cap = c->names_n = 0;
    }
    for (; c->names_n < cfg->nchecks; c->names_n++)
        index_put(&c->names, &c->names_cap, cfg->checks[c->names_n].name, c->names_n, check_name,
                  cfg->checks);
    if (c->names)
        return names_find(c->names, name, strlen(name), &k);
    for (size_t i = 0; i < cfg->nchecks; i++)
        if (strcmp(cfg->checks[i].name, name) == 0)
            return true;
    return false;
}

/* One registration asked for explicitly. */
static int build_asked(const struct settings *s, const struct checks_req *r,
                       const struct settings_item *it, struct checks_cache *cache,
                       struct mr_config *cfg, struct diag *d)
{
    const char *reg = it->value, *dot = strchr(reg, '.');
    if (!dot || dot == reg || !dot[1]) {
        diag_add(d, "%s: '%s' is not SERVICE.NAMESPACE", it->origin, reg);
        return -1;
    }
    char *svc = cmem_strndup(reg, (size_t)(dot - reg));
    const char *ns = dot + 1;
    char *path = NULL;
    int rc = -1;
    if (!settings_name_ok(svc)) {
        diag_add(d, "%s: %s: '%s' is not a valid service name", it->origin, reg, svc);
        goto out;
    }
    if (have_check(cache, cfg, reg)) {
        diag_add(d, "%s: %s: registration listed twice", it->origin, reg);
        goto out;
    }
    if (strcmp(svc, r->service) == 0) {
        path = cmem_strdup(r->smartstack);
    } else if (s->soa_dir) {
        path = cmem_printf("%s/%s/smartstack.yaml", s->soa_dir, svc);
    } else {
        diag_add(d,
                 "%s: %s: a registration of another service needs --soa-dir (to read "
                 "<soa_dir>/%s/smartstack.yaml)",
                 it->origin, reg, svc);
        goto out;
    }
    const struct cache_entry *e = cache_get(cache, path, d);
    if (e->invalid)
        goto out;
    if (!e->ss) {
        diag_add(d, "%s: %s: cannot read %s: %s", it->origin, reg, path, strerror(e->read_errno));
        goto out;
    }
    const struct smartstack_ns *n = smartstack_find(e->ss, ns);
    if (!n) {
        diag_add(d, "%s: %s: namespace '%s' not found in %s", it->origin, reg, ns, path);
        goto out;
    }
    rc = build_registration(s, r, reg, e->ss, n, cfg, d);
out:
    free(svc);
    free(path);
    return rc;
}

int checks_build(const struct settings *s, const struct checks_req *r, struct checks_cache *cache,
                 struct mr_config *cfg, struct diag *d)
{
    int rc = 0;
    if (s->worker) { /* pod mode only (config/config.c refuses it next to services:) */
        if (r->registrations && r->registrations->n) {
            const char *o = r->registrations->items[0].origin;
            diag_add(d, "%s: --worker registers nothing, but registrations are listed",
                     o ? o : r->registrations->items[0].value);
            return -1;
        }
        return build_worker(s, r, cfg, d);
    }
    if (r->registrations && r->registrations->n) {
        for (size_t i = 0; i < r->registrations->n; i++)
            if (build_asked(s, r, &r->registrations->items[i], cache, cfg, d) < 0)
                rc = -1;
        return rc;
    }
    const struct cache_entry *e = cache_get(cache, r->smartstack, d);
    if (e->invalid)
        return -1;
    if (!e->ss && r->smartstack_explicit) {
        diag_add(d, "%s%s%s: cannot read: %s", r->origin ? r->origin : "",
                 r->origin ? ": " : "", r->smartstack, strerror(e->read_errno));
        return -1;
    }
    const struct smartstack_ns *n = e->ss ? smartstack_find(e->ss, r->instance) : NULL;
    char *name = cmem_printf("%s.%s", r->service, r->instance);
    if (have_check(cache, cfg, name)) {
        diag_add(d, "%s%s%s: listed twice", r->origin ? r->origin : "", r->origin ? ": " : "",
                 name);
        rc = -1;
    } else if (n) {
        rc = build_registration(s, r, name, e->ss, n, cfg, d);
    } else {
        rc = build_worker(s, r, cfg, d);
        if (rc == 0 && !e->ss && !s->worker)
            cfg->checks[cfg->nchecks - 1].smartstack_missing = cmem_strdup(r->smartstack);
    }
    free(name);
    return rc;
}
