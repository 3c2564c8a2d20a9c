/* The registry: what should be in the discovery backend, and the machinery
 * that makes the backend match it. The core (reg.c) keeps one entry per
 * record with its desired state and what the backend confirmed; it issues one
 * operation per entry at a time, retries failures with capped backoff, and
 * re-applies everything when a backend reports that its records were lost
 * (session expiry, lease gone). Backends only do I/O: each exports one
 * `const struct reg_ops` and reports completions with reg_op_done().
 *
 * Nothing here blocks: a backend that is down or slow leaves entries pending,
 * and probing and the admin endpoint carry on. */
#ifndef MESHREG_REG_H
#define MESHREG_REG_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "sidecar/backend/backoff.h"

struct reg;

struct reg_entry {
    char *svc;        /* "svc.ns": the directory / znode parent / key prefix */
    char *node;       /* "<instance_id>_<port>": the key (zk's node name is its own) */
    char *data;       /* record JSON while wanted, else NULL */
    bool want;        /* the record should exist */
    bool have;        /* the backend confirmed it exists (as of the last completed op) */
    bool busy;        /* an operation is in flight */
    bool dirty;       /* desired state not yet applied */
    bool issued_want; /* what the in-flight operation does (put or delete) */
    bool leftover;    /* reg_clear: a delete of something that may not exist */
    double issued_at; /* when the in-flight operation was issued (loop clock) */
    void *impl;       /* the backend's per-entry state, freed by the backend */
    struct reg_entry *next;
    /* the core's indexes (reg.c): list back link, hash chain, queue of
     * entries with an operation owed */
    struct reg_entry *prev, *hnext, *qnext;
    bool queued;
    bool ever; /* the backend confirmed it once */
};

/* Default of --backend-max-ops-per-second (README "Backend pacing"). */
#define REG_MAX_OPS_DEFAULT 5000

enum reg_conn { REG_CONNECTING, REG_CONNECTED, REG_DISCONNECTED };

/* Operations of one kind (put, delete) for /metrics: outcomes, and how long
 * each took from issue to confirmation or failure, in the buckets of
 * reg_lat_bounds (counts per bucket, last one above the last bound). */
#define REG_LAT_NBOUNDS 13
extern const double reg_lat_bounds[REG_LAT_NBOUNDS];
struct reg_op_stats {
    unsigned long ok, failed;
    unsigned long lat_counts[REG_LAT_NBOUNDS + 1];
    double lat_sum;
};

struct reg_ops {
    const char *name; /* URI scheme: "file", "zk", "etcd" */
    /* The records' readers are local processes that see a change at once
     * (file:), not discovery clients that learn of it through a watch or a
     * poll: no adaptive-drain floor is needed (README "Drain sequence"). */
    bool local_readers;
    /* A put that failed left nothing behind (file: renames last), so a record
     * withdrawn before any put succeeded needs no delete, and no wait for a
     * retry timer (zk/etcd: a failed create may still have happened). */
    bool failed_put_leaves_nothing;
    /* Parses the URI (whole, e.g. "zk://h:p/root") and sets r->impl. No I/O
     * that can block. */
    int (*init)(struct reg *r, const char *uri, char *err, size_t errlen);
    /* Starts connecting (non-blocking); reports via reg_set_conn(). */
    int (*start)(struct reg *r);
    /* Creates or overwrites e->data at (e->svc, e->node); completes with
     * reg_op_done(), possibly before returning. Only called when connected. */
    void (*put)(struct reg *r, struct reg_entry *e);
    /* Removes the record; a record already absent is success. */
    void (*del)(struct reg *r, struct reg_entry *e);
    /* Releases per-entry state before the core frees an entry (may be NULL). */
    void (*forget)(struct reg *r, struct reg_entry *e);
    /* Ends the session (zk close, etcd lease revoke) on the running loop;
     * bounded, best effort. Calls reg_stop_done() once finished, possibly
     * before returning. */
    void (*stop)(struct reg *r);
    void (*free)(struct reg *r);
    /* The credentials changed (reg_set_auth after start): use them now if
     * the backend can (may be NULL). */
    void (*reauth)(struct reg *r);
    /* SIGHUP: the TLS files (same paths) may hold new certificates: use
     * them from now on, on new connections (may be NULL). */
    void (*reload)(struct reg *r);
};

