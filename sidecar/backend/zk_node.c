/* The znodes of the ZooKeeper backend (zk_node.h).
 *
 * A record is an ephemeral sequential node ROOT/<svc.ns>/PREFIX<10 digits>
 * (PREFIX from zk_name.h), as nerve creates it. Its path is only known from
 * the create's reply, so it is kept here per record (struct zk_ent, the
 * entry's impl) and a change of data is a `set` on that path (with path
 * encoding, where the name carries the data, a new node, then the old one
 * deleted).
 *
 * A sequential create cannot be retried blindly: if its reply was lost (the
 * connection dropped while it was in flight), the node may exist, and a
 * second create would make a second backend. So we remember the data of
 * such a create and, before creating again, list the parent and read the
 * candidates (Curator's "protected mode" does the same with a GUID in the
 * name; nerve's names leave no room for one): a node with our prefix,
 * owned by our session, holding our data or the unconfirmed data, and not
 * another record's, is ours and is adopted. Several records of one process
 * can share a parent and a prefix (one service on two ports): their data
 * (host, port) tells them apart.
 *
 * The same listing finds this record's nodes left by another session, i.e.
 * an earlier run of this instance killed within its session timeout: a
 * record with our instance id ("name") and port, what a node's name said
 * before names were sequential (the weight or labels may differ). They are
 * deleted once our node is in place rather than left until their session
 * expires; at start-up (reg_clear) the core's delete of a record it never
 * put removes them before any probe passed. Nodes held by another session
 * of this process (another cluster on the same ensemble) are not
 * leftovers. Two live processes with the same instance id and port delete
 * each other's node; that is a configuration error.
 *
 * Every create of a record lists its parent first: one extra round trip per
 * registration, which also makes a restart find its leftovers. */
#include "sidecar/backend/zk_node.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/backend/zk_name.h"
#include "sidecar/log.h"

/* Per record, kept across operations (e->impl). */
struct zk_ent {
    char *path;    /* our node for this record in the current session, or NULL */
    char *at_path; /* the data we know is at path */
    char *unsure;  /* data of a create whose reply was lost, or NULL */
    char **doomed; /* nodes to delete: after ours is in place (put), or before done (del) */
    size_t ndoomed;
    struct zk_op *op; /* in flight, or NULL */
};

/* One operation of the core (a put or a delete) while in flight. It owns
 * copies of what it works on: the core may change e->data meanwhile. */
struct zk_op {
    struct zk_session *s;
    struct reg_entry *e; /* NULL once the core forgot the entry or we stopped */
    bool put;
    char *data; /* put: the record */
    size_t len;
    char *parent;        /* ROOT/<svc.ns> */
    char *prefix;        /* put: parent/<name prefix of data> */
    char *unsure_prefix; /* parent/<name prefix of the unconfirmed data>, or NULL */
    char *plain_prefix;  /* parent/<instance_id>_ */
    char **kids;         /* scan: candidates still to read */
    size_t nkids;
    bool scanned;      /* the parent was listed and every candidate read */
    char *found;       /* scan: our node */
    char *found_data;  /* ... and what it holds */
    bool settled;      /* our node holds the data (put) */
    bool made_parents; /* a create already retried after creating parents */
    struct zk_op *prev, *next;
};

static void put_continue(struct zk_op *op);
static void del_continue(struct zk_op *op);

bool zk_node_conn_error(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZCLOSING || rc == ZINVALIDSTATE || rc == ZSESSIONMOVED;
}

