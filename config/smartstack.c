#include "config/smartstack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/yschema.h"
#include "config/ytree.h"

/* ---- the schema, transcribed from PaaSTA's smartstack_schema.json ---- */

/* The patterns are applied as Python's re.search does: `$` also matches
 * before a final newline, so "/status\n" (a `|` block scalar) passes. */
static size_t without_final_newline(const char *s, size_t len)
{
    return len && s[len - 1] == '\n' ? len - 1 : len;
}

/* ^/[-_0-9a-zA-Z/\?&\.=]*$ */
static bool uri_ok(const char *s, size_t len)
{
    len = without_final_newline(s, len);
    if (len == 0 || s[0] != '/')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (!c || !strchr("-_/?&.=", c))
            return false;
    }
    return true;
}

/* ^(leastconn|roundrobin)$ */
static bool balance_ok(const char *s, size_t len)
{
    len = without_final_newline(s, len);
    return (len == 9 && memcmp(s, "leastconn", 9) == 0) ||
           (len == 10 && memcmp(s, "roundrobin", 10) == 0);
}

#define RANGE(lo, hi) .has_min = true, .min = (lo), .has_max = true, .max = (hi)
#define MIN(lo) .has_min = true, .min = (lo)

static const struct yschema s_any = {0};
static const struct yschema s_str = {.types = YS_STRING};
static const struct yschema s_bool = {.types = YS_BOOL};
static const struct yschema s_map = {.types = YS_MAP};
static const struct yschema s_port = {.types = YS_INT, RANGE(0, 65535)};
static const struct yschema s_ms_day = {.types = YS_INT, RANGE(0, 86400000)};
static const struct yschema s_ratio = {.types = YS_NUMBER, RANGE(0, 1)};
static const struct yschema s_num_pos = {.types = YS_NUMBER, MIN(0)};
static const struct yschema s_str_list = {.types = YS_LIST, .items = &s_str};

static const char *const modes[] = {"http", "https", "http2", "tcp", NULL};
/* meshreg extends healthcheck_mode with cmd (instance healthcheck_cmd) and grpc. */
static const char *const hc_modes[] = {"http", "https", "http2", "tcp", "cmd", "grpc", NULL};
static const char *const lb_policies[] = {"ROUND_ROBIN", "LEAST_REQUEST",    "RING_HASH", "RANDOM",
                                          "MAGLEV",      "CLUSTER_PROVIDED", NULL};

static const struct yschema_prop hc_header_props[] = {
    {"Host", &s_str}, {"X-ProxiedSSL", &s_str}, {"X-Source-Id", &s_str}, {NULL, NULL}};

static const struct yschema_prop fixed_delay_props[] = {
    {"duration_ms", &(const struct yschema){.types = YS_NUMBER, RANGE(0, 86400000)}},
    {"percent", &(const struct yschema){.types = YS_INT, RANGE(0, 100)}},
    {NULL, NULL}};
static const char *const fixed_delay_req[] = {"duration_ms", "percent", NULL};
static const struct yschema s_fixed_delay_item = {
    .types = YS_MAP, .props = fixed_delay_props, .required = fixed_delay_req};

static const char *const enabled_req[] = {"enabled", NULL};
static const struct yschema_prop source_required_props[] = {{"enabled", &s_bool}, {NULL, NULL}};
static const struct yschema_prop logging_props[] = {
    {"enabled", &s_bool}, {"sample_rate", &s_ratio}, {NULL, NULL}};
static const struct yschema_prop plugins_props[] = {
    {"source_required",
     &(const struct yschema){
         .types = YS_MAP, .props = source_required_props, .required = enabled_req, .closed = true}},
    {"logging",
     &(const struct yschema){.types = YS_MAP, .props = logging_props, .required = enabled_req}},
    {NULL, NULL}};

static const struct yschema_prop endpoint_props[] = {{"name", &s_str},
                                                     {"error_threshold_ratio", &s_ratio},
                                                     {"minimum_error_rps", &s_num_pos},
                                                     {"timeout_threshold_ratio", &s_ratio},
                                                     {"team", &s_str},
                                                     {"slack_channel", &s_str},
                                                     {"project", &s_str},
                                                     {"ticket", &s_bool},
                                                     {"page", &s_bool},
                                                     {"page_nonprod", &s_bool},
                                                     {NULL, NULL}};
static const char *const endpoint_req[] = {"name", NULL};
static const struct yschema s_endpoint = {
    .types = YS_MAP, .props = endpoint_props, .required = endpoint_req};

