#include "config/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/scheme.h"
#include "config/yschema.h"
#include "config/ytree.h"
#include "proto/netaddr.h"

enum stype { T_STR, T_INT, T_BOOL, T_LIST };

typedef int (*settings_check_fn)(const char *v, char *why, size_t whylen);

struct def {
    const char *flag; /* long flag without "--" */
    const char *key;  /* config file key */
    const char *env;  /* environment variable, or NULL */
    enum stype type;
    const char *def; /* default (NULL: none / computed) */
    long min, max;   /* T_INT bounds */
    size_t off;      /* field in struct settings */
    const char *metavar;
    const char *help;
    settings_check_fn check;     /* extra validation of a string / list item */
    char sep;                    /* T_LIST: a single string splits on this (0: no split) */
    enum settings_reload reload; /* may SIGHUP change it (settings.h) */
};

static int check_name(const char *v, char *why, size_t len);
static int check_registration(const char *v, char *why, size_t len);
static int check_backend(const char *v, char *why, size_t len);
static int check_admin(const char *v, char *why, size_t len);
static int check_cidr(const char *v, char *why, size_t len);
static int check_log_format(const char *v, char *why, size_t len);
static int check_on_off(const char *v, char *why, size_t len);
static int check_nonempty(const char *v, char *why, size_t len);
static int check_zk_acl(const char *v, char *why, size_t len);
static int check_host(const char *v, char *why, size_t len);

#define OFF(f) offsetof(struct settings, f)