struct reg {
    const struct reg_ops *ops;
    struct ev_loop *loop;
    void *impl;
    char *uri;
    const char *cluster; /* the cluster's name in log lines (regset.h), NULL: the only one */
    int ttl_seconds;
    bool path_encoding; /* zk: child names carry the record (--zk-path-encoding); set before
                           reg_start */
    /* Credentials (README "Backend credentials"), set with reg_set_auth():
     * an etcd user / a ZooKeeper digest identity, NULL for none. */
    char *auth_user, *auth_password;
    bool zk_acl_protected; /* zk: world reads, only our identity writes */
    char *tls_cacert, *tls_cert, *tls_key; /* etcds:// files (reg_set_tls), NULL = default */
    double tls_cert_expires;               /* the client certificate's notAfter, 0 = none */
    struct reg_entry *entries;
    enum reg_conn conn;
    char conn_detail[192];
    char last_error[192];
    ev_timer retry;
    struct backoff backoff; /* of the retry timer (backoff.h) */
    bool flushing;
    bool stopped;   /* reg_stop() was called */
    bool stop_done; /* ... and the backend finished stopping */
    unsigned long ops_ok, ops_failed;
    struct reg_op_stats op_stats[2]; /* [0] put, [1] delete */
    /* Called whenever an entry's confirmed state or the connection changes. */
    void (*on_change)(void *arg);
    void *on_change_arg;
    /* the core's index and pacing (reg.c) */
    struct reg_entry **buckets; /* hashed (svc, node) */
    size_t nbuckets, nentries;
    struct reg_entry *q_head, *q_tail; /* operations owed, oldest first */
    double max_ops;                    /* per second; 0: unpaced */
    double tokens;
    ev_tstamp tokens_at;
    ev_timer pace; /* waits for a token, or a re-registration's jitter */
    bool was_connected;
    bool quiet_first;          /* the first put of each record is counted, not logged */
    unsigned long first_puts;  /* records put for the first time */
};

/* For the sidecar. */
struct reg *reg_new(struct ev_loop *loop, const char *uri, int ttl_seconds, char *err,
                    size_t errlen);
int reg_start(struct reg *r);
/* Desired state of one record: data != NULL puts it, NULL removes it.
 * Cheap when nothing changes; safe to call on every probe result. */
void reg_set(struct reg *r, const char *svc, const char *node, const char *data);
/* Makes sure a record we never put is absent (a leftover of an earlier run
 * of ours, e.g. after SIGKILL on the file: backend). Call once at start-up. */
void reg_clear(struct reg *r, const char *svc, const char *node);
/* Entries whose desired state is not yet confirmed by the backend. */
size_t reg_pending(const struct reg *r);
/* The backend confirmed this record exists. */
bool reg_present(const struct reg *r, const char *svc, const char *node);
const char *reg_conn_name(enum reg_conn c);
/* Starts ending the session (no further operations are issued); the
 * backend finishes on the running loop and on_change fires when it has. */
void reg_stop(struct reg *r);
/* True once the stop has finished. */
bool reg_stopped(const struct reg *r);
/* No adaptive-drain floor needed: see reg_ops.local_readers. */
bool reg_local_readers(const struct reg *r);
void reg_free(struct reg *r);
/* At most per_second operations a second (0: unpaced), README "Backend pacing". */
void reg_set_max_ops(struct reg *r, double per_second);
/* The identity the backend authenticates with (copied; the old password is
 * wiped). Before reg_start, or later (SIGHUP): a new password is used from
 * the next authentication (ZooKeeper: the next session). */
void reg_set_auth(struct reg *r, const char *user, const char *password, bool zk_acl_protected);
/* etcds:// CA file (NULL: system store) and client certificate + key; before reg_start. */
void reg_set_tls(struct reg *r, const char *cacert, const char *cert, const char *key);
/* SIGHUP: the backend reads its TLS files again and reconnects (ops->reload). */
void reg_reload(struct reg *r);
/* Checks a URI's syntax without creating anything (for `meshreg check`). */
int reg_validate_uri(const char *uri, char *err, size_t errlen);

/* For backends. reg_op_done may free e (a settled deletion is forgotten):
 * do not touch e after calling it. */
void reg_op_done(struct reg *r, struct reg_entry *e, bool ok, const char *errmsg);
void reg_set_conn(struct reg *r, enum reg_conn c, const char *detail);
/* The backend lost every record (session expired, lease gone): mark all
 * wanted entries for re-creation. */
void reg_resync(struct reg *r);
/* The backend finished stopping (see reg_ops.stop). */
void reg_stop_done(struct reg *r);

extern const struct reg_ops reg_file_ops;
extern const struct reg_ops reg_etcd_ops;
extern const struct reg_ops reg_zk_ops;

#endif