static int64_t our_session(const struct zk_session *s)
{
    return zoo_client_id(s->zh)->client_id;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- this process's sessions ---- */

/* One process, one thread: a static list (zk_node.h). */
static int64_t *live_sessions;
static size_t nlive;

void zk_node_session_up(int64_t id)
{
    int64_t *v = realloc(live_sessions, (nlive + 1) * sizeof(*v));
    if (!v)
        return; /* then that session's nodes only look like another process's */
    live_sessions = v;
    live_sessions[nlive++] = id;
}

void zk_node_session_down(int64_t id)
{
    for (size_t i = 0; i < nlive; i++) {
        if (live_sessions[i] == id) {
            live_sessions[i] = live_sessions[--nlive];
            break;
        }
    }
    if (nlive == 0) {
        free(live_sessions);
        live_sessions = NULL;
    }
}

static bool session_of_this_process(int64_t id)
{
    for (size_t i = 0; i < nlive; i++)
        if (live_sessions[i] == id)
            return true;
    return false;
}

/* ---- per-record state ---- */

static struct zk_ent *ent_of(struct reg_entry *e)
{
    if (!e->impl)
        e->impl = calloc(1, sizeof(struct zk_ent));
    return e->impl;
}

static void ent_clear(struct zk_ent *ent)
{
    free(ent->path);
    free(ent->at_path);
    free(ent->unsure);
    for (size_t i = 0; i < ent->ndoomed; i++)
        free(ent->doomed[i]);
    free(ent->doomed);
    ent->path = ent->at_path = ent->unsure = NULL;
    ent->doomed = NULL;
    ent->ndoomed = 0;
}

static bool ent_doom(struct zk_ent *ent, char *path)
{
    char **d = realloc(ent->doomed, (ent->ndoomed + 1) * sizeof(*d));
    if (!d)
        return false;
    ent->doomed = d;
    ent->doomed[ent->ndoomed++] = path;
    return true;
}

static bool ent_has(const struct zk_ent *ent, const char *path)
{
    if (ent->path && strcmp(ent->path, path) == 0)
        return true;
    for (size_t i = 0; i < ent->ndoomed; i++)
        if (strcmp(ent->doomed[i], path) == 0)
            return true;
    return false;
}

/* A node another record of ours knows as its own (or is deleting). */
static bool claimed_by_other(const struct zk_session *s, const struct reg_entry *self,
                             const char *path)
{
    for (const struct reg_entry *e = s->r->entries; e; e = e->next)
        if (e != self && e->impl && ent_has(e->impl, path))
            return true;
    return false;
}

static bool set_str(char **dst, const char *src, size_t len)
{
    char *copy = NULL;
    if (src && !(copy = strndup(src, len)))
        return false;
    free(*dst);
    *dst = copy;
    return true;
}

/* ---- operations ---- */

static void op_free(struct zk_op *op)
{
    struct zk_session *s = op->s;
    if (op->prev)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    if (op->e && op->e->impl)
        ((struct zk_ent *)op->e->impl)->op = NULL;
    for (size_t i = 0; i < op->nkids; i++)
        free(op->kids[i]);
    free(op->kids);
    free(op->data);
    free(op->parent);
    free(op->prefix);
    free(op->unsure_prefix);
    free(op->plain_prefix);
    free(op->found);
    free(op->found_data);
    free(op);
}

/* parent/<name prefix of data>: the path a create of data is made under. */
static char *full_prefix(const struct zk_op *op, const char *data)
{
    const char *key = op->e->node;
    char *name = zk_name_prefix(key, zk_name_id_len(key), data, data ? strlen(data) : 0,
                                op->s->path_encoding);
    char *out = NULL;
    if (name && asprintf(&out, "%s/%s", op->parent, name) < 0)
        out = NULL;
    free(name);
    return out;
}

static struct zk_op *op_new(struct zk_session *s, struct reg_entry *e, bool put)
{
    struct zk_ent *ent = ent_of(e);
    struct zk_op *op = ent ? calloc(1, sizeof(*op)) : NULL;
    if (!op)
        return NULL;
    op->s = s;
    op->e = e;
    op->put = put;
    bool ok = asprintf(&op->parent, "%s/%s", s->root, e->svc) >= 0;
    if (!ok)
        op->parent = NULL;
    if (ok && put) {
        op->len = strlen(e->data);
        ok = (op->data = strdup(e->data)) && (op->prefix = full_prefix(op, op->data));
    }
    if (ok && ent->unsure)
        ok = (op->unsure_prefix = full_prefix(op, ent->unsure)) != NULL;
    if (ok)
        ok = (op->plain_prefix = full_prefix(op, NULL)) != NULL;
    op->next = s->ops;
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    if (!ok) {
        op->e = NULL;
        op_free(op);
        return NULL;
    }
    ent->op = op;
    return op;
}

/* Ends the op and tells the core, unless the entry is gone or we stopped
 * (the core must not re-arm its retry timer after reg_stop). */
static void op_finish(struct zk_op *op, bool ok, const char *msg)
{
    struct zk_session *s = op->s;
    struct reg_entry *e = op->e;
    op_free(op);
    if (e && !s->stopped)
        reg_op_done(s->r, e, ok, msg);
}

static void op_fail(struct zk_op *op, const char *what, const char *path, int rc)
{
    char msg[320];
    if (rc == ZNOAUTH || rc == ZAUTHFAILED)
        snprintf(msg, sizeof(msg), "%s %s: permission denied: the node's ACL refuses %s%s%s",
                 what, path, op->s->r->auth_user ? "digest user " : "",
                 op->s->r->auth_user ? op->s->r->auth_user : "a client without an identity",
                 op->s->r->auth_user ? " (wrong password, or no right there)" : "");
    else
        snprintf(msg, sizeof(msg), "%s %s: %s", what, path, zerror(rc));
    op_finish(op, false, msg);
}

/* In a completion: the op, or NULL (and freed) if nobody waits for it. */
static struct zk_op *op_live(const void *data)
{
    struct zk_op *op = (struct zk_op *)data;
    if (!op->e || op->s->stopped || !op->s->zh) {
        op_free(op);
        return NULL;
    }
    return op;
}

static void op_next(struct zk_op *op)
{
    if (op->put)
        put_continue(op);
    else
        del_continue(op);
}

/* Checks a request was queued: fails the op if not, else has it sent. */
static void sent(struct zk_op *op, int rc, const char *what, const char *path)
{
    if (rc != ZOK)
        op_fail(op, what, path, rc);
    else
        op->s->kick(op->s);
}

/* ---- deleting doomed nodes ---- */

static void doomed_done(int rc, const void *data)
{
    struct zk_op *op = op_live(data);
    if (!op)
        return;
    struct zk_ent *ent = op->e->impl;
    char *path = ent->doomed[ent->ndoomed - 1];
    if (zk_node_conn_error(rc)) {
        op_fail(op, "delete", path, rc);
        return;
    }
    if (rc != ZOK && rc != ZNONODE)
        log_warn(op->e->svc, "zk: cannot delete %s: %s (left to its session)", path, zerror(rc));
    free(path);
    ent->ndoomed--;
    op_next(op);
}

static void delete_doomed(struct zk_op *op)
{
    struct zk_ent *ent = op->e->impl;
    const char *path = ent->doomed[ent->ndoomed - 1];
    sent(op, zoo_adelete(op->s->zh, path, -1, doomed_done, op), "delete", path);
}

/* ---- finding our node: list the parent, read the candidates ---- */

static void scan_next(struct zk_op *op);

/* Decides what a candidate is to this record; takes ownership of path. */
/* The record is this entry's: same instance id ("name") and port as the
 * registry key "<instance_id>_<port>", i.e. what the name of a node said
 * before names were sequential. Weight and labels may differ (an earlier
 * run with another configuration). */
static bool same_instance(const struct zk_op *op, const char *data, size_t n)
{
    const char *key = op->e->node;
    size_t idlen = zk_name_id_len(key);
    char *end = NULL;
    long port = key[idlen] ? strtol(key + idlen + 1, &end, 10) : 0;
    if (!end || *end || port <= 0)
        return false;
    json_t *j = json_loadb(data, n, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "name"));
    json_t *p = json_object_get(j, "port");
    bool same = name && strlen(name) == idlen && memcmp(name, key, idlen) == 0 &&
                json_is_integer(p) && json_integer_value(p) == port;
    json_decref(j);
    return same;
}

