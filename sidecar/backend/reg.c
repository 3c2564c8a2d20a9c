/* The registry core: desired state per record, one operation in flight per
 * record, retries with capped, jittered backoff (backoff.h), re-application
 * after a backend lost its records. See reg.h for the contract with backends.
 *
 * Work per record is independent of how many there are: entries are found
 * through a hash of (svc, node), and the operations owed wait in a FIFO
 * queue, so a probe result costs one look-up and at most one queue push,
 * never a walk over every record. Operations are paced (a token bucket,
 * README "Backend pacing") and a re-registration of everything after a
 * lost session or an outage starts after a random jitter. */
#include "sidecar/backend/reg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config/scheme.h"
#include "sidecar/log.h"

/* Retries of refused operations (backoff.h): 0.1-0.2 s at first, up to
 * 2.5-5 s once the cap is reached. */
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define REG_BUCKETS_MIN 64
/* Tokens saved up at most: this many seconds' worth, so an idle registry
 * cannot burst far past its rate. */
#define REG_PACE_BURST_S 0.1
/* Once out of tokens, wait for this many seconds' worth (at least one):
 * one timer per batch, not one per operation. */
#define REG_PACE_BATCH_S 0.01
/* Re-registration after a lost session or an outage starts within this
 * many seconds, at random: a fleet that lost its backend together must not
 * come back in lockstep. */
#define REG_JITTER_S 1.0

/* The ops of each single-cluster scheme of config/scheme.h's table; a
 * multi-cluster scheme has none here (regset.c builds its clusters). */
