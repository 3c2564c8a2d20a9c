/* The registry core: desired state per record, one operation in flight per
 * record, retries with capped backoff, re-application after a backend lost
 * its records. See reg.h for the contract with backends. */
#include "sidecar/backend/reg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/scheme.h"
#include "sidecar/log.h"

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0

/* The ops of each single-cluster scheme of config/scheme.h's table; a
 * multi-cluster scheme has none here (regset.c builds its clusters). */
static const struct reg_ops *const ops_by_scheme[SCHEME_COUNT] = {
    [SCHEME_FILE] = &reg_file_ops,
    [SCHEME_ZK] = &reg_zk_ops,
    [SCHEME_ETCD] = &reg_etcd_ops,
};

static const struct reg_ops *find_backend(const char *uri)
{
    const struct scheme *s = scheme_find(uri);
    return s ? ops_by_scheme[s->kind] : NULL;
}

/* "zk" or "zk cluster norcal-prod": which backend a log line is about. */
static const char *where(const struct reg *r, char *buf, size_t len)
{
    if (!r->cluster)
        return r->ops->name;
    snprintf(buf, len, "%s cluster %s", r->ops->name, r->cluster);
    return buf;
}

static void notify(struct reg *r)
{
    if (r->on_change)
        r->on_change(r->on_change_arg);
}

static void entry_free(struct reg *r, struct reg_entry *e)
{
    if (r->ops->forget)
        r->ops->forget(r, e);
    free(e->svc);
    free(e->node);
    free(e->data);
    free(e);
}

/* Drops entries that are settled and absent: nothing to remember. */
static void prune(struct reg *r)
{
    struct reg_entry **pp = &r->entries;
    while (*pp) {
        struct reg_entry *e = *pp;
        if (!e->want && !e->have && !e->busy && !e->dirty) {
            *pp = e->next;
            entry_free(r, e);
        } else {
            pp = &e->next;
        }
    }
}

/* Issues an operation for every entry that needs one. Backends may complete
 * synchronously (reg_op_done inside put/del), which re-marks entries; the
 * loop runs until a pass issues nothing. */
static void flush(struct reg *r)
{
    if (r->flushing || r->conn != REG_CONNECTED || ev_is_active(&r->retry))
        return;
    r->flushing = true;
    bool issued;
    do {
        issued = false;
        for (struct reg_entry *e = r->entries; e; e = e->next) {
            if (e->busy || !e->dirty)
                continue;
            e->dirty = false;
            e->busy = true;
            e->issued_want = e->want;
            e->issued_at = ev_now(r->loop);
            issued = true;
            if (e->want)
                r->ops->put(r, e);
            else
                r->ops->del(r, e);
            if (r->conn != REG_CONNECTED || ev_is_active(&r->retry))
                break;
        }
    } while (issued && r->conn == REG_CONNECTED && !ev_is_active(&r->retry));
    r->flushing = false;
    prune(r);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reg *r = w->data;
    ev_timer_stop(loop, w);
    flush(r);
}

static struct reg_entry *find_entry(const struct reg *r, const char *svc, const char *node)
{
    for (struct reg_entry *e = r->entries; e; e = e->next)
        if (strcmp(e->svc, svc) == 0 && strcmp(e->node, node) == 0)
            return e;
    return NULL;
}

int reg_validate_uri(const char *uri, char *err, size_t errlen)
{
    const struct reg_ops *ops = find_backend(uri);
    if (!ops) {
        const struct scheme *s = scheme_find(uri);
        if (s)
            snprintf(err, errlen, "backend \"%s\": %s is not a single store", uri, s->syntax);
        else
            snprintf(err, errlen, "backend \"%s\": unknown scheme (use %s)", uri,
                     SCHEME_HELP_ALL);
        return -1;
    }
    /* The backend's own parser decides; nothing is started. */
    struct reg r = {.ops = ops, .loop = ev_default_loop(0), .ttl_seconds = 10};
    if (ops->init(&r, uri, err, errlen) != 0)
        return -1;
    ops->free(&r);
    return 0;
}

struct reg *reg_new(struct ev_loop *loop, const char *uri, int ttl_seconds, char *err,
                    size_t errlen)
{
    const struct reg_ops *ops = find_backend(uri);
    if (!ops) {
        reg_validate_uri(uri, err, errlen);
        return NULL;
    }
    struct reg *r = calloc(1, sizeof(*r));
    if (!r || !(r->uri = strdup(uri))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->ops = ops;
    r->loop = loop;
    r->ttl_seconds = ttl_seconds;
    r->conn = REG_CONNECTING;
    r->backoff = BACKOFF_MIN;
    ev_timer_init(&r->retry, retry_cb, 0, 0);
    r->retry.data = r;
    if (ops->init(r, uri, err, errlen) != 0) {
        free(r->uri);
        free(r);
        return NULL;
    }
    return r;
}

int reg_start(struct reg *r)
{
    return r->ops->start(r);
}

void reg_set(struct reg *r, const char *svc, const char *node, const char *data)
{
    if (r->stopped)
        return;
    struct reg_entry *e = find_entry(r, svc, node);
    bool want = data != NULL;
    if (!e) {
        if (!want)
            return;
        e = calloc(1, sizeof(*e));
        if (!e || !(e->svc = strdup(svc)) || !(e->node = strdup(node))) {
            if (e)
                free(e->svc);
            free(e);
            log_error(svc, "out of memory: cannot track record %s", node);
            return;
        }
        e->next = r->entries;
        r->entries = e;
    }
    bool same_data = want && e->data && strcmp(e->data, data) == 0;
    if (e->want == want && (!want || same_data))
        return;
    char *copy = NULL;
    if (want && !same_data) {
        if (!(copy = strdup(data))) {
            log_error(svc, "out of memory: cannot update record %s", node);
            return;
        }
    }
    if (want) {
        if (!same_data) {
            free(e->data);
            e->data = copy;
        }
    } else {
        free(e->data);
        e->data = NULL;
    }
    e->want = want;
    /* A leftover's have = true only meant "a delete is owed"; nothing of
     * ours is confirmed in the backend yet. */
    if (e->leftover)
        e->have = false;
    e->leftover = false;
    e->dirty = true;
    flush(r);
}

void reg_clear(struct reg *r, const char *svc, const char *node)
{
    if (r->stopped || find_entry(r, svc, node))
        return;
    struct reg_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->svc = strdup(svc)) || !(e->node = strdup(node))) {
        if (e)
            free(e->svc);
        free(e);
        return;
    }
    /* have = true: we do not know it is absent, so the delete is owed. */
    e->have = true;
    e->leftover = true;
    e->dirty = true;
    e->next = r->entries;
    r->entries = e;
    flush(r);
}