static bool scan_classify(struct zk_op *op, char *path, const char *value, int value_len,
                          const struct Stat *stat)
{
    struct zk_ent *ent = op->e->impl;
    size_t n = value_len > 0 ? (size_t)value_len : 0;
    bool is_data = op->data && n == op->len && memcmp(value, op->data, n) == 0;
    bool is_unsure = ent->unsure && n == strlen(ent->unsure) && memcmp(value, ent->unsure, n) == 0;
    bool doom = false;
    if (stat->ephemeralOwner == our_session(op->s)) {
        /* A create of ours whose reply was lost. With path encoding an old
         * record's node has the old name: it goes, a new one is made. */
        if ((is_data || (is_unsure && !op->s->path_encoding)) && op->put && !op->found) {
            op->found = path;
            op->found_data = strndup(value, n);
            log_info(op->e->svc, "zk: found our node %s (a create whose reply was lost)", path);
            path = NULL;
        } else if (is_data || is_unsure) {
            doom = true;
        }
    } else if (!session_of_this_process(stat->ephemeralOwner) &&
               (is_data || same_instance(op, value, n))) {
        log_info(op->e->svc, "zk: %s is our record left by session 0x%llx: deleting it", path,
                 (unsigned long long)stat->ephemeralOwner);
        doom = true;
    }
    bool ok = !doom || ent_doom(ent, path);
    if (doom && ok)
        path = NULL;
    free(path);
    return ok;
}