/* The table of every `run`/`check` option (README "Command line"). */
static const struct def defs[SET_COUNT] = {
    [SET_SMARTSTACK] = {"smartstack", "smartstack", "MESHREG_SMARTSTACK", T_STR,
                        "./smartstack.yaml", 0, 0, OFF(smartstack), "FILE",
                        "PaaSTA smartstack.yaml (default <soa-dir>/<service>/smartstack.yaml "
                        "when --soa-dir is set)",
                        check_nonempty, 0, SETTINGS_RELOADABLE},
    [SET_SERVICE] = {"service", "service", "PAASTA_SERVICE", T_STR, NULL, 0, 0, OFF(service),
                     "NAME", "service name (required)", check_name, 0, SETTINGS_RELOADABLE},
    [SET_INSTANCE] = {"instance", "instance", "PAASTA_INSTANCE", T_STR, "main", 0, 0, OFF(instance),
                      "NAME", "instance", check_name, 0, SETTINGS_RELOADABLE},
    [SET_REGISTRATION] = {"registration", "registrations", NULL, T_LIST, NULL, 0, 0,
                          OFF(registrations), "SVC.NS",
                          "what to register (repeatable; default service.instance)",
                          check_registration, 0, SETTINGS_RELOADABLE},
    [SET_PORT] = {"port", "port", "PAASTA_PORT", T_INT, "8888", 1, 65535, OFF(port), "N",
                  "app port probed and advertised", NULL, 0, SETTINGS_RELOADABLE},
    [SET_HOST] = {"host", "host", "PAASTA_HOST", T_STR, NULL, 0, 0, OFF(host), "ADDR",
                  "address advertised (default: first non-loopback IPv4)", check_host, 0,
                  SETTINGS_RELOADABLE},
    [SET_INSTANCE_ID] = {"instance-id", "instance_id", NULL, T_STR, NULL, 0, 0, OFF(instance_id),
                         "ID", "record name / node prefix (default: hostname)", check_nonempty, 0,
                         SETTINGS_RELOADABLE},
    [SET_BACKEND] = {"backend", "backend", "MESHREG_BACKEND", T_STR, "file:./registry", 0, 0,
                     OFF(backend), "URI", SCHEME_HELP_ALL, check_backend, 0, SETTINGS_RESTART},
    [SET_ADMIN] = {"admin", "admin", "MESHREG_ADMIN", T_STR, "0.0.0.0:6666", 0, 0, OFF(admin),
                   "ADDR:PORT", "health/admin endpoint", check_admin, 0, SETTINGS_RESTART},
    [SET_DRAIN_SECONDS] = {"drain-seconds", "drain_seconds", NULL, T_INT, "30", 0, 86400,
                           OFF(drain_seconds), "N", "drain window", NULL, 0, SETTINGS_RELOADABLE},
    [SET_INTERVAL_MS] = {"interval-ms", "interval_ms", NULL, T_INT, NULL, 10, 86400000,
                         OFF(interval_ms), "N",
                         "probe period (default (healthcheck_timeout_s+1)*1000)", NULL, 0,
                         SETTINGS_RELOADABLE},
    [SET_RISE] = {"rise", "rise", NULL, T_INT, "1", 1, 1000, OFF(rise), "N",
                  "consecutive passes to become healthy", NULL, 0, SETTINGS_RELOADABLE},
    [SET_FALL] = {"fall", "fall", NULL, T_INT, "2", 1, 1000, OFF(fall), "N",
                  "consecutive failures to become unhealthy", NULL, 0, SETTINGS_RELOADABLE},
    [SET_WEIGHT] = {"weight", "weight", NULL, T_INT, "10", 0, 65535, OFF(weight), "N",
                    "record weight", NULL, 0, SETTINGS_RELOADABLE},
    [SET_TTL_SECONDS] = {"ttl-seconds", "ttl_seconds", NULL, T_INT, "10", 1, 3600, OFF(ttl_seconds),
                         "N", "ZooKeeper session timeout / etcd lease TTL", NULL, 0,
                         SETTINGS_RESTART},
    [SET_AGENT_PORT] = {"agent-port", "agent_port", NULL, T_INT, "0", 0, 65535, OFF(agent_port),
                        "N", "HAProxy agent-check port (0 = off)", NULL, 0, SETTINGS_RESTART},
    [SET_STATE_DIR] = {"state-dir", "state_dir", NULL, T_STR, NULL, 0, 0, OFF(state_dir), "DIR",
                       "where drain state persists (default off)", check_nonempty, 0,
                       SETTINGS_RESTART},
    [SET_INSTANCE_CONFIG] = {"instance-config", "instance_config", NULL, T_STR, NULL, 0, 0,
                             OFF(instance_config), "FILE",
                             "PaaSTA kubernetes-<cluster>.yaml (default "
                             "<soa-dir>/<service>/kubernetes-$PAASTA_CLUSTER.yaml)",
                             check_nonempty, 0, SETTINGS_RELOADABLE},
    [SET_SOA_DIR] = {"soa-dir", "soa_dir", "MESHREG_SOA_DIR", T_STR, NULL, 0, 0, OFF(soa_dir),
                     "DIR", "yelpsoa-configs root", check_nonempty, 0, SETTINGS_RELOADABLE},
    [SET_ADMIN_ALLOW] = {"admin-allow", "admin_allow", NULL, T_LIST, NULL, 0, 0, OFF(admin_allow),
                         "CIDR,...", "peers allowed to drain/undrain (default loopback only)",
                         check_cidr, ',', SETTINGS_RESTART},
    [SET_GRACE_SECONDS] = {"grace-seconds", "grace_seconds", NULL, T_INT, "30", 0, 86400,
                           OFF(grace_seconds), "N", "wrapper mode: SIGTERM -> SIGKILL of the app",
                           NULL, 0, SETTINGS_RELOADABLE},
    [SET_ADAPTIVE_DRAIN] = {"adaptive-drain", "adaptive_drain", NULL, T_BOOL, "false", 0, 0,
                            OFF(adaptive_drain), NULL,
                            "end the drain window early once every polling LB saw it", NULL, 0,
                            SETTINGS_RELOADABLE},
    [SET_LOG_FORMAT] = {"log-format", "log_format", NULL, T_STR, "text", 0, 0, OFF(log_format),
                        "text|json", "log format", check_log_format, 0, SETTINGS_RESTART},
    /* The backend keeps the etc dir it started with for its topology files. */
    [SET_ETC_DIR] = {"etc-dir", "etc_dir", "MESHREG_ETC_DIR", T_STR, "/nail/etc", 0, 0,
                     OFF(etc_dir), "DIR",
                     "PaaSTA host layout: DIR/<location type>, DIR/services/location_*.json",
                     check_nonempty, 0, SETTINGS_RESTART},
    [SET_LABELS_DIR] = {"labels-dir", "labels_dir", NULL, T_STR, "/etc/nerve/labels.d", 0, 0,
                        OFF(labels_dir), "DIR", "custom record labels (nerve-tools' files)",
                        check_nonempty, 0, SETTINGS_RELOADABLE},
    [SET_ZK_LOCATION_TYPE] = {"zk-location-type", "zk_location_type", NULL, T_STR, "superregion", 0,
                              0, OFF(zk_location_type), "TYPE",
                              "location type that picks a ZooKeeper cluster", check_name, 0,
                              SETTINGS_RELOADABLE},
    /* The zk backend names its nodes one way for its whole session. */
    [SET_ZK_PATH_ENCODING] = {"zk-path-encoding", "zk_path_encoding", NULL, T_BOOL, "false", 0, 0,
                              OFF(zk_path_encoding), NULL,
                              "zk: child names carry the record (nerve's use_path_encoding)", NULL,
                              0, SETTINGS_RESTART},
    /* The registry's pacing is set once, when it is created. */
    [SET_BACKEND_MAX_OPS] = {"backend-max-ops-per-second", "backend_max_ops_per_second", NULL,
                             T_INT, "5000", 0, 1000000, OFF(backend_max_ops), "N",
                             "pace backend writes and deletes (0 = unpaced)", NULL, 0,
                             SETTINGS_RESTART},
    [SET_HACHECK_LIVE] = {"hacheck-live", "hacheck_live", NULL, T_STR, "on", 0, 0,
                          OFF(hacheck_live), "on|off",
                          "check hacheck routes for ports meshreg does not probe live",
                          check_on_off, 0, SETTINGS_RELOADABLE},
    [SET_BACKEND_USER] = {"backend-user", "backend_user", NULL, T_STR, NULL, 0, 0,
                          OFF(backend_user), "USER",
                          "etcd RBAC user / ZooKeeper digest identity (needs "
                          "--backend-password-file)",
                          check_nonempty, 0, SETTINGS_RELOADABLE},
    [SET_BACKEND_PASSWORD_FILE] = {"backend-password-file", "backend_password_file", NULL, T_STR,
                                   NULL, 0, 0, OFF(backend_password_file), "FILE",
                                   "the user's password (one line; re-read on SIGHUP)",
                                   check_nonempty, 0, SETTINGS_RELOADABLE},
    /* Nodes keep the ACL they were created with for the session. */
    [SET_ZK_ACL] = {"zk-acl", "zk_acl", NULL, T_STR, "open", 0, 0, OFF(zk_acl), "open|protected",
                    "zk: ACL of created nodes (protected: world reads, only our identity writes)",
                    check_zk_acl, 0, SETTINGS_RESTART},
    [SET_BACKEND_INSECURE_AUTH] = {"backend-insecure-auth", "backend_insecure_auth", NULL, T_BOOL,
                                   "false", 0, 0, OFF(backend_insecure_auth), NULL,
                                   "allow a password over plain etcd:// to a non-loopback host",
                                   NULL, 0, SETTINGS_RELOADABLE},
    [SET_WORKER] = {"worker", "worker", NULL, T_BOOL, "false", 0, 0, OFF(worker), NULL,
                    "register nothing, read no smartstack.yaml (silences the warning a "
                    "missing default ./smartstack.yaml gives)",
                    NULL, 0, SETTINGS_RELOADABLE},
    [SET_MIN_DRAIN_SECONDS] =
        {"min-drain-seconds", "min_drain_seconds", NULL, T_INT, "10", 0, 86400,
         OFF(min_drain_seconds), "N",
         "with a discovery backend (not file:), the earliest an adaptive drain ends", NULL, 0,
         SETTINGS_RELOADABLE},
    /* The TLS context is made when the backend starts; SIGHUP re-reads the files. */
    [SET_BACKEND_CACERT] = {"backend-cacert", "backend_cacert", NULL, T_STR, NULL, 0, 0,
                            OFF(backend_cacert), "FILE",
                            "etcds://: CA certificates to verify the server (default: system's)",
                            check_nonempty, 0, SETTINGS_RESTART},
    [SET_BACKEND_CERT] = {"backend-cert", "backend_cert", NULL, T_STR, NULL, 0, 0,
                          OFF(backend_cert), "FILE", "etcds://: client certificate (PEM)",
                          check_nonempty, 0, SETTINGS_RESTART},
    [SET_BACKEND_KEY] = {"backend-key", "backend_key", NULL, T_STR, NULL, 0, 0, OFF(backend_key),
                         "FILE", "etcds://: the client certificate's key (PEM)", check_nonempty,
                         0, SETTINGS_RESTART},
};