static const struct reg_ops *const ops_by_scheme[SCHEME_COUNT] = {
    [SCHEME_FILE] = &reg_file_ops,
    [SCHEME_ZK] = &reg_zk_ops,
    [SCHEME_ETCD] = &reg_etcd_ops,
    [SCHEME_ETCDS] = &reg_etcd_ops,
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

/* ---- the index: (svc, node) hashed (FNV-1a), entries also on r->entries ---- */

static uint64_t key_hash(const char *svc, const char *node)
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *c = (const unsigned char *)svc; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* a byte no name has: ("a","bc") != ("ab","c") */
    for (const unsigned char *c = (const unsigned char *)node; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return h;
}

static struct reg_entry **bucket_of(const struct reg *r, const char *svc, const char *node)
{
    return &r->buckets[key_hash(svc, node) & (r->nbuckets - 1)];
}

static int index_grow(struct reg *r)
{
    size_t n = r->nbuckets ? r->nbuckets * 2 : REG_BUCKETS_MIN;
    struct reg_entry **old = r->buckets;
    size_t nold = r->nbuckets;

    if (!(r->buckets = calloc(n, sizeof(*r->buckets)))) {
        r->buckets = old;
        return -1;
    }
    r->nbuckets = n;
    for (size_t i = 0; i < nold; i++) {
        for (struct reg_entry *e = old[i], *next; e; e = next) {
            struct reg_entry **b = bucket_of(r, e->svc, e->node);

            next = e->hnext;
            e->hnext = *b;
            *b = e;
        }
    }
    free(old);
    return 0;
}

static struct reg_entry *find_entry(const struct reg *r, const char *svc, const char *node)
{
    if (!r->nbuckets)
        return NULL;
    for (struct reg_entry *e = *bucket_of(r, svc, node); e; e = e->hnext)
        if (strcmp(e->node, node) == 0 && strcmp(e->svc, svc) == 0)
            return e;
    return NULL;
}

/* A new entry, indexed and listed; NULL when out of memory. */
static struct reg_entry *entry_new(struct reg *r, const char *svc, const char *node)
{
    struct reg_entry *e, **b;

    if (r->nentries >= r->nbuckets && index_grow(r) != 0 && !r->nbuckets)
        return NULL; /* a full table still works, only slower */
    if (!(e = calloc(1, sizeof(*e))) || !(e->svc = strdup(svc)) || !(e->node = strdup(node))) {
        if (e)
            free(e->svc);
        free(e);
        return NULL;
    }
    b = bucket_of(r, svc, node);
    e->hnext = *b;
    *b = e;
    e->next = r->entries;
    if (r->entries)
        r->entries->prev = e;
    r->entries = e;
    r->nentries++;
    return e;
}

/* Unindexes and frees an entry that is not queued. */
static void entry_forget(struct reg *r, struct reg_entry *e)
{
    struct reg_entry **b = bucket_of(r, e->svc, e->node);

    while (*b != e)
        b = &(*b)->hnext;
    *b = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        r->entries = e->next;
    if (e->next)
        e->next->prev = e->prev;
    r->nentries--;
    entry_free(r, e);
}

/* Settled and absent: nothing to remember. */
static void forget_if_settled(struct reg *r, struct reg_entry *e)
{
    if (!e->want && !e->have && !e->busy && !e->dirty && !e->queued)
        entry_forget(r, e);
}

/* ---- the queue of operations owed, and its pacing ---- */

static void queue_push(struct reg *r, struct reg_entry *e)
{
    if (e->queued)
        return;
    e->queued = true;
    e->qnext = NULL;
    if (r->q_tail)
        r->q_tail->qnext = e;
    else
        r->q_head = e;
    r->q_tail = e;
}

static struct reg_entry *queue_pop(struct reg *r)
{
    struct reg_entry *e = r->q_head;

    if (!e)
        return NULL;
    r->q_head = e->qnext;
    if (!r->q_head)
        r->q_tail = NULL;
    e->qnext = NULL;
    e->queued = false;
    return e;
}

static void queue_unlink(struct reg *r, struct reg_entry *e)
{
    struct reg_entry *prev = NULL;
    for (struct reg_entry *q = r->q_head; q; prev = q, q = q->qnext) {
        if (q != e)
            continue;
        if (prev)
            prev->qnext = e->qnext;
        else
            r->q_head = e->qnext;
        if (r->q_tail == e)
            r->q_tail = prev;
        e->qnext = NULL;
        e->queued = false;
        return;
    }
}

/* The desired state changed or an operation failed: an operation is owed,
 * issued once the one in flight (if any) completes. */
static void mark_dirty(struct reg *r, struct reg_entry *e)
{
    e->dirty = true;
    if (!e->busy)
        queue_push(r, e);
}

static double rand01(void)
{
    uint32_t v;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint32_t)(ev_time() * 1e6);
    return v / 4294967296.0;
}

/* Holds every operation for `seconds` (a longer hold already running stays). */
static void pace_hold(struct reg *r, double seconds)
{
    if (ev_is_active(&r->pace)) {
        if (ev_timer_remaining(r->loop, &r->pace) >= seconds)
            return;
        ev_timer_stop(r->loop, &r->pace);
    }
    ev_timer_set(&r->pace, seconds, 0.);
    ev_timer_start(r->loop, &r->pace);
}

/* One operation's token, or false with the pace timer set for the next. */
static bool pace_take(struct reg *r)
{
    ev_tstamp now = ev_now(r->loop);
    double burst = r->max_ops * REG_PACE_BURST_S, batch = r->max_ops * REG_PACE_BATCH_S;

    if (r->max_ops <= 0)
        return true;
    if (burst < 1)
        burst = 1;
    if (batch < 1)
        batch = 1;
    r->tokens += (now - r->tokens_at) * r->max_ops;
    if (r->tokens > burst)
        r->tokens = burst;
    r->tokens_at = now;
    if (r->tokens >= 1) {
        r->tokens -= 1;
        return true;
    }
    pace_hold(r, (batch - r->tokens) / r->max_ops);
    return false;
}

/* Issues the operations owed, oldest first, as the pace allows. Backends
 * may complete synchronously (reg_op_done inside put/del), which may queue
 * the entry again; it then waits behind the others. */
