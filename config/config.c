/* config_load(): settings (flags/env/file) -> instance config -> smartstack
 * files -> check_specs, collecting every error on the way. The policy choices
 * are documented in config/checks.h. */
#include "config/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/checks.h"
#include "config/cmem.h"
#include "config/creds.h"
#include "config/diag.h"
#include "config/scheme.h"
#include "config/topology.h"
#include "config/instance.h"
#include "config/location.h"
#include "config/placement.h"
#include "config/settings.h"
#include "config/yschema.h"
#include "config/ytree.h"

void config_usage(FILE *f)
{
    settings_usage(f);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The instance config of (service, instance): explicit path, or
 * <soa_dir>/<service>/kubernetes-$PAASTA_CLUSTER.yaml when both are known and
 * the file exists. Returns 1 when one was loaded, 0 when there is none. */
static int load_instance(const struct settings *s, const char *explicit_path, const char *service,
                         const char *instance, struct instance_cfg *ic, struct diag *d)
{
    char *path = NULL;
    const char *cluster = settings_env(s->envp, "PAASTA_CLUSTER");
    if (explicit_path) {
        path = cmem_strdup(explicit_path);
    } else if (s->soa_dir && cluster) {
        path = cmem_printf("%s/%s/kubernetes-%s.yaml", s->soa_dir, service, cluster);
        if (!file_exists(path)) {
            free(path);
            return 0;
        }
    } else {
        return 0;
    }
    int rc = instance_load(path, instance, ic, d);
    free(path);
    return rc < 0 ? -1 : 1;
}

/* Fills the parts of a request that follow the precedence
 * flag > environment > instance config > config file > default. */
static void apply_precedence(const struct settings *s, const struct instance_cfg *ic,
                             struct checks_req *r)
{
    r->rise = s->rise;
    r->reg_fall = s->fall;
    r->reg_interval_ms = s->src[SET_INTERVAL_MS] > SETTINGS_DEFAULT ? s->interval_ms : 0;
    r->worker_timeout_s = ic && ic->timeout_s >= 0 ? ic->timeout_s : -1;
    r->worker_grace_s = ic && ic->grace_s >= 0 ? ic->grace_s : -1;
    if (s->src[SET_FALL] >= SETTINGS_ENV || !ic || ic->max_failures < 0)
        r->worker_fall = s->fall;
    else
        r->worker_fall = ic->max_failures;
    if (s->src[SET_INTERVAL_MS] >= SETTINGS_ENV)
        r->worker_interval_ms = s->interval_ms;
    else if (ic && ic->interval_s >= 0)
        r->worker_interval_ms =
            ic->interval_s * 1000.0 < 1 ? 1 : (int)lround(ic->interval_s * 1000.0);
    else
        r->worker_interval_ms = r->reg_interval_ms;
    if (s->src[SET_WEIGHT] >= SETTINGS_ENV || !ic || ic->weight < 0)
        r->weight = s->weight;
    else
        r->weight = ic->weight;
    if (ic && ic->healthcheck_cmd) {
        r->healthcheck_cmd = ic->healthcheck_cmd;
        r->cmd_origin = ic->cmd_origin;
    }
    if (ic && ic->healthcheck_mode)
        r->healthcheck_mode = ic->healthcheck_mode;
}

static int load_pod(const struct settings *s, struct checks_cache *cache, struct mr_config *cfg,
                    struct diag *d)
{
    struct instance_cfg ic;
    memset(&ic, 0, sizeof(ic));
    char *ss_path = NULL;
    int rc = 0;
    if (!s->service) {
        diag_add(d, "--service: required (or PAASTA_SERVICE, or service: in the config file)");
        return -1;
    }
    int have_ic = load_instance(s, s->instance_config, s->service, s->instance, &ic, d);
    if (have_ic < 0) {
        instance_free(&ic);
        return -1;
    }
    struct checks_req r;
    memset(&r, 0, sizeof(r));
    r.service = s->service;
    r.instance = s->instance;
    r.port = s->port;
    apply_precedence(s, have_ic ? &ic : NULL, &r);
    if (s->src[SET_REGISTRATION] >= SETTINGS_ENV)
        r.registrations = &s->registrations;
    else if (have_ic && ic.has_registrations)
        r.registrations = &ic.registrations;
    else if (s->registrations.n)
        r.registrations = &s->registrations;
    if (s->src[SET_SMARTSTACK] > SETTINGS_DEFAULT) {
        r.smartstack = s->smartstack;
        r.smartstack_explicit = true;
    } else if (s->soa_dir) {
        ss_path = cmem_printf("%s/%s/smartstack.yaml", s->soa_dir, s->service);
        r.smartstack = ss_path;
    } else {
        r.smartstack = s->smartstack;
    }
    if (s->src[SET_DRAIN_SECONDS] < SETTINGS_ENV && have_ic && ic.drain_seconds >= 0)
        cfg->drain_seconds = ic.drain_seconds;
    if (checks_build(s, &r, cache, cfg, d) < 0)
        rc = -1;
    free(ss_path);
    instance_free(&ic);
    return rc;
}

/* ---- VM mode: services: [{service, instance, port, ...}] ---- */

static const struct yschema_prop service_props[] = {
    {"service", &(const struct yschema){.types = YS_STRING}},
    {"instance", &(const struct yschema){.types = YS_STRING}},
    {"port",
     &(const struct yschema){
         .types = YS_INT, .has_min = true, .min = 1, .has_max = true, .max = 65535}},
    {"registrations",
     &(const struct yschema){.types = YS_LIST,
                             .items = &(const struct yschema){.types = YS_STRING}}},
    {"healthcheck_cmd", &(const struct yschema){.types = YS_STRING}},
    {"healthcheck_mode", &(const struct yschema){.enumv = probe_kind_names}},
    {"weight",
     &(const struct yschema){
         .types = YS_INT, .has_min = true, .min = 0, .has_max = true, .max = 65535}},
    {"smartstack", &(const struct yschema){.types = YS_STRING}},
    {"instance_config", &(const struct yschema){.types = YS_STRING}},
    {NULL, NULL}};
static const char *const service_required[] = {"service", "port", NULL};
static const struct yschema s_services = {
    .types = YS_LIST,
    .items = &(const struct yschema){
        .types = YS_MAP, .props = service_props, .closed = true, .required = service_required}};

static const char *item_str(const struct ytree_node *item, const char *key)
{
    const struct ytree_node *n = ytree_map_get(item, key);
    return n ? n->str : NULL;
}

static int load_vm_item(const struct settings *s, const struct ytree_node *item,
                        struct checks_cache *cache, struct mr_config *cfg, struct diag *d)
{
    const char *service = item_str(item, "service");
    const char *instance = item_str(item, "instance");
    const struct ytree_node *n;
    if (!instance)
        instance = "main";
    if (!settings_name_ok(service)) {
        diag_node(d, ytree_map_get(item, "service"), "services: '%s' is not a valid service name",
                  service);
        return -1;
    }
    if (!settings_name_ok(instance)) {
        diag_node(d, ytree_map_get(item, "instance"), "services: '%s' is not a valid instance name",
                  instance);
        return -1;
    }
    struct instance_cfg ic;
    memset(&ic, 0, sizeof(ic));
    int have_ic = load_instance(s, item_str(item, "instance_config"), service, instance, &ic, d);
    if (have_ic < 0) {
        instance_free(&ic);
        return -1;
    }
    struct checks_req r;
    memset(&r, 0, sizeof(r));
    char *origin = cmem_printf("%s:%d:%d", item->file, item->line, item->col);
    char *ss_path = NULL;
    struct settings_list regs = {NULL, 0};
    r.service = service;
    r.instance = instance;
    r.port = (int)ytree_map_get(item, "port")->ival;
    r.origin = origin;
    apply_precedence(s, have_ic ? &ic : NULL, &r);
    if ((n = ytree_map_get(item, "registrations"))) {
        for (size_t i = 0; i < n->nitems; i++) {
            struct settings_item *it = cmem_push(&regs.items, &regs.n, sizeof(*it));
            it->value = cmem_strdup(n->items[i]->str);
            it->origin =
                cmem_printf("%s:%d:%d", n->items[i]->file, n->items[i]->line, n->items[i]->col);
        }
        r.registrations = &regs;
    } else if (have_ic && ic.has_registrations) {
        r.registrations = &ic.registrations;
    }
    if ((n = ytree_map_get(item, "healthcheck_cmd"))) {
        r.healthcheck_cmd = n->str;
        r.cmd_origin = origin;
    }
    if ((n = ytree_map_get(item, "healthcheck_mode")))
        r.healthcheck_mode = n->str;
    if ((n = ytree_map_get(item, "weight")) && s->src[SET_WEIGHT] < SETTINGS_ENV)
        r.weight = (int)n->ival;
    /* A smartstack: named here must exist; without one, the service's soa_dir
     * directory must (a misspelled service or soa_dir is never a silent
     * worker), while a missing smartstack.yaml in it is a worker (PaaSTA's rule). */
    if ((n = ytree_map_get(item, "smartstack"))) {
        r.smartstack = n->str;
        r.smartstack_explicit = true;
    } else {
        ss_path = cmem_printf("%s/%s/smartstack.yaml", s->soa_dir, service);
        r.smartstack = ss_path;
        char *dir = cmem_printf("%s/%s", s->soa_dir, service);
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            diag_node(d, ytree_map_get(item, "service"),
                      "services: '%s': no directory %s (misspelled service or soa_dir?)",
                      service, dir);
            free(dir);
            free(ss_path);
            free(origin);
            instance_free(&ic);
            return -1;
        }
        free(dir);
    }
    int rc = checks_build(s, &r, cache, cfg, d);
    for (size_t i = 0; i < regs.n; i++) {
        free(regs.items[i].value);
        free(regs.items[i].origin);
    }
    free(regs.items);
    free(ss_path);
    free(origin);
    instance_free(&ic);
    return rc;
}

