/* Everything the admin side (sidecar/admin/: the endpoint, its routes, /status, /metrics, the
 * agent-check) may know of the running sidecar, and the one interface through which it asks for
 * changes. The admin side includes this header, never sidecar/sidecar.h
 * (tests/e2e/code_layout.sh checks it), so the core can change its structs freely.
 *
 * The owner (sidecar.c; tests/admin_fixture.h in the unit tests) implements struct
 * admin_view_ops. Reading fills plain structs on demand, on the loop's thread; their strings
 * point into the owner's state and are valid until the loop runs again. Requests only record
 * intent (README "Drain sequence": a tick moves the drain machine) and return at once. */
#ifndef MESHREG_ADMIN_VIEW_H
#define MESHREG_ADMIN_VIEW_H

#include <stdbool.h>
#include <stddef.h>

/* The scope of a drain that covers every registration; any other scope is
 * one registration's "svc.ns" (README "Drains"). */
#define ADMIN_VIEW_ALL "all"

/* The longest drain reason and scope the sidecar keeps, in bytes. */
#define ADMIN_VIEW_REASON_MAX 127
#define ADMIN_VIEW_SCOPE_MAX 255

/* One admin drain in force. Times are Unix time (seconds). */
struct admin_view_spool {
    const char *scope;       /* "all" or "svc.ns" */
    const char *reason;      /* "" for none */
    double since;            /* when it started (a same-reason repeat keeps it) */
    double until;            /* when it ends by itself, 0 = never */
    double window_remaining; /* seconds left of the drain window it promises */
};

/* One check: a registration ("svc.ns" announced in the backend) or a
 * worker's check (probed for /health, nothing announced). */
struct admin_view_reg {
    const char *name;  /* "svc.ns" */
    bool registration; /* it announces a record (false: a worker's check) */
    const char *probe; /* probe kind: "http", "https", "tcp", "grpc", "cmd" */
    int probe_port;         /* the port it probes on loopback (0 for cmd) */
    const char *probe_path; /* http/https: the request target ("/status"), else NULL */

    /* probe state (rise/fall, README "Probes") */
    bool probed;                  /* at least one result seen */
    bool healthy;                 /* rise/fall says up */
    int passes_in_a_row;          /* consecutive passes while down */
    int failures_in_a_row;        /* consecutive failures while up */
    const char *last_result;      /* last probe outcome, for humans */
    bool last_pass;               /* last probe result */
    double last_at;               /* when it came (loop clock), 0 = never */
    unsigned long total_passes;   /* since start */
    unsigned long total_failures; /* since start */
    int interval_ms, rise, fall;  /* its configuration */

    /* what the sidecar makes of it */
    bool drained; /* an admin drain covers it (workers' checks: never) */
    struct admin_view_spool drain; /* that drain (scope NULL when not drained) */
    bool up;      /* healthy, not drained, not shutting down: the one rule
                   * behind the backend record, /health and the agent */

    /* the record (registrations only; else NULL and 0) */
    const char *host;
    int port;
    const char *node; /* "<instance_id>_<port>" */
};

/* The admin drain and the shutdown (README "Drain sequence"). */
struct admin_view_drain {
    const char *phase;       /* the drain machine's state: "running", "deregistering", ... */
    bool draining;           /* an admin drain or a shutdown is in force */
    bool shutting_down;      /* SIGTERM/SIGINT (or the app exited) */
    bool drained;            /* an admin drain of scope "all" is in force */
    const char *reason;      /* its reason ("" for none) */
    double expires_in;       /* seconds until it ends by itself, 0 = never or none */
    double window_remaining; /* seconds left in the latest window a drain promises
                              * (the shutdown's, else the longest admin drain's) */
    size_t drains;           /* admin drains in force, of any scope */
    double drain_seconds;    /* the configured window */
};

/* The discovery backend's connection and counters: of the whole backend
 * (ops->backend: for smartstack the worst cluster's state and the sums), or
 * of one of its clusters (ops->cluster, README "Backends"). */
struct admin_view_backend {
    const char *name; /* the cluster: "" for a single-cluster backend's one store,
                       * the location for smartstack; NULL for the whole backend */
    bool multi_cluster; /* smartstack: the clusters come from placements */
    size_t clusters;    /* the whole backend: how many clusters ops->cluster numbers */
    const char *uri;
    const char *type;  /* "file", "zk", "etcd", "smartstack" */
    const char *state; /* "connecting", "connected", "disconnected" */
    bool connected;
    const char *detail;
    const char *last_error;
    size_t pending; /* records not yet confirmed */
    unsigned long ops_ok, ops_failed;
    /* What is wrong, named (README "Backend credentials"): NULL when nothing, else
     * "cannot connect", "TLS failed", "not authenticated" or "permission denied". */
    const char *problem;
    double tls_cert_expires; /* etcds:// client certificate's notAfter (unix time), 0 = none */
};

/* The probe scheduler's load (README "Probes under load"). */
struct admin_view_probes {
    double lag_seconds;     /* how late attempts start, the last ~10 s */
    double lag_max_seconds; /* the same since start */
    unsigned in_flight;     /* attempts running */
    unsigned waiting;       /* attempts due, waiting for a slot */
    unsigned long late;     /* attempts that started more than 1 s late, since start */
};

