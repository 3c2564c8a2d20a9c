/* The effective configuration of one meshreg process: global settings resolved
 * from flags > environment > config file > defaults, plus one check_spec per
 * thing to probe (a registration, or a worker's health probe).
 *
 * Everything here is plain data, owned by struct mr_config and freed by
 * config_free(). The sidecar layer never parses anything: it only reads this. */
#ifndef MESHREG_CONFIG_H
#define MESHREG_CONFIG_H

#include "config/probe_kind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/placement.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct location_db;

struct kv {
    char *key;
    char *value;
};

/* One probed thing. A registration (registered == true) is put in the backend
 * while up; a worker's check (registered == false) is only probed and reported. */
struct check_spec {
    char *name;        /* "svc.ns" for a registration, "svc.instance" for a worker */
    char *service;     /* PAASTA_SERVICE (name says whose namespace: "other.ns") */
    char *ns;          /* namespace in smartstack.yaml (NULL for a worker) */
    char *instance;    /* PAASTA_INSTANCE */
    bool registered;   /* false: worker, never put in the backend */
    char *host;        /* advertised address */
    int port;          /* advertised app port */
    char *instance_id; /* record "name" and node-name prefix */
    int weight;

    enum probe_kind probe;
    char *probe_host;   /* always "127.0.0.1" today */
    int probe_port;     /* healthcheck_port, default port */
    char *probe_uri;    /* http/https: healthcheck_uri; grpc: service name ("" = server) */
    char *probe_cmd;    /* cmd: /bin/sh -c argument */
    char *body_expect;  /* http: substring the body must contain, or NULL */
    struct kv *headers; /* extra_healthcheck_headers */
    size_t nheaders;
    int timeout_ms;  /* probe deadline */
    int interval_ms; /* probe period */
    int rise, fall;  /* consecutive passes / failures to flip state */
    int grace_ms;    /* worker: failures ignored for this long after start */
    char *smartstack_missing; /* worker only because this default smartstack.yaml
                                 is absent: start-up warns with the path */

    struct kv *labels; /* record labels ("region:uswest1-prod" -> ""): the union of
                          every placement's, what single-cluster backends write */
    size_t nlabels;

    struct placement_input place_in; /* what the placements are computed from */
    struct placement_set placements; /* README "Placements" */
};

/* Backend credentials and TLS files (config/creds.c). The password is read
 * from its file at every load (start, SIGHUP) and never printed. */
struct mr_backend_auth {
    char *user;                /* NULL: no authentication */
    char *password;            /* the file's content without its trailing newline */
    char *password_file;       /* where it came from (for messages) */
    bool zk_protected;         /* --zk-acl protected */
    bool insecure;             /* --backend-insecure-auth */
    char *cacert, *cert, *key; /* etcds:// files, NULL = system CAs / no client cert */
};

/* Global settings (one per process). */
struct mr_config {
    char *config_file; /* -c FILE, or NULL */
    char *backend;     /* backend URI, README "Backends" (a file: path made absolute) */
    char *backend_relative; /* the file: URI as given when it was relative, or NULL */
    char *admin_addr;  /* "ADDR:PORT" of the admin endpoint */
    int drain_seconds;
    int ttl_seconds;
    int agent_port;     /* 0 = off */
    char *state_dir;    /* NULL = off */
    char **admin_allow; /* CIDR strings; empty = loopback only */
    size_t nadmin_allow;
    int grace_seconds;
    bool adaptive_drain;
    bool hacheck_live;           /* --hacheck-live: live checks of unprobed hacheck routes */
    bool zk_path_encoding;       /* zk: child names carry the record */
    struct mr_backend_auth auth; /* README "Backend credentials" */
    int min_drain_seconds;       /* adaptive drain floor with a discovery backend */
    enum log_format log_format;

    struct check_spec *checks;
    size_t nchecks;

    char **app_argv; /* wrapper mode: NULL-terminated, or NULL */

    bool help;     /* --help/-h was given: nothing else was loaded */
    char *soa_dir; /* --soa-dir, or NULL */
    bool vm_mode;  /* the config file has a services: list */

    char *etc_dir;             /* --etc-dir: README "PaaSTA host layout" */
    char *labels_dir;          /* --labels-dir */
    char *zk_location_type;    /* --zk-location-type */
    int backend_max_ops;       /* --backend-max-ops-per-second, 0 = unpaced */
    struct location_db *locdb; /* the host's locations, never NULL after a load */
    /* "FILE:LINE:COL: warning: ..." lines (what PaaSTA accepts but meshreg
     * reads with a caveat), '\n'-separated, or NULL. */
    char *warnings;

    /* Config key -> value text of every restart-only setting as loaded
     * (config/settings.h SETTINGS_RESTART), in table order. */
    struct kv *restart_only;
    size_t nrestart_only;
};

/* Parses the options of `run`/`check` (argv excludes the subcommand word:
 * argv[0] is the first option; argc may be 0), the environment (envp, as
 * main's third argument: getenv is never called) and the files they name, and
 * validates everything. Options after "--" become app_argv.
 * With --help/-h, returns 0 with only cfg->help set (print config_usage()).
 * On error returns -1 with err holding every problem, one per line:
 * "FILE:LINE:COL: message" for file errors, "--flag: message" for flags,
 * "ENVVAR: message" for the environment; *out is untouched. */
int config_load(int argc, char **argv, char **envp, struct mr_config **out, char *err,
                size_t errlen);

/* For a reload: the config key of the next restart-only setting, from
 * index *i on, whose value differs between the running and the newly
 * loaded configuration; NULL when there is none left. */
const char *config_restart_changed(const struct mr_config *running, const struct mr_config *loaded,
                                   size_t *i);

/* Writes the effective registrations as `meshreg check` shows them. */
void config_print(FILE *f, const struct mr_config *cfg);

/* Writes the usage text of `run`/`check` options. */
void config_usage(FILE *f);

void config_free(struct mr_config *cfg);

/* True when two checks would probe and register exactly the same way (for
 * SIGHUP: an unchanged check keeps its state and its record). */
bool config_check_same(const struct check_spec *a, const struct check_spec *b);

#endif