/* ---- validators ---- */

/* What goes into every record as the address: an IP address or a DNS name
 * (RFC 1123 labels; '_' tolerated as some internal zones use it). */
static int check_host(const char *v, char *why, size_t len)
{
    unsigned char a[sizeof(struct in6_addr)];
    if (!*v) {
        snprintf(why, len, "must not be empty");
        return -1;
    }
    if (inet_pton(AF_INET, v, a) == 1 || inet_pton(AF_INET6, v, a) == 1)
        return 0;
    size_t n = strlen(v), label = 0;
    bool ok = n <= 253;
    for (size_t i = 0; ok && i < n; i++) {
        char c = v[i];
        if (c == '.') {
            ok = label > 0 && v[i - 1] != '-';
            label = 0;
        } else if (isalnum((unsigned char)c) || c == '_' || (c == '-' && label > 0)) {
            ok = ++label <= 63;
        } else {
            ok = false;
        }
    }
    if (!ok || v[n - 1] == '-') {
        snprintf(why, len,
                 "'%s' is not an IP address or a hostname (letters, digits, '-' and '.'; "
                 "no spaces, no '/')",
                 v);
        return -1;
    }
    return 0;
}

static int check_nonempty(const char *v, char *why, size_t len)
{
    if (!*v) {
        snprintf(why, len, "must not be empty");
        return -1;
    }
    return 0;
}

