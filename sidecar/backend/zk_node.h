/* The znodes of the ZooKeeper backend: one ephemeral sequential node per
 * record, found again after a lost reply rather than created twice
 * (README "Backends"). reg_zk.c owns the session and the event loop; this
 * module does the per-record requests on the handle it is given. */
#ifndef MESHREG_ZK_NODE_H
#define MESHREG_ZK_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <zookeeper/zookeeper.h>

#include "sidecar/backend/reg.h"

struct zk_op;

/* What the znode operations share with the session (reg_zk.c). */
struct zk_session {
    struct reg *r;
    zhandle_t *zh;      /* NULL while there is no handle */
    bool connected;     /* the handle has a live session right now */
    bool stopped;       /* reg_stop: no completion reaches the core any more */
    const char *root;   /* "/a/b", never a trailing '/' */
    bool path_encoding; /* names carry the record (zk_name.h) */
    struct zk_op *ops;  /* in flight */
    /* ACLs of the record nodes and of the parents we create (README
     * "Backend credentials": --zk-acl) */
    const struct ACL_vector *node_acl, *parent_acl;
    /* A request was queued: the session must ask the library what it wants. */
    void (*kick)(struct zk_session *s);
};

/* The reg_ops put/del/forget of the backend (reg.h): e->impl is this
 * module's per-record state. */
void zk_node_put(struct zk_session *s, struct reg_entry *e);
void zk_node_del(struct zk_session *s, struct reg_entry *e);
void zk_node_forget(struct zk_session *s, struct reg_entry *e);

/* A new session began: no node of the old one exists any more. */
void zk_node_new_session(struct zk_session *s);

/* The handle is closing: every operation in flight ends, reported to the
 * core as failed with why unless the session is stopped. */
void zk_node_end_all(struct zk_session *s, const char *why);

/* The sessions of this process (every zk backend of it, e.g. one per
 * cluster): a node one of them holds is never taken for a leftover of an
 * earlier run, even when two clusters share an ensemble. Up when a session
 * is established, down when its handle closes. */
void zk_node_session_up(int64_t id);
void zk_node_session_down(int64_t id);

/* True for the error codes of a lost or unusable connection: the request may
 * or may not have been applied. */
bool zk_node_conn_error(int rc);

#endif