static const struct yschema_prop monitoring_props[] = {
    {"team", &s_str},
    {"slack_channel", &s_str},
    {"project", &s_str},
    {"ticket", &s_bool},
    {"page", &s_bool},
    {"page_nonprod", &s_bool},
    {"error_threshold_ratio", &s_ratio},
    {"minimum_error_rps", &s_num_pos},
    {"timeout_threshold_ratio", &s_ratio},
    {"timeout_alerting", &s_bool},
    {"timeout_page", &s_bool},
    {"timeout_ticket", &s_bool},
    {"default_endpoint_alerting", &s_bool},
    {"endpoint_error_threshold_ratio", &s_ratio},
    {"endpoint_minimum_error_rps", &s_num_pos},
    {"endpoints", &(const struct yschema){.types = YS_LIST, .items = &s_endpoint}},
    {NULL, NULL}};

static const struct yschema_prop ns_props[] = {
    {"proxy_port", &(const struct yschema){.types = YS_INT | YS_NULL, RANGE(19000, 21000)}},
    {"port", &s_port},
    {"healthcheck_uri", &(const struct yschema){.types = YS_STRING,
                                                .pattern = uri_ok,
                                                .pattern_text = "^/[-_0-9a-zA-Z/\\?&\\.=]*$"}},
    {"healthcheck_timeout_s", &(const struct yschema){.types = YS_NUMBER, RANGE(0, 10)}},
    {"updown_timeout_s", &s_ms_day},
    {"healthcheck_mode", &(const struct yschema){.enumv = hc_modes}},
    {"healthcheck_port", &s_port},
    {"healthcheck_body_expect", &s_str},
    {"retries", &(const struct yschema){.types = YS_INT, RANGE(0, 10)}},
    {"allredisp", &s_bool},
    {"timeout_connect_ms", &(const struct yschema){.types = YS_INT, RANGE(0, 60000)}},
    {"timeout_client_ms", &s_ms_day},
    {"timeout_server_ms", &s_ms_day},
    {"idle_timeout", &s_ms_day},
    {"balance", &(const struct yschema){.types = YS_STRING,
                                        .pattern = balance_ok,
                                        .pattern_text = "^(leastconn|roundrobin)$"}},
    {"advertise", &s_str_list},
    {"discover", &s_str},
    {"extra_advertise", &(const struct yschema){.types = YS_MAP, .addl = &s_str_list}},
    {"extra_headers", &s_map},
    {"extra_healthcheck_headers",
     &(const struct yschema){.types = YS_MAP, .props = hc_header_props, .addl = &s_str}},
    {"mode", &(const struct yschema){.enumv = modes}},
    {"lb_policy", &(const struct yschema){.enumv = lb_policies}},
    {"choice_count", &(const struct yschema){.types = YS_INT, MIN(1)}},
    {"chaos", &(const struct yschema){.types = YS_MAP, .addl = &s_any}},
    {"proxied_through", &s_str},
    {"clb_proxy", &s_str},
    {"fixed_delay", &(const struct yschema){.types = YS_MAP, .addl = &s_fixed_delay_item}},
    {"is_proxy", &s_bool},
    {"plugins", &(const struct yschema){.types = YS_MAP, .props = plugins_props}},
    {"endpoint_timeouts", &(const struct yschema){.types = YS_MAP, .addl = &s_num_pos}},
    {"allow_websocket_upgrade", &s_bool},
    {"vip_upgrade", &s_str},
    {"monitoring", &(const struct yschema){.types = YS_MAP, .props = monitoring_props}},
    {NULL, NULL}};

static const char *const ns_required[] = {"proxy_port", NULL};

static const struct yschema s_namespace = {
    .types = YS_MAP, .props = ns_props, .closed = true, .required = ns_required};

/* ---- extraction of what meshreg uses ---- */

static char *str_of(const struct ytree_node *n)
{
    return n && n->kind == YTREE_SCALAR && n->stype == YTREE_STR ? cmem_strdup(n->str) : NULL;
}

static bool is_location(const char *s)
{
    const char *c = strchr(s, ':');
    return c && c != s && c[1] && !strchr(c + 1, ':');
}

/* extra_advertise entries are "TYPE:LOC" on both sides. PaaSTA's schema only
 * says "string" (and any key), so anything else is accepted and left out,
 * with a warning: it cannot become a location. */
