/* httpc_pool: a short list of idle connections, each with a read watcher
 * (the server closing it) and an idle timer; see httpc_pool.h. A handful of
 * connections per process, so a list searched in full is enough. */
#include "proto/httpc_pool.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/tls.h"

struct idle {
    struct httpc_pool *pool;
    struct idle *next;
    char key[HTTPC_POOL_KEY_MAX];
    int fd;
    struct tls_conn *tls;
    ev_io io;
    ev_timer timer;
};

struct httpc_pool {
    struct ev_loop *loop;
    struct idle *idle; /* most recently given first */
    int max_idle;
    double idle_timeout;
    unsigned gen;
    struct httpc_pool_stats stats;
};

struct httpc_pool *httpc_pool_new(struct ev_loop *loop, int max_idle, double idle_timeout_s)
{
    struct httpc_pool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->loop = loop;
    p->max_idle = max_idle > 0 ? max_idle : 0;
    p->idle_timeout = idle_timeout_s > 0 ? idle_timeout_s : 1;
    return p;
}

static void conn_close(int fd, struct tls_conn *tls)
{
    tls_conn_free(tls);
    if (fd >= 0)
        close(fd);
}

/* Unlinks and frees i; closes its connection when close_it. */
static void idle_drop(struct idle *i, bool close_it)
{
    struct httpc_pool *p = i->pool;

    for (struct idle **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == i) {
            *pp = i->next;
            break;
        }
    }
    ev_io_stop(p->loop, &i->io);
    ev_timer_stop(p->loop, &i->timer);
    if (close_it)
        conn_close(i->fd, i->tls);
    free(i);
}

/* Whether an idle connection is still usable: nothing to read (a plain
 * socket), or only TLS records that carry no data (a TLS 1.3 session
 * ticket arriving after the response). End of stream, an error or bytes
 * nobody asked for all mean it is not. */
static bool idle_usable(const struct idle *i)
{
    struct pollfd pfd = {.fd = i->fd, .events = POLLIN};
    char b;
    char why[128];

    if (i->tls && tls_conn_pending(i->tls))
        return false;
    if (poll(&pfd, 1, 0) == 0)
        return true;
    if (!i->tls)
        return false;
    return tls_conn_read(i->tls, &b, 1, why, sizeof(why)) == TLS_WANT_READ;
}

static void idle_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct idle *i = w->data;

    if (!idle_usable(i))
        idle_drop(i, true);
}

static void idle_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    idle_drop(w->data, true);
}

void httpc_pool_flush(struct httpc_pool *p)
{
    if (!p)
        return;
    p->gen++;
    while (p->idle)
        idle_drop(p->idle, true);
}

void httpc_pool_free(struct httpc_pool *p)
{
    if (!p)
        return;
    httpc_pool_flush(p);
    free(p);
}

size_t httpc_pool_idle(const struct httpc_pool *p)
{
    size_t n = 0;

    for (const struct idle *i = p ? p->idle : NULL; i; i = i->next)
        n++;
    return n;
}

struct httpc_pool_stats httpc_pool_stats(const struct httpc_pool *p)
{
    struct httpc_pool_stats none = {0};

    return p ? p->stats : none;
}

void httpc_pool_key(char *key, size_t keylen, bool tls, const void *tls_ctx, const char *host,
                    int port, const char *tls_name)
{
    snprintf(key, keylen, "%s %p %s %d %s", tls ? "https" : "http", tls ? tls_ctx : NULL,
             host ? host : "", port, tls && tls_name ? tls_name : "");
}

unsigned httpc_pool_gen(const struct httpc_pool *p)
{
    return p->gen;
}

bool httpc_pool_take(struct httpc_pool *p, const char *key, int *fd, struct tls_conn **tls)
{
    struct idle *i = p->idle, *next;

    for (; i; i = next) {
        next = i->next;
        if (strcmp(i->key, key) != 0)
            continue;
        if (!idle_usable(i)) {
            idle_drop(i, true);
            continue;
        }
        *fd = i->fd;
        *tls = i->tls;
        idle_drop(i, false);
        p->stats.reused++;
        return true;
    }
    return false;
}

void httpc_pool_give(struct httpc_pool *p, const char *key, unsigned gen, int fd,
                     struct tls_conn *tls)
{
    struct idle *i = NULL;
    int same = 0;

    for (const struct idle *j = p->idle; j; j = j->next)
        same += strcmp(j->key, key) == 0;
    if (gen != p->gen || same >= p->max_idle || (tls && tls_conn_pending(tls)) ||
        !(i = calloc(1, sizeof(*i)))) {
        conn_close(fd, tls);
        return;
    }
    i->pool = p;
    snprintf(i->key, sizeof(i->key), "%s", key);
    i->fd = fd;
    i->tls = tls;
    ev_io_init(&i->io, idle_io_cb, fd, EV_READ);
    i->io.data = i;
    ev_io_start(p->loop, &i->io);
    ev_timer_init(&i->timer, idle_timer_cb, p->idle_timeout, 0.);
    i->timer.data = i;
    ev_timer_start(p->loop, &i->timer);
    i->next = p->idle;
    p->idle = i;
}

void httpc_pool_count(struct httpc_pool *p, bool retry)
{
    p->stats.opened++;
    if (retry)
        p->stats.retried++;
}