static int load_vm(const struct settings *s, struct checks_cache *cache, struct mr_config *cfg,
                   struct diag *d)
{
    /* Per-service options make no sense next to a services: list. */
    static const enum settings_id pod_only[] = {
        SET_SERVICE, SET_INSTANCE, SET_PORT, SET_REGISTRATION, SET_SMARTSTACK, SET_INSTANCE_CONFIG,
        SET_WORKER};
    int rc = 0;
    for (size_t i = 0; i < sizeof(pod_only) / sizeof(pod_only[0]); i++) {
        enum settings_id id = pod_only[i];
        if (s->src[id] == SETTINGS_FLAG || s->src[id] == SETTINGS_FILE) {
            diag_add(d, "%s: not allowed with a services: list (VM mode); set it per service",
                     s->origin[id]);
            rc = -1;
        }
    }
    if (yschema_check(&s_services, s->services, NULL, "services", d) > 0)
        return -1;
    if (s->services->nitems == 0) {
        diag_node(d, s->services, "services: the list is empty");
        return -1;
    }
    if (!s->soa_dir) {
        diag_node(d, s->services,
                  "services: needs soa_dir (--soa-dir, MESHREG_SOA_DIR or soa_dir: in the "
                  "config file) to find <soa_dir>/<service>/smartstack.yaml");
        return -1;
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < s->services->nitems; i++)
        if (load_vm_item(s, s->services->items[i], cache, cfg, d) < 0)
            rc = -1;
    return rc;
}