bool settings_name_ok(const char *s)
{
    /* Names become path components under soa_dir: no '/', no leading '.'. */
    if (!*s || s[0] == '.')
        return false;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_-.", *c))
            return false;
    return true;
}

static int check_name(const char *v, char *why, size_t len)
{
    if (!settings_name_ok(v)) {
        snprintf(why, len, "'%s' is not a valid name (letters, digits, _ - . only)", v);
        return -1;
    }
    return 0;
}

static int check_registration(const char *v, char *why, size_t len)
{
    const char *dot = strchr(v, '.');
    if (!dot || dot == v || !dot[1]) {
        snprintf(why, len, "'%s' is not SERVICE.NAMESPACE", v);
        return -1;
    }
    char *svc = cmem_strndup(v, (size_t)(dot - v));
    bool ok = settings_name_ok(svc);
    free(svc);
    if (!ok) {
        snprintf(why, len, "'%s': invalid service name", v);
        return -1;
    }
    return 0;
}

static int check_backend(const char *v, char *why, size_t len)
{
    /* The scheme here; a single-cluster backend validates the rest itself. */
    return scheme_check(v, why, len);
}

static int check_admin(const char *v, char *why, size_t len)
{
    const char *colon = strrchr(v, ':');
    int port;
    char pwhy[128];
    if (!colon || colon == v) {
        snprintf(why, len, "'%s' is not ADDR:PORT", v);
        return -1;
    }
    if (settings_parse_int(colon + 1, 0, 65535, &port, pwhy, sizeof(pwhy)) < 0) {
        snprintf(why, len, "'%s': port %s", v, pwhy);
        return -1;
    }
    return 0;
}

static int check_cidr(const char *v, char *why, size_t len)
{
    /* The parser the admin endpoint uses: what passes here cannot fail there
     * (host bits below the prefix included). */
    struct netaddr_cidr c;
    char perr[128];
    if (netaddr_cidr_parse(v, &c, perr, sizeof(perr)) >= 0)
        return 0;
    snprintf(why, len, "'%s' is not an address or CIDR", v);
    return -1;
}

static int check_on_off(const char *v, char *why, size_t len)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0)
        return 0;
    snprintf(why, len, "'%s': want on or off", v);
    return -1;
}

static int check_zk_acl(const char *v, char *why, size_t len)
{
    if (strcmp(v, "open") == 0 || strcmp(v, "protected") == 0)
        return 0;
    snprintf(why, len, "'%s' is not one of: open, protected", v);
    return -1;
}