static void flush(struct reg *r)
{
    if (r->flushing || r->stopped || r->conn != REG_CONNECTED || ev_is_active(&r->retry) ||
        ev_is_active(&r->pace))
        return;
    r->flushing = true;
    while (r->q_head && r->conn == REG_CONNECTED && !ev_is_active(&r->retry) && pace_take(r)) {
        struct reg_entry *e = queue_pop(r);

        e->dirty = false;
        e->busy = true;
        e->issued_want = e->want;
        e->issued_at = ev_now(r->loop);
        if (e->want)
            r->ops->put(r, e);
        else
            r->ops->del(r, e);
    }
    r->flushing = false;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reg *r = w->data;
    ev_timer_stop(loop, w);
    flush(r);
}

static void pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reg *r = w->data;
    ev_timer_stop(loop, w);
    flush(r);
}

void reg_set_max_ops(struct reg *r, double per_second)
{
    r->max_ops = per_second > 0 ? per_second : 0;
}

int reg_validate_uri(const char *uri, char *err, size_t errlen)
{
    const struct reg_ops *ops = find_backend(uri);
    if (!ops) {
        const struct scheme *s = scheme_find(uri);
        if (s)
            snprintf(err, errlen, "backend \"%s\": %s is not a single store", uri, s->syntax);
        else
            snprintf(err, errlen, "backend \"%s\": unknown scheme (use %s)", uri, SCHEME_HELP_ALL);
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
    backoff_init(&r->backoff, BACKOFF_MIN, BACKOFF_MAX);
    ev_timer_init(&r->retry, retry_cb, 0, 0);
    r->retry.data = r;
    ev_timer_init(&r->pace, pace_cb, 0, 0);
    r->pace.data = r;
    r->max_ops = REG_MAX_OPS_DEFAULT;
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
        if (!(e = entry_new(r, svc, node))) {
            log_error(svc, "out of memory: cannot track record %s", node);
            return;
        }
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
    /* issued_at == 0: no operation was ever sent (e.g. the backend never
     * accepted a session), so nothing of it can exist. */
    bool never_written = !want && !e->have && !e->busy && !e->leftover &&
                         (r->ops->failed_put_leaves_nothing || e->issued_at == 0);
    e->want = want;
    if (never_written) { /* nothing to delete: settled now, whatever the backoff */
        e->dirty = false;
        queue_unlink(r, e);
        forget_if_settled(r, e);
        notify(r);
        return;
    }
    /* A leftover's have = true only meant "a delete is owed"; nothing of
     * ours is confirmed in the backend yet. */
    if (e->leftover)
        e->have = false;
    e->leftover = false;
    mark_dirty(r, e);
    flush(r);
}

void reg_clear(struct reg *r, const char *svc, const char *node)
{
    if (r->stopped || find_entry(r, svc, node))
        return;
    struct reg_entry *e = entry_new(r, svc, node);
    if (!e)
        return;
    /* have = true: we do not know it is absent, so the delete is owed. */
    e->have = true;
    e->leftover = true;
    mark_dirty(r, e);
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
        backoff_reset(&r->backoff);
        e->leftover = e->leftover && !e->have;
        char w[160];
        bool first = e->have && !e->ever;
        e->ever = e->ever || e->have;
        if (first && r->quiet_first)
            r->first_puts++;
        else if (had != e->have && !e->leftover)
            log_info(e->svc, "%s %s in %s", e->have ? "registered" : "deregistered", e->node,
                     where(r, w, sizeof(w)));
    } else {
        r->ops_failed++;
        /* Behind the others: the next attempt serves them first, so one
         * record that keeps failing (a name the backend refuses) never
         * starves the rest, deregistrations in a drain included. */
        mark_dirty(r, e);
        char w[160];
        snprintf(r->last_error, sizeof(r->last_error), "%s", errmsg ? errmsg : "failed");
        /* An operation that completes while the registry stops (on the
         * running loop, README "Drain sequence") is not retried. */
        const char *op = e->issued_want ? "register" : "deregister";
        if (r->stopped) {
            log_warn(e->svc, "%s %s in %s failed: %s (stopping: not retried)", op, e->node,
                     where(r, w, sizeof(w)), r->last_error);
            notify(r);
            return;
        }
        /* Every failure grows the backoff, also one that finds the retry
         * already armed (the timer then keeps its earlier time). */
        double delay = backoff_next(&r->backoff);
        if (ev_is_active(&r->retry))
            delay = ev_timer_remaining(r->loop, &r->retry);
        /* Issued only while connected: a refusal, not an outage, so an error. */
        log_error(e->svc, "%s %s in %s failed: %s (retry in %.1f s)", op, e->node,
                  where(r, w, sizeof(w)), r->last_error, delay);
        if (!ev_is_active(&r->retry)) {
            ev_timer_set(&r->retry, delay, 0);
            ev_timer_start(r->loop, &r->retry);
        }
    }
    if (ok && e->dirty)
        queue_push(r, e); /* changed while in flight */
    forget_if_settled(r, e);
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
        /* A fresh connection retries at once: the backoff was for the old one;
         * what an outage left owed waits for the jitter. */
        ev_timer_stop(r->loop, &r->retry);
        backoff_reset(&r->backoff);
        if (changed && r->was_connected && r->q_head)
            pace_hold(r, REG_JITTER_S * rand01());
        r->was_connected = true;
        flush(r);
    }
    notify(r);
}