static void scan_got(int rc, const char *value, int value_len, const struct Stat *stat,
                     const void *data)
{
    struct zk_op *op = op_live(data);
    if (!op)
        return;
    char *path = op->kids[--op->nkids];
    if (rc == ZOK) {
        if (!scan_classify(op, path, value, value_len, stat)) {
            op_finish(op, false, "out of memory");
            return;
        }
    } else if (rc == ZNONODE) {
        free(path);
    } else {
        op_fail(op, "get", path, rc);
        free(path);
        return;
    }
    scan_next(op);
}

static void scan_next(struct zk_op *op)
{
    if (op->nkids == 0) {
        struct zk_ent *ent = op->e->impl;
        op->scanned = true;
        /* The listing settled the lost create: adopted, or never made. */
        free(ent->unsure);
        ent->unsure = NULL;
        op_next(op);
        return;
    }
    const char *path = op->kids[op->nkids - 1];
    sent(op, zoo_aget(op->s->zh, path, 0, scan_got, op), "get", path);
}

/* A child that may be ours: named for our record or the unconfirmed one,
 * or for this instance (the plain name, or an encoded name whose record is
 * this entry's: see same_instance). */
static bool is_candidate(const struct zk_op *op, const char *child)
{
    if ((op->prefix && zk_name_matches(child, base_name(op->prefix))) ||
        (op->unsure_prefix && zk_name_matches(child, base_name(op->unsure_prefix))) ||
        zk_name_matches(child, base_name(op->plain_prefix)))
        return true;
    size_t n = 0;
    char *rec = zk_name_decode(child, &n);
    bool mine = rec && same_instance(op, rec, n);
    free(rec);
    return mine;
}

static void scan_listed(int rc, const struct String_vector *kids, const void *data)
{
    struct zk_op *op = op_live(data);
    if (!op)
        return;
    if (rc == ZNONODE) {
        scan_next(op); /* no parent, no node: the create makes the parents */
        return;
    }
    if (rc != ZOK) {
        op_fail(op, "list", op->parent, rc);
        return;
    }
    struct zk_ent *ent = op->e->impl;
    for (int i = 0; i < kids->count; i++) {
        if (!is_candidate(op, kids->data[i]))
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", op->parent, kids->data[i]) < 0) {
            op_finish(op, false, "out of memory");
            return;
        }
        if (ent_has(ent, path) || claimed_by_other(op->s, op->e, path)) {
            free(path);
            continue;
        }
        char **k = realloc(op->kids, (op->nkids + 1) * sizeof(*k));
        if (!k) {
            free(path);
            op_finish(op, false, "out of memory");
            return;
        }
        op->kids = k;
        op->kids[op->nkids++] = path;
    }
    scan_next(op);
}