static int check_log_format(const char *v, char *why, size_t len)
{
    if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0)
        return 0;
    snprintf(why, len, "'%s' is not one of: text, json", v);
    return -1;
}

int settings_parse_int(const char *v, long min, long max, int *out, char *why, size_t whylen)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || isspace((unsigned char)*v) || *end || errno == ERANGE) {
        snprintf(why, whylen, "'%s' is not an integer", v);
        return -1;
    }
    if (n < min || n > max) {
        snprintf(why, whylen, "%ld is out of range %ld..%ld", n, min, max);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const t[] = {"1", "true", "yes", "on", NULL};
    static const char *const f[] = {"0", "false", "no", "off", NULL};
    for (int i = 0; t[i]; i++)
        if (strcasecmp(v, t[i]) == 0)
            return *out = true, 0;
    for (int i = 0; f[i]; i++)
        if (strcasecmp(v, f[i]) == 0)
            return *out = false, 0;
    return -1;
}

const char *settings_env(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return (*e)[n + 1] ? *e + n + 1 : NULL;
    return NULL;
}

/* ---- storing values ---- */

static void *field(struct settings *s, enum settings_id id)
{
    return (char *)s + defs[id].off;
}

static void list_clear(struct settings_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].value);
        free(l->items[i].origin);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void list_add(struct settings_list *l, const char *v, size_t vlen, const char *origin)
{
    struct settings_item *it = cmem_push(&l->items, &l->n, sizeof(*it));
    it->value = cmem_strndup(v, vlen);
    it->origin = cmem_strdup(origin);
}

/* Sets a scalar setting from text. `origin` prefixes messages ("--port",
 * "PAASTA_PORT", "FILE:L:C: port"). Returns -1 after reporting. */
static int set_text(struct settings *s, enum settings_id id, const char *v, const char *origin,
                    enum settings_src src, struct diag *d)
{
    const struct def *df = &defs[id];
    char why[300];
    switch (df->type) {
    case T_INT: {
        int n;
        if (settings_parse_int(v, df->min, df->max, &n, why, sizeof(why)) < 0) {
            diag_add(d, "%s: %s", origin, why);
            return -1;
        }
        *(int *)field(s, id) = n;
        break;
    }
    case T_BOOL: {
        bool b;
        if (parse_bool(v, &b) < 0) {
            diag_add(d, "%s: '%s' is not a boolean (true/false)", origin, v);
            return -1;
        }
        *(bool *)field(s, id) = b;
        break;
    }
    case T_STR:
        if (df->check && df->check(v, why, sizeof(why)) < 0) {
            diag_add(d, "%s: %s", origin, why);
            return -1;
        }
        free(*(char **)field(s, id));
        *(char **)field(s, id) = cmem_strdup(v);
        break;
    case T_LIST: {
        struct settings_list *l = field(s, id);
        int rc = 0;
        const char *p = v;
        for (;;) {
            const char *e = df->sep ? strchr(p, df->sep) : NULL;
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char *item = cmem_strndup(p, n);
            if (df->check && df->check(item, why, sizeof(why)) < 0) {
                diag_add(d, "%s: %s", origin, why);
                rc = -1;
            } else {
                list_add(l, item, n, origin);
            }
            free(item);
            if (!e)
                break;
            p = e + 1;
        }
        if (rc < 0)
            return -1;
        break;
    }
    }
    s->src[id] = src;
    free(s->origin[id]);
    s->origin[id] = cmem_strdup(origin);
    return 0;
}

static char *node_origin(const struct ytree_node *n)
{
    return cmem_printf("%s:%d:%d", n->file, n->line, n->col);
}