static void extract_xadv(struct smartstack_ns *ns, const struct ytree_node *x, struct diag *d)
{
    for (size_t i = 0; x && x->kind == YTREE_MAP && i < x->npairs; i++) {
        const struct ytree_node *k = x->pairs[i].key, *v = x->pairs[i].value;
        if (!ytree_is_scalar(k, YTREE_STR) || !is_location(k->str)) {
            diag_warn_node(d, k, "%s.extra_advertise: '%s' is not TYPE:LOCATION: entry ignored",
                           ns->name, k->str);
            continue;
        }
        if (v->kind != YTREE_SEQ)
            continue;
        struct smartstack_xadv *xa = cmem_push(&ns->xadv, &ns->nxadv, sizeof(*xa));
        xa->src = cmem_strdup(k->str);
        for (size_t j = 0; j < v->nitems; j++) {
            const struct ytree_node *it = v->items[j];
            if (!ytree_is_scalar(it, YTREE_STR))
                continue;
            if (!is_location(it->str)) {
                diag_warn_node(d, it, "%s.extra_advertise.%s: '%s' is not TYPE:LOCATION: ignored",
                               ns->name, k->str, it->str);
                continue;
            }
            *(char **)cmem_push(&xa->dst, &xa->ndst, sizeof(char *)) = cmem_strdup(it->str);
        }
    }
}

/* What PaaSTA accepts but meshreg cannot use as written: warned about, and
 * read the nearest sensible way. */
static void extract_probe(struct smartstack_ns *ns, const struct ytree_node *m, struct diag *d)
{
    const struct ytree_node *n;
    if ((n = ytree_map_get(m, "healthcheck_mode"))) {
        ns->healthcheck_mode = str_of(n);
        ns->mode_line = n->line;
        ns->mode_col = n->col;
        if (ns->healthcheck_mode &&
            (strcmp(ns->healthcheck_mode, "cmd") == 0 || strcmp(ns->healthcheck_mode, "grpc") == 0))
            diag_warn_node(d, n,
                           "%s.healthcheck_mode: '%s' is a meshreg extension: paasta validate "
                           "rejects it",
                           ns->name, ns->healthcheck_mode);
    }
    n = ytree_map_get(m, "healthcheck_uri");
    ns->healthcheck_uri = str_of(n);
    size_t ulen = ns->healthcheck_uri ? strlen(ns->healthcheck_uri) : 0;
    if (ulen && ns->healthcheck_uri[ulen - 1] == '\n') {
        ns->healthcheck_uri[ulen - 1] = '\0';
        diag_warn_node(d, n,
                       "%s.healthcheck_uri: ends with a line break (a '|' block?): probing "
                       "without it",
                       ns->name);
    }
    if ((n = ytree_map_get(m, "healthcheck_port")) && ytree_is_scalar(n, YTREE_INT))
        ns->healthcheck_port = (int)n->ival;
    if ((n = ytree_map_get(m, "healthcheck_timeout_s")) && ytree_is_number(n)) {
        if (isnan(n->fval))
            diag_warn_node(d, n, "%s.healthcheck_timeout_s: NaN: using the default, 1 s", ns->name);
        else
            ns->healthcheck_timeout_s = n->fval;
        /* PaaSTA's schema allows 0; it leaves a probe the 1 ms floor of a
         * deadline, so every probe of a real app fails. Said, not refused. */
        if (!isnan(n->fval) && n->fval < 0.001)
            diag_warn_node(d, n,
                           "%s.healthcheck_timeout_s: %g: every probe must answer within 1 ms "
                           "and an app rarely does (the default is 1)",
                           ns->name, n->fval);
    }
    ns->body_expect = str_of(ytree_map_get(m, "healthcheck_body_expect"));
}