static void scan_start(struct zk_op *op)
{
    sent(op, zoo_aget_children(op->s->zh, op->parent, 0, scan_listed, op), "list", op->parent);
}

/* ---- put ---- */

static void put_create(struct zk_op *op);

static void ignore_done(int rc, const void *data)
{
}

static void parent_done(int rc, const char *value, const void *data)
{
    if (rc != ZOK && rc != ZNODEEXISTS && !zk_node_conn_error(rc))
        log_warn(NULL, "zk: cannot create a parent node: %s", zerror(rc));
}

/* Parents are created pipelined: ZooKeeper answers a session's requests in
 * order, so the node's own create, sent last, runs after all of them. */
static void put_make_parents(struct zk_op *op)
{
    op->made_parents = true;
    char *path = op->prefix;
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        int rc = zoo_acreate(op->s->zh, path, NULL, -1, op->s->parent_acl, ZOO_PERSISTENT,
                             parent_done, op->s);
        *p = '/';
        if (rc != ZOK) {
            op_fail(op, "create parent of", path, rc);
            return;
        }
    }
    put_create(op);
}

static void put_created(int rc, const char *value, const void *data)
{
    struct zk_op *op = op_live(data);
    if (!op)
        return;
    struct zk_ent *ent = op->e->impl;
    if (rc == ZOK) {
        free(ent->unsure);
        ent->unsure = NULL;
        if (!set_str(&ent->path, value, strlen(value)) ||
            !set_str(&ent->at_path, op->data, op->len)) {
            /* Unknown to us, the node would be a duplicate: drop it. */
            zoo_adelete(op->s->zh, value, -1, ignore_done, NULL);
            op_finish(op, false, "out of memory");
            return;
        }
        op->settled = true;
        log_debug(op->e->svc, "zk: created %s", value);
        put_continue(op);
    } else if (rc == ZNONODE && !op->made_parents) {
        put_make_parents(op);
    } else {
        if (!zk_node_conn_error(rc)) {
            free(ent->unsure); /* refused: nothing was made */
            ent->unsure = NULL;
        }
        op_fail(op, "create", op->prefix, rc);
    }
}

static void put_create(struct zk_op *op)
{
    struct zk_ent *ent = op->e->impl;
    if (!set_str(&ent->unsure, op->data, op->len)) {
        op_finish(op, false, "out of memory");
        return;
    }
    sent(op,
         zoo_acreate(op->s->zh, op->prefix, op->data, (int)op->len, op->s->node_acl,
                     ZOO_EPHEMERAL_SEQUENTIAL, put_created, op),
         "create", op->prefix);
}

/* A set or an existence check of our known node completed. */
static void put_checked(struct zk_op *op, int rc, bool wrote)
{
    struct zk_ent *ent = op->e->impl;
    if (rc == ZOK) {
        if (wrote && !set_str(&ent->at_path, op->data, op->len)) {
            op_finish(op, false, "out of memory");
            return;
        }
        op->settled = true;
        put_continue(op);
    } else if (rc == ZNONODE) {
        /* Deleted under us (not by this session): make it again. */
        log_warn(op->e->svc, "zk: our node %s is gone; creating it again", ent->path);
        free(ent->path);
        free(ent->at_path);
        ent->path = ent->at_path = NULL;
        put_continue(op);
    } else {
        op_fail(op, wrote ? "set" : "check", ent->path, rc);
    }
}

static void put_set_done(int rc, const struct Stat *stat, const void *data)
{
    struct zk_op *op = op_live(data);
    if (op)
        put_checked(op, rc, true);
}

static void put_exists_done(int rc, const struct Stat *stat, const void *data)
{
    struct zk_op *op = op_live(data);
    if (op)
        put_checked(op, rc, false);
}

/* Our node, known by path, takes the data: a set, or only a check that it
 * is still there when it already holds the data (a re-put). */
static void put_known(struct zk_op *op)
{
    struct zk_ent *ent = op->e->impl;
    if (ent->at_path && strcmp(ent->at_path, op->data) == 0) {
        sent(op, zoo_aexists(op->s->zh, ent->path, 0, put_exists_done, op), "check", ent->path);
        return;
    }
    sent(op, zoo_aset(op->s->zh, ent->path, op->data, (int)op->len, -1, put_set_done, op), "set",
         ent->path);
}