/* Sets a setting from a config file node, checking its YAML type first. */
static int set_node(struct settings *s, enum settings_id id, const struct ytree_node *key,
                    const struct ytree_node *n, struct diag *d)
{
    const struct def *df = &defs[id];
    const char *want = NULL;
    int rc = 0;
    switch (df->type) {
    case T_INT:
        if (!ytree_is_scalar(n, YTREE_INT))
            want = "integer";
        break;
    case T_BOOL:
        if (!ytree_is_scalar(n, YTREE_BOOL))
            want = "boolean";
        break;
    case T_STR:
        /* Our own file is lenient about plain scalars (`instance_id: 1234`). */
        if (n->kind != YTREE_SCALAR || n->stype == YTREE_NULL || n->stype == YTREE_BOOL)
            want = "string";
        break;
    case T_LIST:
        if (n->kind == YTREE_SEQ) {
            struct settings_list *l = field(s, id);
            list_clear(l);
            for (size_t i = 0; i < n->nitems; i++) {
                const struct ytree_node *it = n->items[i];
                char *o = node_origin(it), *o2 = cmem_printf("%s: %s", o, df->key);
                if (it->kind != YTREE_SCALAR || it->stype != YTREE_STR) {
                    diag_node(d, it, "%s: expected a list of strings, got %s in it", df->key,
                              ytree_type_name(it));
                    rc = -1;
                } else if (set_text(s, id, it->str, o2, SETTINGS_FILE, d) < 0) {
                    rc = -1;
                } else {
                    /* keep the bare position as the item origin */
                    free(l->items[l->n - 1].origin);
                    l->items[l->n - 1].origin = cmem_strdup(o);
                }
                free(o);
                free(o2);
            }
            if (rc == 0) {
                free(s->origin[id]);
                s->origin[id] = node_origin(n);
            }
            return rc;
        }
        if (!ytree_is_scalar(n, YTREE_STR))
            want = "list of strings";
        break;
    }
    if (want) {
        char desc[160];
        yschema_describe(n, desc, sizeof(desc));
        diag_node(d, n->kind == YTREE_SCALAR && n->stype == YTREE_NULL && !n->str[0] ? key : n,
                  "%s: expected %s, got %s", df->key, want, desc);
        return -1;
    }
    char *o = node_origin(n), *o2 = cmem_printf("%s: %s", o, df->key);
    if (df->type == T_LIST)
        list_clear(field(s, id));
    rc = set_text(s, id, df->type == T_BOOL ? (n->bval ? "true" : "false") : n->str, o2,
                  SETTINGS_FILE, d);
    if (rc == 0 && df->type == T_LIST) {
        struct settings_list *l = field(s, id);
        for (size_t i = 0; i < l->n; i++) {
            free(l->items[i].origin);
            l->items[i].origin = cmem_strdup(o);
        }
    }
    if (rc == 0) {
        free(s->origin[id]);
        s->origin[id] = cmem_strdup(o);
    }
    free(o);
    free(o2);
    return rc;
}

static int load_locations(struct settings *s, const struct ytree_node *n, struct diag *d)
{
    int rc = 0;
    if (n->kind != YTREE_MAP) {
        diag_node(d, n, "locations: expected a map of advertise type -> location, got %s",
                  ytree_type_name(n));
        return -1;
    }
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ytree_node *v = n->pairs[i].value;
        if (!ytree_is_scalar(v, YTREE_STR)) {
            diag_node(d, v, "locations.%s: expected string, got %s", n->pairs[i].key->str,
                      ytree_type_name(v));
            rc = -1;
            continue;
        }
        struct kv *l = cmem_push(&s->locations, &s->nlocations, sizeof(*l));
        l->key = cmem_strdup(n->pairs[i].key->str);
        l->value = cmem_strdup(v->str);
    }
    return rc;
}

static int load_file(struct settings *s, struct diag *d)
{
    if (ytree_load_file(s->config_file, &s->file_doc, d) < 0)
        return -1;
    const struct ytree_node *root = s->file_doc->root;
    if (!root)
        return 0; /* an empty config file sets nothing */
    if (root->kind != YTREE_MAP) {
        diag_node(d, root, "top level: expected a map of settings, got %s", ytree_type_name(root));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < root->npairs; i++) {
        const struct ytree_node *k = root->pairs[i].key, *v = root->pairs[i].value;
        int id = -1;
        for (int j = 0; j < SET_COUNT; j++)
            if (strcmp(defs[j].key, k->str) == 0)
                id = j;
        if (id >= 0) {
            if (set_node(s, (enum settings_id)id, k, v, d) < 0)
                rc = -1;
        } else if (strcmp(k->str, "locations") == 0) {
            if (load_locations(s, v, d) < 0)
                rc = -1;
        } else if (strcmp(k->str, "services") == 0) {
            s->services = v; /* validated by the VM-mode code */
        } else {
            diag_node(d, k, "unknown key '%s'", k->str);
            rc = -1;
        }
    }
    return rc;
}

