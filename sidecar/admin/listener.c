#include "sidecar/admin/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sidecar/log.h"

#define ACCEPT_BATCH 64  /* accepts per wakeup, so a flood cannot starve the loop */
#define EMFILE_PAUSE 0.1 /* seconds the listener rests when out of descriptors */

static void pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct listener *l = w->data;
    ev_io_start(loop, &l->accept_w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = w->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Level-triggered: the pending connection would wake us at
                 * once, forever. Rest a moment; timeouts free descriptors. */
                log_warn(NULL, "%s: accept: %s; pausing", l->name, strerror(errno));
                ev_io_stop(loop, &l->accept_w);
                ev_timer_set(&l->pause, EMFILE_PAUSE, 0.);
                ev_timer_start(loop, &l->pause);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_warn(NULL, "%s: accept: %s", l->name, strerror(errno));
            }
            return;
        }
        l->cb(l->arg, fd, &peer);
    }
}

int listener_open(struct listener *l, struct ev_loop *loop, const char *addr, int port,
                  const char *name, listener_accept_cb cb, void *arg, char *err, size_t errlen)
{
    struct netaddr na;
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->loop = loop;
    l->name = name;
    l->cb = cb;
    l->arg = arg;
    if (netaddr_parse(addr, &na, err, errlen) < 0)
        return -1;
    if (port >= 0 && na.ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&na.ss)->sin6_port = htons((uint16_t)port);
    else if (port >= 0)
        ((struct sockaddr_in *)&na.ss)->sin_port = htons((uint16_t)port);
    netaddr_format((struct sockaddr *)&na.ss, l->addr, sizeof(l->addr));
    /* Errors name the address as given, or as bound when the port changed. */
    if ((l->fd = netaddr_listen(&na, port >= 0 ? l->addr : addr, &l->port, err, errlen)) < 0)
        return -1;
    ev_io_init(&l->accept_w, accept_cb, l->fd, EV_READ);
    l->accept_w.data = l;
    ev_timer_init(&l->pause, pause_cb, EMFILE_PAUSE, 0.);
    l->pause.data = l;
    ev_io_start(loop, &l->accept_w);
    return 0;
}

void listener_conn_add(struct listener *l, struct listener_conn *c)
{
    c->prev = l->newest;
    c->next = NULL;
    if (l->newest)
        l->newest->next = c;
    else
        l->oldest = c;
    l->newest = c;
    l->nconns++;
}

void listener_conn_remove(struct listener *l, struct listener_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->newest = c->prev;
    c->prev = c->next = NULL;
    l->nconns--;
}

void listener_conn_touch(struct listener *l, struct listener_conn *c)
{
    if (l->newest == c)
        return;
    listener_conn_remove(l, c);
    listener_conn_add(l, c);
}

void listener_close(struct listener *l)
{
    if (!l->loop || l->fd < 0)
        return;
    ev_io_stop(l->loop, &l->accept_w);
    ev_timer_stop(l->loop, &l->pause);
    close(l->fd);
    l->fd = -1;
}