static void keep_restart_only(struct mr_config *cfg, const struct settings *s)
{
    for (int id = 0; id < SET_COUNT; id++) {
        if (settings_reload_of((enum settings_id)id) != SETTINGS_RESTART)
            continue;
        struct kv *kv = cmem_push(&cfg->restart_only, &cfg->nrestart_only, sizeof(*kv));
        kv->key = cmem_strdup(settings_key((enum settings_id)id));
        kv->value = settings_value_text(s, (enum settings_id)id);
    }
}

const char *config_restart_changed(const struct mr_config *running, const struct mr_config *loaded,
                                   size_t *i)
{
    /* Both come from the same table: the same keys in the same order. */
    size_t n = running->nrestart_only < loaded->nrestart_only ? running->nrestart_only
                                                              : loaded->nrestart_only;
    while (*i < n) {
        const struct kv *b = &loaded->restart_only[*i];
        if (strcmp(running->restart_only[(*i)++].value, b->value) != 0)
            return b->key;
    }
    return NULL;
}

static char **copy_list(const struct settings_list *l, size_t *n)
{
    char **out = cmem_calloc(l->n + 1, sizeof(char *));
    for (size_t i = 0; i < l->n; i++)
        out[i] = cmem_strdup(l->items[i].value);
    *n = l->n;
    return out;
}