static void extract(struct smartstack_ns *ns, const struct ytree_node *key,
                    const struct ytree_node *m, struct diag *d)
{
    const struct ytree_node *n;
    ns->name = cmem_strdup(key->str);
    ns->line = ns->mode_line = key->line;
    ns->col = ns->mode_col = key->col;
    ns->proxy_port = -1;
    ns->healthcheck_port = -1;
    ns->healthcheck_timeout_s = -1;
    if ((n = ytree_map_get(m, "proxy_port")) && ytree_is_scalar(n, YTREE_INT))
        ns->proxy_port = (int)n->ival;
    ns->mode = str_of(ytree_map_get(m, "mode"));
    extract_probe(ns, m, d);
    if ((n = ytree_map_get(m, "extra_healthcheck_headers")) && n->kind == YTREE_MAP) {
        for (size_t i = 0; i < n->npairs; i++) {
            if (!ytree_is_scalar(n->pairs[i].value, YTREE_STR))
                continue;
            struct kv *h = cmem_push(&ns->headers, &ns->nheaders, sizeof(*h));
            h->key = cmem_strdup(n->pairs[i].key->str);
            h->value = cmem_strdup(n->pairs[i].value->str);
        }
    }
    if ((n = ytree_map_get(m, "advertise")) && n->kind == YTREE_SEQ) {
        ns->has_advertise = true;
        for (size_t i = 0; i < n->nitems; i++)
            if (ytree_is_scalar(n->items[i], YTREE_STR))
                *(char **)cmem_push(&ns->advertise, &ns->nadvertise, sizeof(char *)) =
                    cmem_strdup(n->items[i]->str);
    }
    ns->discover = str_of(ytree_map_get(m, "discover"));
    extract_xadv(ns, ytree_map_get(m, "extra_advertise"), d);
}

int smartstack_from_doc(const struct ytree_doc *doc, struct smartstack **out, struct diag *d)
{
    const struct ytree_node *root = doc->root;
    *out = NULL;
    if (!root) {
        diag_add(d, "%s:1:1: empty file: expected a map of namespace -> settings", doc->file);
        return -1;
    }
    if (root->kind != YTREE_MAP || root->other) {
        char desc[160];
        yschema_describe(root, desc, sizeof(desc));
        diag_node(d, root, "top level: expected a map of namespace -> settings, got %s", desc);
        return -1;
    }
    if (root->npairs == 0) {
        diag_node(d, root, "top level: needs at least one namespace");
        return -1;
    }
    struct smartstack *ss = cmem_calloc(1, sizeof(*ss));
    ss->file = cmem_strdup(doc->file);
    int errs = 0;
    for (size_t i = 0; i < root->npairs; i++) {
        const struct ytree_node *k = root->pairs[i].key, *v = root->pairs[i].value;
        int e = yschema_check(&s_namespace, v, k, k->str, d);
        errs += e;
        if (v->kind != YTREE_MAP)
            continue;
        /* PaaSTA looks namespaces up by the string after the dot of a
         * registration: a key of another type (123, yes, ~) is valid but
         * can never be named, so it is not kept. */
        if (!ytree_is_scalar(k, YTREE_STR) || strlen(k->str) != k->len) {
            diag_warn_node(d, k, "namespace %s is not a string: no registration can name it",
                           k->str);
            continue;
        }
        struct smartstack_ns *ns = cmem_push(&ss->ns, &ss->nns, sizeof(*ns));
        extract(ns, k, v, d);
    }
    if (errs) {
        smartstack_free(ss);
        return -1;
    }
    *out = ss;
    return 0;
}

int smartstack_load(const char *path, struct smartstack **out, struct diag *d)
{
    struct ytree_doc *doc = NULL;
    *out = NULL;
    if (ytree_load_file(path, &doc, d) < 0)
        return -1;
    int rc = smartstack_from_doc(doc, out, d);
    ytree_doc_free(doc);
    return rc;
}

const struct smartstack_ns *smartstack_find(const struct smartstack *ss, const char *ns)
{
    for (size_t i = 0; ss && i < ss->nns; i++)
        if (strcmp(ss->ns[i].name, ns) == 0)
            return &ss->ns[i];
    return NULL;
}

static void ns_free(struct smartstack_ns *ns)
{
    free(ns->name);
    free(ns->mode);
    free(ns->healthcheck_mode);
    free(ns->healthcheck_uri);
    free(ns->body_expect);
    for (size_t i = 0; i < ns->nheaders; i++) {
        free(ns->headers[i].key);
        free(ns->headers[i].value);
    }
    free(ns->headers);
    for (size_t i = 0; i < ns->nadvertise; i++)
        free(ns->advertise[i]);
    free(ns->advertise);
    for (size_t i = 0; i < ns->nxadv; i++) {
        free(ns->xadv[i].src);
        for (size_t j = 0; j < ns->xadv[i].ndst; j++)
            free(ns->xadv[i].dst[j]);
        free(ns->xadv[i].dst);
    }
    free(ns->xadv);
    free(ns->discover);
}

void smartstack_free(struct smartstack *ss)
{
    if (!ss)
        return;
    for (size_t i = 0; i < ss->nns; i++)
        ns_free(&ss->ns[i]);
    free(ss->ns);
    free(ss->file);
    free(ss);
}