size_t reg_pending(const struct reg *r)
{
    size_t n = 0;
    for (const struct reg_entry *e = r->entries; e; e = e->next)
        if (e->dirty || e->busy || e->want != e->have)
            n++;
    return n;
}

bool reg_present(const struct reg *r, const char *svc, const char *node)
{
    const struct reg_entry *e = find_entry(r, svc, node);
    return e && e->have;
}

const char *reg_conn_name(enum reg_conn c)
{
    switch (c) {
    case REG_CONNECTING:
        return "connecting";
    case REG_CONNECTED:
        return "connected";
    case REG_DISCONNECTED:
        return "disconnected";
    }
    return "?";
}

/* A failed entry goes to the back of the queue: the next attempt serves
 * the others first, so one record that keeps failing (a name the backend
 * refuses) never starves the rest, deregistrations in a drain included. */
static void requeue_last(struct reg *r, struct reg_entry *e)
{
    struct reg_entry **pp = &r->entries;
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (!*pp || !e->next)
        return;
    *pp = e->next;
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
    e->next = NULL;
}

const double reg_lat_bounds[REG_LAT_NBOUNDS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10};

static void op_account(struct reg *r, const struct reg_entry *e, bool ok)
{
    struct reg_op_stats *st = &r->op_stats[e->issued_want ? 0 : 1];
    double took = ev_now(r->loop) - e->issued_at;
    size_t i = 0;
    while (i < REG_LAT_NBOUNDS && took > reg_lat_bounds[i])
        i++;
    st->lat_counts[i]++;
    st->lat_sum += took > 0 ? took : 0;
    if (ok)
        st->ok++;
    else
        st->failed++;
}

void reg_op_done(struct reg *r, struct reg_entry *e, bool ok, const char *errmsg)
{
    op_account(r, e, ok);
    e->busy = false;
    if (ok) {
        r->ops_ok++;
        bool had = e->have;
        e->have = e->issued_want;
        r->backoff = BACKOFF_MIN;
        e->leftover = e->leftover && !e->have;
        char w[160];
        if (had != e->have && !e->leftover)
            log_info(e->svc, "%s %s in %s", e->have ? "registered" : "deregistered", e->node,
                     where(r, w, sizeof(w)));
    } else {
        r->ops_failed++;
        e->dirty = true;
        requeue_last(r, e);
        char w[160];
        snprintf(r->last_error, sizeof(r->last_error), "%s", errmsg ? errmsg : "failed");
        log_warn(e->svc, "%s %s in %s failed: %s (retry in %.1f s)",
                 e->issued_want ? "register" : "deregister", e->node, where(r, w, sizeof(w)),
                 r->last_error, r->backoff);
        if (!ev_is_active(&r->retry)) {
            ev_timer_set(&r->retry, r->backoff, 0);
            ev_timer_start(r->loop, &r->retry);
        }
        r->backoff = r->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : r->backoff * 2;
    }
    notify(r);
    if (!r->flushing)
        flush(r);
}

void reg_set_conn(struct reg *r, enum reg_conn c, const char *detail)
{
    bool changed = r->conn != c;
    char w[160];
    r->conn = c;
    snprintf(r->conn_detail, sizeof(r->conn_detail), "%s", detail ? detail : "");
    if (changed)
        log_info(NULL, "backend %s %s%s%s", where(r, w, sizeof(w)), reg_conn_name(c),
                 detail && *detail ? ": " : "", detail ? detail : "");
    if (c == REG_CONNECTED) {
        /* A fresh connection retries at once: the backoff was for the old one. */
        ev_timer_stop(r->loop, &r->retry);
        r->backoff = BACKOFF_MIN;
        flush(r);
    }
    notify(r);
}

void reg_resync(struct reg *r)
{
    for (struct reg_entry *e = r->entries; e; e = e->next) {
        e->have = false;
        if (e->want)
            e->dirty = true;
    }
    notify(r);
    flush(r);
}

void reg_stop(struct reg *r)
{
    if (!r || r->stopped)
        return;
    r->stopped = true;
    ev_timer_stop(r->loop, &r->retry);
    r->ops->stop(r);
}

void reg_free(struct reg *r)
{
    if (!r)
        return;
    reg_stop(r);
    while (r->entries) {
        struct reg_entry *e = r->entries;
        r->entries = e->next;
        entry_free(r, e);
    }
    r->ops->free(r);
    free(r->uri);
    free(r);
}