/* file:./registry depends on the working directory (under systemd, /):
 * resolved once at start so records never move with a later chdir, and
 * logged (README "Backends"). */
static int resolve_file_backend(struct mr_config *cfg, struct diag *d)
{
    const char *dir = cfg->backend + strlen("file:");
    char cwd[PATH_MAX];
    if (strncmp(cfg->backend, "file:", 5) != 0 || dir[0] == '/')
        return 0;
    if (!getcwd(cwd, sizeof(cwd))) {
        diag_add(d, "--backend %s: a relative path, and the working directory is unknown: %s",
                 cfg->backend, strerror(errno));
        return -1;
    }
    while (dir[0] == '.' && dir[1] == '/')
        dir += 2;
    cfg->backend_relative = cfg->backend;
    if (strcmp(dir, ".") == 0 || dir[0] == '\0')
        cfg->backend = cmem_printf("file:%s", cwd);
    else
        cfg->backend = cmem_printf("file:%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", dir);
    return 0;
}

int config_load(int argc, char **argv, char **envp, struct mr_config **out, char *err,
                size_t errlen)
{
    struct settings s;
    struct diag d;
    memset(&s, 0, sizeof(s));
    diag_init(&d);
    struct mr_config *cfg = cmem_calloc(1, sizeof(*cfg));
    struct checks_cache *cache = NULL;
    int rc = settings_load(&s, argc, argv, envp, &d);
    if (s.help) {
        cfg->help = true;
        rc = 0;
        goto done;
    }
    if (rc < 0)
        goto done;
    cfg->config_file = cmem_strdup(s.config_file);
    cfg->backend = cmem_strdup(s.backend);
    if (resolve_file_backend(cfg, &d) < 0) {
        rc = -1;
        goto done;
    }
    cfg->admin_addr = cmem_strdup(s.admin);
    cfg->drain_seconds = s.drain_seconds;
    cfg->ttl_seconds = s.ttl_seconds;
    cfg->agent_port = s.agent_port;
    cfg->state_dir = cmem_strdup(s.state_dir);
    cfg->admin_allow = copy_list(&s.admin_allow, &cfg->nadmin_allow);
    cfg->grace_seconds = s.grace_seconds;
    cfg->adaptive_drain = s.adaptive_drain;
    cfg->hacheck_live = strcmp(s.hacheck_live, "on") == 0;
    cfg->zk_path_encoding = s.zk_path_encoding;
    if (creds_load(&s, cfg, &d) != 0) {
        rc = -1;
        goto done;
    }
    cfg->min_drain_seconds = s.min_drain_seconds;
    cfg->log_format = strcmp(s.log_format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
    cfg->soa_dir = cmem_strdup(s.soa_dir);
    cfg->etc_dir = cmem_strdup(s.etc_dir);
    cfg->labels_dir = cmem_strdup(s.labels_dir);
    cfg->zk_location_type = cmem_strdup(s.zk_location_type);
    cfg->backend_max_ops = s.backend_max_ops;
    char lerr[1024];
    if (!(cfg->locdb = location_db_load(s.etc_dir, &s, lerr, sizeof(lerr)))) {
        diag_add(&d, "%s", lerr);
        rc = -1;
        goto done;
    }
    keep_restart_only(cfg, &s);
    cache = checks_cache_new();
    if (s.services) {
        cfg->vm_mode = true;
        rc = load_vm(&s, cache, cfg, &d);
    } else {
        rc = load_pod(&s, cache, cfg, &d);
    }
    if (rc == 0 && topology_check_config(cfg, &d) != 0)
        rc = -1;
    cfg->app_argv = s.app_argv;
    s.app_argv = NULL;
done:
    checks_cache_free(cache);
    settings_free(&s);
    if (rc < 0) {
        diag_copy(&d, err, errlen);
        config_free(cfg);
    } else {
        cfg->warnings = d.wbuf ? cmem_strdup(d.wbuf) : NULL;
        *out = cfg;
    }
    diag_free(&d);
    return rc;
}

static void print_probe(FILE *f, const struct check_spec *c)
{
    switch (c->probe) {
    case PROBE_HTTP:
    case PROBE_HTTPS:
        fprintf(f, "%s://%s:%d%s", probe_kind_name(c->probe), c->probe_host, c->probe_port,
                c->probe_uri ? c->probe_uri : "/");
        break;
    case PROBE_TCP:
        fprintf(f, "tcp %s:%d", c->probe_host, c->probe_port);
        break;
    case PROBE_GRPC:
        fprintf(f, "grpc %s:%d service \"%s\"", c->probe_host, c->probe_port,
                c->probe_uri ? c->probe_uri : "");
        break;
    case PROBE_CMD:
        fprintf(f, "cmd \"%s\"", c->probe_cmd ? c->probe_cmd : "");
        break;
    }
}

void config_print(FILE *f, const struct mr_config *cfg)
{
    for (size_t i = 0; cfg && i < cfg->nchecks; i++) {
        const struct check_spec *c = &cfg->checks[i];
        fprintf(f, "%s: ", c->name);
        print_probe(f, c);
        fprintf(f, " interval %dms rise %d fall %d timeout %dms", c->interval_ms, c->rise, c->fall,
                c->timeout_ms);
        if (c->grace_ms)
            fprintf(f, " grace %dms", c->grace_ms);
        if (!c->registered) {
            fprintf(f, " worker (not registered)\n");
            continue;
        }
        fprintf(f, " weight %d register %s:%d as %s in %s", c->weight, c->host, c->port,
                c->instance_id, cfg->backend);
        if (c->nlabels) {
            fprintf(f, " labels ");
            for (size_t j = 0; j < c->nlabels; j++)
                fprintf(f, "%s%s%s%s", j ? "," : "", c->labels[j].key,
                        c->labels[j].value[0] ? "=" : "", c->labels[j].value);
        }
        fputc('\n', f);
        /* The smartstack backend's topology lookup plugs in as the cluster
         * hook (NULL: every placement with a location counts). */
        bool multi = scheme_find(cfg->backend) && scheme_find(cfg->backend)->multi_cluster;
        placement_print(f, c, cfg->zk_location_type, multi ? topology_describe : NULL,
                        (void *)cfg, multi);
    }
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool kvs_eq(const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Every field of struct check_spec, once: the reload comparison is derived
 * from this table, and the size check below fails the build when a field is
 * added to the struct without being added here. */
enum spec_field_type { SF_STR, SF_INT, SF_BOOL, SF_KVS, SF_PLACEMENTS, SF_DERIVED };
static const struct {
    enum spec_field_type type;
    size_t off, count_off; /* count_off: SF_KVS only */
} spec_fields[] = {
#define STR(f)                                                                                     \
    {                                                                                              \
        SF_STR, offsetof(struct check_spec, f), 0                                                  \
    }
#define INT(f)                                                                                     \
    {                                                                                              \
        SF_INT, offsetof(struct check_spec, f), 0                                                  \
    }
#define BOOL(f)                                                                                    \
    {                                                                                              \
        SF_BOOL, offsetof(struct check_spec, f), 0                                                 \
    }
#define KVS(f, n)                                                                                  \
    {                                                                                              \
        SF_KVS, offsetof(struct check_spec, f), offsetof(struct check_spec, n)                     \
    }
/* DRV: inputs of a derived field, compared through what they produce. */
#define DRV(f)                                                                                     \
    {                                                                                              \
        SF_DERIVED, offsetof(struct check_spec, f), 0                                              \
    }
#define PLC(f)                                                                                     \
    {                                                                                              \
        SF_PLACEMENTS, offsetof(struct check_spec, f), 0                                           \
    }
    STR(name),        STR(service),
    STR(ns),          STR(instance),
    BOOL(registered), STR(host),
    INT(port),        STR(instance_id),
    INT(weight),      INT(probe),
    STR(probe_host),  INT(probe_port),
    STR(probe_uri),   STR(probe_cmd),
    STR(body_expect), KVS(headers, nheaders),
    INT(timeout_ms),  INT(interval_ms),
    INT(rise),        INT(fall),
    INT(grace_ms),    KVS(labels, nlabels),
    STR(smartstack_missing),
    DRV(place_in),    PLC(placements),
#undef DRV
#undef PLC
#undef STR
#undef INT
#undef BOOL
#undef KVS
};
/* 11 strings, 2 lists with their counts, 9 ints (the enum included), a
 * bool, a placement_input (56) and a placement_set (32): 264 bytes on LP64
 * with its padding. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct check_spec) == 264,
               "struct check_spec changed: add the field to spec_fields in config.c");

bool config_check_same(const struct check_spec *a, const struct check_spec *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < sizeof(spec_fields) / sizeof(spec_fields[0]); i++) {
        size_t off = spec_fields[i].off;
        switch (spec_fields[i].type) {
        case SF_STR:
            if (!str_eq(*(char *const *)(pa + off), *(char *const *)(pb + off)))
                return false;
            break;
        case SF_INT:
            if (*(const int *)(pa + off) != *(const int *)(pb + off))
                return false;
            break;
        case SF_BOOL:
            if (*(const bool *)(pa + off) != *(const bool *)(pb + off))
                return false;
            break;
        case SF_DERIVED:
            break;
        case SF_PLACEMENTS:
            if (!placement_set_equal((const struct placement_set *)(const void *)(pa + off),
                                     (const struct placement_set *)(const void *)(pb + off)))
                return false;
            break;
        case SF_KVS: {
            size_t n = spec_fields[i].count_off;
            if (!kvs_eq(*(struct kv *const *)(pa + off), *(const size_t *)(pa + n),
                        *(struct kv *const *)(pb + off), *(const size_t *)(pb + n)))
                return false;
            break;
        }
        }
    }
    return true;
}

void config_free(struct mr_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->config_file);
    creds_free(&cfg->auth);
    free(cfg->warnings);
    free(cfg->backend);
    free(cfg->backend_relative);
    free(cfg->admin_addr);
    free(cfg->state_dir);
    for (size_t i = 0; i < cfg->nadmin_allow; i++)
        free(cfg->admin_allow[i]);
    free(cfg->admin_allow);
    for (size_t i = 0; i < cfg->nchecks; i++)
        checks_spec_clear(&cfg->checks[i]);
    free(cfg->checks);
    if (cfg->app_argv)
        for (char **a = cfg->app_argv; *a; a++)
            free(*a);
    free(cfg->app_argv);
    free(cfg->soa_dir);
    free(cfg->etc_dir);
    free(cfg->labels_dir);
    free(cfg->zk_location_type);
    location_db_free(cfg->locdb);
    for (size_t i = 0; i < cfg->nrestart_only; i++) {
        free(cfg->restart_only[i].key);
        free(cfg->restart_only[i].value);
    }
    free(cfg->restart_only);
    free(cfg);
}