/* ---- argv ---- */

struct flagval {
    enum settings_id id;
    const char *value; /* NULL: a bare boolean flag */
    char *name;        /* "--port" as written (without "=value") */
};

static int find_flag(const char *name, size_t len)
{
    for (int i = 0; i < SET_COUNT; i++)
        if (strlen(defs[i].flag) == len && strncmp(defs[i].flag, name, len) == 0)
            return i;
    return -1;
}

static int parse_argv(struct settings *s, int argc, char **argv, struct flagval **fv, size_t *nfv,
                      struct diag *d)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            int n = argc - i - 1;
            if (n == 0) {
                diag_add(d, "--: no app after it (wrapper mode is -- APP [ARGS...])");
                rc = -1;
            } else {
                s->app_argv = cmem_calloc((size_t)n + 1, sizeof(char *));
                for (int j = 0; j < n; j++)
                    s->app_argv[j] = cmem_strdup(argv[i + 1 + j]);
            }
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s->help = true;
            continue;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                diag_add(d, "%s: needs a value", a);
                rc = -1;
                continue;
            }
            free(s->config_file);
            s->config_file = cmem_strdup(argv[++i]);
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0 || (strncmp(a, "-c", 2) == 0 && a[2])) {
            free(s->config_file);
            s->config_file = cmem_strdup(a[1] == 'c' ? a + 2 : a + 9);
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            diag_add(d, "%s: unexpected argument (the app's command goes after --)", a);
            rc = -1;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int id = find_flag(name, len);
        if (id < 0) {
            diag_add(d, "--%.*s: unknown option (see --help)", (int)len, name);
            rc = -1;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!eq && defs[id].type != T_BOOL) {
            if (i + 1 >= argc) {
                diag_add(d, "--%s: needs a value", defs[id].flag);
                rc = -1;
                continue;
            }
            value = argv[++i];
        }
        struct flagval *f = cmem_push(fv, nfv, sizeof(*f));
        f->id = (enum settings_id)id;
        f->value = value;
        f->name = cmem_printf("--%s", defs[id].flag);
    }
    return rc;
}

/* ---- defaults computed from the machine ---- */

static char *first_ipv4(void)
{
    struct ifaddrs *ifs = NULL, *i;
    char buf[INET_ADDRSTRLEN] = "127.0.0.1";
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
                (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
            if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
                break;
        }
        freeifaddrs(ifs);
    }
    return cmem_strdup(buf);
}

static char *hostname(void)
{
    char buf[256];
    if (gethostname(buf, sizeof(buf)) < 0 || !buf[0])
        return cmem_strdup("localhost");
    buf[sizeof(buf) - 1] = '\0';
    return cmem_strdup(buf);
}

static void apply_defaults(struct settings *s)
{
    for (int id = 0; id < SET_COUNT; id++) {
        const struct def *df = &defs[id];
        if (!df->def)
            continue;
        switch (df->type) {
        case T_INT:
            *(int *)field(s, (enum settings_id)id) = atoi(df->def);
            break;
        case T_BOOL:
            *(bool *)field(s, (enum settings_id)id) = strcmp(df->def, "true") == 0;
            break;
        case T_STR:
            *(char **)field(s, (enum settings_id)id) = cmem_strdup(df->def);
            break;
        case T_LIST:
            break;
        }
        s->src[id] = SETTINGS_DEFAULT;
    }
}