/* The whole process. */
struct admin_view_state {
    unsigned long generation; /* moves on every change that /health shows */
    double now;               /* the loop's clock, Unix time in seconds */
    double uptime;            /* seconds since start */
    bool watches_polls;       /* --adaptive-drain: report pollers with ops->polled */
    bool hacheck_live;        /* --hacheck-live: check unprobed hacheck routes live */
    struct admin_view_drain drain;
    struct admin_view_probes probes;
};

/* A histogram as /metrics prints it: counts[i] observations <= bounds[i]
 * (not cumulative), counts[nbounds] above the last bound. */
struct admin_view_hist {
    const double *bounds;
    size_t nbounds;
    const unsigned long *counts; /* nbounds + 1 */
    unsigned long count;
    double sum;
};

/* Probe attempts of one kind, over every check of that kind (per kind, not
 * per registration: 10,000 registrations must not make a huge scrape). */
struct admin_view_probe_kind {
    const char *kind; /* "http", "tcp", ... */
    unsigned long pass, fail, timeout;
    struct admin_view_hist duration; /* seconds */
};

/* Backend operations of one kind. */
struct admin_view_backend_op {
    const char *op; /* "put", "delete" */
    unsigned long ok, failed;
    struct admin_view_hist duration; /* seconds, issued to confirmed or failed */
};

#define ADMIN_VIEW_PROBE_KINDS 8

/* Counters for /metrics and /status: costlier than state(), read only there. */
struct admin_view_stats {
    struct admin_view_probe_kind kinds[ADMIN_VIEW_PROBE_KINDS];
    size_t nkinds;
    struct admin_view_backend_op backend_ops[2];
    /* SIGHUP reloads */
    unsigned long reloads_ok, reloads_rejected;
    unsigned long config_generation; /* 1 at start, +1 per accepted reload */
    const char *last_reload;         /* "none", "ok", "rejected" */
    const char *last_reload_error;   /* why the last one was rejected ("" if it was not) */
    double last_reload_at;           /* Unix time, 0 = never */
};

struct admin_drain_request {
    const char *scope;  /* ADMIN_VIEW_ALL or a registration's name */
    const char *reason; /* "" for none */
    double expires_s;   /* the drain ends by itself after this long; 0 = never */
    double until;       /* or at this Unix time (wins over expires_s); 0 = never */
    double since;       /* hacheck's `creation`: its start, 0 = now */
};

/* A drain as the answer to a request reports it (copies: no lifetime). */
struct admin_drain_info {
    char scope[ADMIN_VIEW_SCOPE_MAX + 1];
    char reason[ADMIN_VIEW_REASON_MAX + 1];
    double since, until, window_remaining;
};

/* What a drain or undrain request did. */
struct admin_drain_result {
    int status;       /* 200 done; 404 no registration has that name; 500 out of memory */
    bool replaced;    /* drain: one of that scope was in force; undrain: one was ended */
    struct admin_drain_info old; /* that one (when replaced) */
    struct admin_drain_info now; /* drain: the drain now in force */
};

struct admin_view_ops {
    /* ---- reading ---- */
    /* Cheap: /health and the agent read it on every poll. */
    void (*state)(const void *owner, struct admin_view_state *out);
    /* Costs a walk over the records: for /status and /metrics. */
    void (*backend)(const void *owner, struct admin_view_backend *out);
    /* Cluster c (0..backend.clusters-1), the same way. */
    void (*cluster)(const void *owner, size_t c, struct admin_view_backend *out);
    /* Checks are numbered 0..count-1 in configuration order; a number is
     * good until the loop runs again (a reload renumbers). */
    size_t (*count)(const void *owner);
    void (*reg)(const void *owner, size_t i, struct admin_view_reg *out);
    /* What check i probes, for humans: a URL, "host:port" or a command. */
    void (*target)(const void *owner, size_t i, char *buf, size_t len);
    /* The backend confirmed check i's record (a look-up among the records):
     * in every cluster it is placed in. */
    bool (*registered)(const void *owner, size_t i);
    /* The clusters check i is placed in (0: a registration placed nowhere,
     * or a worker's check), and for the j-th its name and whether it
     * confirmed the record. */
    size_t (*placements)(const void *owner, size_t i);
    void (*placement)(const void *owner, size_t i, size_t j, const char **cluster,
                      bool *registered);
    /* The number of the check called name[0..len), or false. */
    bool (*find)(const void *owner, const char *name, size_t len, size_t *i);
    /* Counters: probe durations and outcomes per kind, backend operations,
     * reloads (for /metrics and /status). */
    void (*stats)(const void *owner, struct admin_view_stats *out);
    /* Admin drains in force, numbered 0..drains-1 (state().drain.drains). */
    void (*drain_at)(const void *owner, size_t i, struct admin_view_spool *out);

    /* ---- requests ---- */
    void (*drain)(void *owner, const struct admin_drain_request *r,
                  struct admin_drain_result *out);
    void (*undrain)(void *owner, const char *scope, struct admin_drain_result *out);
    /* Reload the configuration as SIGHUP does (ignored during shutdown). */
    void (*reload)(void *owner);
    /* A load balancer at peer polled /health or the agent port and was
     * answered draining or not (only while watches_polls). */
    void (*polled)(void *owner, const char *peer, bool answered_draining);
};

/* What the admin side holds: copied by value into each user. */
struct admin_view {
    const struct admin_view_ops *ops;
    void *owner;
};

#endif
