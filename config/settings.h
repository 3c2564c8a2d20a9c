/* Sidecar settings of `run`/`check`: one table row per option (flag, config
 * file key, environment variable, type, default, bounds), resolved with the
 * precedence flag > environment > config file > default. The instance config
 * (config/instance.c) slots in between environment and config file for the few
 * keys it carries: see SETTINGS_INSTANCE. */
#ifndef MESHREG_SETTINGS_H
#define MESHREG_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

struct diag;
struct ytree_doc;
struct ytree_node;

/* Where a value came from; a higher value wins. */
enum settings_src {
    SETTINGS_DEFAULT,
    SETTINGS_FILE,
    SETTINGS_INSTANCE,
    SETTINGS_ENV,
    SETTINGS_FLAG
};

/* Whether SIGHUP applies a new value: the settings table's reload column
 * (pgbouncer's CF_NO_RELOAD). A SETTINGS_RESTART value is bound to an open
 * socket, a backend session or the process's set-up, keeps its running
 * value and is logged as needing a restart (README "Drain sequence").
 * 0 is no answer: every row of the table says which (test_settings). */
enum settings_reload { SETTINGS_RELOAD_UNSET, SETTINGS_RELOADABLE, SETTINGS_RESTART };

enum settings_id {
    SET_SMARTSTACK,
    SET_SERVICE,
    SET_INSTANCE,
    SET_REGISTRATION,
    SET_PORT,
    SET_HOST,
    SET_INSTANCE_ID,
    SET_BACKEND,
    SET_ADMIN,
    SET_DRAIN_SECONDS,
    SET_INTERVAL_MS,
    SET_RISE,
    SET_FALL,
    SET_WEIGHT,
    SET_TTL_SECONDS,
    SET_AGENT_PORT,
    SET_STATE_DIR,
    SET_INSTANCE_CONFIG,
    SET_SOA_DIR,
    SET_ADMIN_ALLOW,
    SET_GRACE_SECONDS,
    SET_ADAPTIVE_DRAIN,
    SET_LOG_FORMAT,
    SET_ETC_DIR,
    SET_LABELS_DIR,
    SET_ZK_LOCATION_TYPE,
    SET_ZK_PATH_ENCODING,
    SET_BACKEND_MAX_OPS,
    SET_HACHECK_LIVE,
    SET_BACKEND_USER,
    SET_BACKEND_PASSWORD_FILE,
    SET_ZK_ACL,
    SET_BACKEND_INSECURE_AUTH,
    SET_WORKER,
    SET_MIN_DRAIN_SECONDS,
    SET_BACKEND_CACERT,
    SET_BACKEND_CERT,
    SET_BACKEND_KEY,
    SET_COUNT
};

/* One element of a list setting, with where it was written (for messages:
 * "--registration" or "FILE:LINE:COL"). */
struct settings_item {
    char *value;
    char *origin;
};

struct settings_list {
    struct settings_item *items;
    size_t n;
};

struct settings {
    char *config_file;
    char *smartstack;
    char *service;
    char *instance;
    struct settings_list registrations;
    int port;
    char *host;
    char *instance_id;
    char *backend;
    char *admin;
    int drain_seconds;
    int interval_ms; /* 0 until set: the per-check default applies */
    int rise, fall;
    int weight;
    int ttl_seconds;
    int agent_port;
    char *state_dir;
    char *instance_config;
    char *soa_dir;
    struct settings_list admin_allow;
    int grace_seconds;
    bool adaptive_drain;
    char *log_format;
    char *hacheck_live; /* "on" or "off" */
    char *etc_dir;
    char *labels_dir;
    char *zk_location_type;
    bool zk_path_encoding;
    int backend_max_ops;
    char *backend_user; /* README "Backend credentials" */
    char *backend_password_file;
    char *zk_acl; /* "open" or "protected" */
    bool backend_insecure_auth;
    bool worker; /* --worker: registers nothing, reads no smartstack.yaml */
    int min_drain_seconds;
    char *backend_cacert, *backend_cert, *backend_key;

    enum settings_src src[SET_COUNT];
    char *origin[SET_COUNT]; /* where the winning value was written, for messages */

    /* Config-file-only keys. */
    struct kv *locations; /* advertise type -> location ("region" -> "uswest1-prod") */
    size_t nlocations;
    struct ytree_doc *file_doc;        /* the -c file, kept for `services:` */
    const struct ytree_node *services; /* VM mode list, or NULL */

    char **app_argv; /* after "--", NULL-terminated, or NULL */
    bool help;
    char **envp; /* not owned */
};

/* Parses argv (without the subcommand word), envp and the -c file into s.
 * Returns -1 after adding every problem to d. s must be zeroed. */
int settings_load(struct settings *s, int argc, char **argv, char **envp, struct diag *d);
void settings_free(struct settings *s);

/* Value of NAME in envp, or NULL; an empty value counts as unset. */
const char *settings_env(char **envp, const char *name);

/* Location of an advertise type ("region"): env MESHREG_LOCATION_<TYPE>
 * (uppercased) beats the config file's `locations:` map. NULL if unknown. */
const char *settings_location(const struct settings *s, const char *type);

enum settings_reload settings_reload_of(enum settings_id id);
/* The config file key of a setting ("ttl_seconds"). */
const char *settings_key(enum settings_id id);
/* The value of setting id in s as text, to compare two loads: an integer in
 * decimal, a boolean as true/false, a list joined with ',', "" when unset.
 * The caller frees it. */
char *settings_value_text(const struct settings *s, enum settings_id id);

/* Writes the usage text. */
void settings_usage(FILE *f);

/* Parses a decimal integer in [min, max] for flags/env; on failure writes why. */
int settings_parse_int(const char *v, long min, long max, int *out, char *why, size_t whylen);

/* True for a service/instance name that is safe as a path component. */
bool settings_name_ok(const char *s);

#endif