int settings_load(struct settings *s, int argc, char **argv, char **envp, struct diag *d)
{
    struct flagval *fv = NULL;
    size_t nfv = 0;
    int rc = 0;
    s->envp = envp;
    apply_defaults(s);
    if (parse_argv(s, argc, argv, &fv, &nfv, d) < 0)
        rc = -1;
    if (s->help)
        goto out;
    if (s->config_file && load_file(s, d) < 0)
        rc = -1;
    for (int id = 0; id < SET_COUNT; id++) {
        const char *v = defs[id].env ? settings_env(envp, defs[id].env) : NULL;
        if (!v)
            continue;
        if (defs[id].type == T_LIST)
            list_clear(field(s, (enum settings_id)id));
        if (set_text(s, (enum settings_id)id, v, defs[id].env, SETTINGS_ENV, d) < 0)
            rc = -1;
    }
    /* Flags: a list flag given on the command line replaces lower sources. */
    bool cleared[SET_COUNT] = {false};
    for (size_t i = 0; i < nfv; i++) {
        enum settings_id id = fv[i].id;
        if (defs[id].type == T_LIST && !cleared[id]) {
            list_clear(field(s, id));
            cleared[id] = true;
        }
        if (set_text(s, id, fv[i].value ? fv[i].value : "true", fv[i].name, SETTINGS_FLAG, d) < 0)
            rc = -1;
    }
    if (!s->host)
        s->host = first_ipv4();
    if (!s->instance_id)
        s->instance_id = hostname();
out:
    for (size_t i = 0; i < nfv; i++)
        free(fv[i].name);
    free(fv);
    return rc;
}

const char *settings_location(const struct settings *s, const char *type)
{
    char name[128];
    int n = snprintf(name, sizeof(name), "MESHREG_LOCATION_");
    for (const char *c = type; *c && n + 1 < (int)sizeof(name); c++)
        name[n++] = (char)(isalnum((unsigned char)*c) ? toupper((unsigned char)*c) : '_');
    name[n] = '\0';
    const char *v = settings_env(s->envp, name);
    if (v)
        return v;
    for (size_t i = 0; i < s->nlocations; i++)
        if (strcmp(s->locations[i].key, type) == 0)
            return s->locations[i].value;
    return NULL;
}

enum settings_reload settings_reload_of(enum settings_id id)
{
    return defs[id].reload;
}

const char *settings_key(enum settings_id id)
{
    return defs[id].key;
}

char *settings_value_text(const struct settings *s, enum settings_id id)
{
    const void *v = (const char *)s + defs[id].off;
    switch (defs[id].type) {
    case T_STR:
        return cmem_strdup(*(char *const *)v ? *(char *const *)v : "");
    case T_INT:
        return cmem_printf("%d", *(const int *)v);
    case T_BOOL:
        return cmem_strdup(*(const bool *)v ? "true" : "false");
    case T_LIST:
        break;
    }
    const struct settings_list *l = v;
    char *out = cmem_strdup("");
    for (size_t i = 0; i < l->n; i++) {
        char *next = cmem_printf("%s%s%s", out, i ? "," : "", l->items[i].value);
        free(out);
        out = next;
    }
    return out;
}

void settings_usage(FILE *f)
{
    fprintf(f, "  -c, --config FILE          YAML config file; keys are the long option names\n"
               "                             in snake_case (drain_seconds: 30,\n"
               "                             registrations: [svc.main]), plus locations: and\n"
               "                             services: (VM mode)\n");
    for (int id = 0; id < SET_COUNT; id++) {
        const struct def *df = &defs[id];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", df->flag, df->metavar ? " " : "",
                 df->metavar ? df->metavar : "");
        fprintf(f, "  %-26s %s", left, df->help);
        if (df->env)
            fprintf(f, " [env %s]", df->env);
        if (df->def && df->type != T_BOOL)
            fprintf(f, " (default %s)", df->def);
        fputc('\n', f);
    }
    fprintf(f, "  -h, --help                 this text\n"
               "  -- APP ARGS...             wrapper mode: run APP as a child\n");
}

void settings_free(struct settings *s)
{
    if (!s)
        return;
    for (int id = 0; id < SET_COUNT; id++) {
        if (defs[id].type == T_STR) {
            free(*(char **)field(s, (enum settings_id)id));
            *(char **)field(s, (enum settings_id)id) = NULL;
        } else if (defs[id].type == T_LIST) {
            list_clear(field(s, (enum settings_id)id));
        }
        free(s->origin[id]);
        s->origin[id] = NULL;
    }
    free(s->config_file);
    for (size_t i = 0; i < s->nlocations; i++) {
        free(s->locations[i].key);
        free(s->locations[i].value);
    }
    free(s->locations);
    ytree_doc_free(s->file_doc);
    if (s->app_argv)
        for (char **a = s->app_argv; *a; a++)
            free(*a);
    free(s->app_argv);
    memset(s, 0, sizeof(*s));
}