void reg_resync(struct reg *r)
{
    for (struct reg_entry *e = r->entries; e; e = e->next) {
        e->have = false;
        if (e->want)
            mark_dirty(r, e);
    }
    if (r->q_head)
        pace_hold(r, REG_JITTER_S * rand01());
    notify(r);
    flush(r);
}

void reg_stop(struct reg *r)
{
    if (!r || r->stopped)
        return;
    r->stopped = true;
    ev_timer_stop(r->loop, &r->retry);
    ev_timer_stop(r->loop, &r->pace);
    r->ops->stop(r);
}

void reg_stop_done(struct reg *r)
{
    if (r->stop_done)
        return;
    r->stop_done = true;
    notify(r);
}

bool reg_stopped(const struct reg *r)
{
    return !r || r->stop_done;
}

bool reg_local_readers(const struct reg *r)
{
    return r && r->ops->local_readers;
}

void reg_free(struct reg *r)
{
    if (!r)
        return;
    r->on_change = NULL; /* the owner is going away too */
    reg_stop(r);
    while (r->entries) {
        struct reg_entry *e = r->entries;
        r->entries = e->next;
        entry_free(r, e);
    }
    r->ops->free(r);
    free(r->buckets);
    reg_set_auth(r, NULL, NULL, false);
    reg_set_tls(r, NULL, NULL, NULL);
    free(r->uri);
    free(r);
}

void reg_set_tls(struct reg *r, const char *cacert, const char *cert, const char *key)
{
    free(r->tls_cacert);
    free(r->tls_cert);
    free(r->tls_key);
    r->tls_cacert = cacert ? strdup(cacert) : NULL;
    r->tls_cert = cert ? strdup(cert) : NULL;
    r->tls_key = key ? strdup(key) : NULL;
}

void reg_reload(struct reg *r)
{
    if (r && r->impl && r->ops->reload)
        r->ops->reload(r);
}

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void reg_set_auth(struct reg *r, const char *user, const char *password, bool zk_acl_protected)
{
    bool changed = !str_same(user, r->auth_user) || !str_same(password, r->auth_password);
    r->zk_acl_protected = zk_acl_protected;
    if (!changed)
        return;
    if (r->auth_password) {
        explicit_bzero(r->auth_password, strlen(r->auth_password));
        free(r->auth_password);
    }
    free(r->auth_user);
    r->auth_user = user ? strdup(user) : NULL;
    r->auth_password = password ? strdup(password) : NULL;
    if (r->impl && r->ops->reauth && user && password)
        r->ops->reauth(r);
}