/* The steps of a put, each taken once its precondition holds: our node
 * (known, found by a scan, or created) holds the data, then whatever we
 * doomed is deleted. */
static void put_continue(struct zk_op *op)
{
    struct zk_ent *ent = op->e->impl;
    if (ent->path && zk_name_matches(base_name(ent->path), base_name(op->prefix))) {
        if (!op->settled)
            put_known(op);
        else if (ent->ndoomed)
            delete_doomed(op);
        else
            op_finish(op, true, NULL);
        return;
    }
    if (ent->path) {
        /* Path encoding and the record changed: a new node, then the old
         * one goes (so consumers never see none). */
        if (!ent_doom(ent, ent->path)) {
            op_finish(op, false, "out of memory");
            return;
        }
        ent->path = NULL;
        free(ent->at_path);
        ent->at_path = NULL;
    }
    if (!op->scanned) {
        scan_start(op);
    } else if (op->found) {
        ent->path = op->found;
        ent->at_path = op->found_data;
        op->found = op->found_data = NULL;
        op->settled = ent->at_path && strcmp(ent->at_path, op->data) == 0;
        put_continue(op);
    } else {
        put_create(op);
    }
}

/* ---- delete ---- */

static void del_done(int rc, const void *data)
{
    struct zk_op *op = op_live(data);
    if (!op)
        return;
    struct zk_ent *ent = op->e->impl;
    if (rc != ZOK && rc != ZNONODE) {
        op_fail(op, "delete", ent->path, rc);
        return;
    }
    free(ent->path);
    free(ent->at_path);
    ent->path = ent->at_path = NULL;
    del_continue(op);
}

/* Our node, anything doomed, and a create whose reply was lost: all gone. A
 * record never created in this session needs no request at all. */
static void del_continue(struct zk_op *op)
{
    struct zk_ent *ent = op->e->impl;
    if (ent->path)
        sent(op, zoo_adelete(op->s->zh, ent->path, -1, del_done, op), "delete", ent->path);
    else if (ent->ndoomed)
        delete_doomed(op);
    else if ((ent->unsure || op->e->leftover) && !op->scanned)
        scan_start(op);
    else
        op_finish(op, true, NULL);
}

/* ---- the backend's entry points ---- */

static struct zk_op *start_op(struct zk_session *s, struct reg_entry *e, bool put)
{
    if (strchr(e->svc, '/') || strchr(e->node, '/') || !*e->svc) {
        reg_op_done(s->r, e, false, "unsafe record name");
        return NULL;
    }
    if (!s->zh || !s->connected) {
        reg_op_done(s->r, e, false, "not connected");
        return NULL;
    }
    struct zk_op *op = op_new(s, e, put);
    if (!op)
        reg_op_done(s->r, e, false, "out of memory");
    return op;
}

void zk_node_put(struct zk_session *s, struct reg_entry *e)
{
    struct zk_op *op = start_op(s, e, true);
    if (op)
        put_continue(op);
}

void zk_node_del(struct zk_session *s, struct reg_entry *e)
{
    struct zk_op *op = start_op(s, e, false);
    if (op)
        del_continue(op);
}

void zk_node_forget(struct zk_session *s, struct reg_entry *e)
{
    struct zk_ent *ent = e->impl;
    if (!ent)
        return;
    if (ent->op)
        ent->op->e = NULL; /* its completion frees it */
    ent_clear(ent);
    free(ent);
    e->impl = NULL;
}

void zk_node_new_session(struct zk_session *s)
{
    for (struct reg_entry *e = s->r->entries; e; e = e->next)
        if (e->impl)
            ent_clear(e->impl);
}

void zk_node_end_all(struct zk_session *s, const char *why)
{
    while (s->ops) {
        struct zk_op *op = s->ops;
        if (op->e && !s->stopped)
            op_finish(op, false, why);
        else
            op_free(op);
    }
}
