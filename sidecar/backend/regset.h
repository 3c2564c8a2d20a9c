/* The set of registries a process writes to: one struct reg per cluster
 * (README "Backends"). A single-cluster backend (file:, zk://, etcd://) is
 * one cluster named "" holding the backend of the URI. smartstack[:TYPE] has
 * one zk:// cluster per location registrations are placed in, its hosts read
 * from <etc_dir>/zookeeper_discovery/<TYPE>/<location>.yaml and its records
 * under /smartstack/global; every registration placed there shares its one
 * session.
 *
 * Each cluster is its own struct reg: its own connection, retries and
 * backoff, so one cluster down never holds the others back. */
#ifndef MESHREG_REGSET_H
#define MESHREG_REGSET_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "sidecar/backend/reg.h"

#define REGSET_SMARTSTACK_ROOT "/smartstack/global"

struct regset_cluster {
    char *name; /* the location it serves; "" for a single-cluster backend */
    struct reg *reg;
};

struct regset {
    struct ev_loop *loop;
    char *uri;
    char *etc_dir;      /* smartstack: the host layout */
    char *cluster_type; /* smartstack: zookeeper_discovery/<cluster_type>/; NULL otherwise */
    int ttl_seconds;
    char *auth_user, *auth_password; /* one identity for every cluster (regset_set_auth) */
    bool zk_acl_protected;
    char *tls_cacert, *tls_cert, *tls_key; /* etcds:// files (regset_set_tls) */
    /* Given to every cluster's reg, present and future (struct reg). */
    bool path_encoding;
    double max_ops;
    bool quiet_first;
    struct regset_cluster *v;
    size_t n;
    bool started, stopped;
    /* Given to every cluster's reg (see struct reg). */
    void (*on_change)(void *arg);
    void *on_change_arg;
};

/* The identity every cluster, present and future, authenticates with
 * (reg_set_auth). */
void regset_set_auth(struct regset *rs, const char *user, const char *password,
                     bool zk_acl_protected);

/* The etcds:// TLS files of every cluster (reg_set_tls); before start. */
void regset_set_tls(struct regset *rs, const char *cacert, const char *cert, const char *key);
/* SIGHUP: every cluster reads its TLS files again and reconnects (reg_reload). */
void regset_reload(struct regset *rs);

/* Checks a backend URI without creating anything (`meshreg check`). */
int regset_validate(const char *uri, char *err, size_t errlen);

/* A set for the URI. A single-cluster backend gets its one cluster now
 * (the URI's syntax is checked here); smartstack gets none until
 * regset_cluster() asks. etc_dir matters only for smartstack. */
struct regset *regset_new(struct ev_loop *loop, const char *uri, const char *etc_dir,
                          int ttl_seconds, char *err, size_t errlen);

/* --zk-path-encoding for every cluster, present and future; before
 * regset_start. */
void regset_set_path_encoding(struct regset *rs, bool on);

/* reg_set_max_ops for every cluster, present and future (each paced on
 * its own). */
void regset_set_max_ops(struct regset *rs, double per_second);
/* struct reg's quiet_first for every cluster, present and future. */
/* Called whenever a record's confirmed state or a connection changes, in
 * every cluster: those that exist now (a single-cluster backend's one is
 * made by regset_new) and those added later. */
void regset_set_on_change(struct regset *rs, void (*fn)(void *arg), void *arg);
void regset_set_quiet_first(struct regset *rs);
/* Records put for the first time, over every cluster. */
unsigned long regset_first_puts(const struct regset *rs);

/* True for smartstack: clusters come from locations. */
bool regset_multi(const struct regset *rs);

/* The cluster that serves location (ignored by a single-cluster backend),
 * created (and started, if the set is) on first use. Returns 1 with *out
 * set; 0 when smartstack has no topology file for it (err says which file:
 * skip the location, as nerve-tools does); -1 on a malformed topology file
 * or a failure (err says why). */
int regset_cluster(struct regset *rs, const char *location, struct reg **out, char *err,
                   size_t errlen);

/* Starts every cluster's connection (non-blocking). */
int regset_start(struct regset *rs);
/* Records not yet confirmed, over every cluster. */
size_t regset_pending(const struct regset *rs);
/* The cluster of a reg (for messages), or "" when not ours. */
const char *regset_name_of(const struct regset *rs, const struct reg *r);
/* Starts stopping every cluster on the running loop (reg_stop). */
void regset_stop(struct regset *rs);
/* True once regset_stop() was called and every cluster finished stopping. */
bool regset_stopped(const struct regset *rs);
/* True when every cluster's readers are local (file:): no adaptive-drain
 * floor is needed (README "Drain sequence"). Never for smartstack. */
bool regset_local_readers(const struct regset *rs);
void regset_free(struct regset *rs);

#endif
