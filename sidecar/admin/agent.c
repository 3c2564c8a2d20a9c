/* HAProxy agent-check: accept, write one line, half-close, then read and
 * discard until the peer closes (or a short linger runs out) before
 * closing. Closing at once would be simpler, but a socket closed with
 * unread input (HAProxy's `agent-send` string) sends a reset instead of a
 * FIN, dropping whatever of our line was not transmitted yet, and a peer
 * may discard received data on a reset.
 *
 * Bounds: at most AGENT_MAX_CONNS lingering connections (the oldest is
 * closed to make room: its line went out already), AGENT_LINGER seconds
 * each. Nothing here waits on a peer. */
#include "sidecar/admin/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sidecar/log.h"
#include "sidecar/admin/listener.h"
#include "proto/netaddr.h"

#define AGENT_MAX_CONNS 256
#define AGENT_LINGER 1.0 /* seconds we wait for the peer's close */

struct agent_conn {
    struct listener_conn link; /* first: a->listener's list, oldest first */
    struct agent *a;
    int fd;
    ev_io rio;
    ev_timer timer;
};

struct agent {
    struct ev_loop *loop;
    struct admin_view view;
    struct listener listener;
};

const char *agent_line(const struct admin_view *v)
{
    /* The same order as /health: all up wins (a worker's check stays up
     * under an admin drain), then draining, then down. */
    struct admin_view_state st;
    struct admin_view_reg r;
    bool all_up = true;
    size_t n = v->ops->count(v->owner);
    for (size_t i = 0; i < n && all_up; i++) {
        v->ops->reg(v->owner, i, &r);
        all_up = r.up;
    }
    if (all_up)
        return "up ready 100%\n";
    v->ops->state(v->owner, &st);
    if (st.drain.draining)
        return "drain\n";
    return "down\n";
}

static void conn_free(struct agent_conn *c)
{
    struct agent *a = c->a;
    ev_io_stop(a->loop, &c->rio);
    ev_timer_stop(a->loop, &c->timer);
    close(c->fd);
    listener_conn_remove(&a->listener, &c->link);
    free(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct agent_conn *c = w->data;
    char sink[512];
    ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        conn_free(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_free(w->data);
}

/* Answers a fresh connection and keeps it lingering (or closes it). */
static void answer(struct agent *a, int fd, const struct sockaddr_storage *peer)
{
    const char *line = agent_line(&a->view);
    struct admin_view_state st;
    a->view.ops->state(a->view.owner, &st);
    if (st.watches_polls) {
        char text[NETADDR_STRLEN];
        netaddr_format((const struct sockaddr *)peer, text, sizeof(text));
        a->view.ops->polled(a->view.owner, text, line[0] == 'd' && line[1] == 'r');
    }
    size_t len = strlen(line);
    /* A fresh socket's send buffer is empty and far larger than the line,
     * so this send is complete or the connection is already dead. */
    ssize_t n = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != (ssize_t)len) {
        close(fd);
        return;
    }
    shutdown(fd, SHUT_WR);
    if (a->listener.nconns >= AGENT_MAX_CONNS)
        conn_free((struct agent_conn *)a->listener.oldest);
    struct agent_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->a = a;
    c->fd = fd;
    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    c->rio.data = c;
    ev_timer_init(&c->timer, conn_timer_cb, AGENT_LINGER, 0.);
    c->timer.data = c;
    ev_io_start(a->loop, &c->rio);
    ev_timer_start(a->loop, &c->timer);
    listener_conn_add(&a->listener, &c->link);
}

static void on_accept(void *arg, int fd, const struct sockaddr_storage *peer)
{
    answer(arg, fd, peer);
}

struct agent *agent_new(struct ev_loop *loop, const struct admin_view *view, const char *admin_addr,
                        int port, char *err, size_t errlen)
{
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "agent port %d: want 0..65535", port);
        return NULL;
    }
    struct agent *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->view = *view;
    if (listener_open(&a->listener, loop, admin_addr, port, "agent", on_accept, a, err, errlen) <
        0) {
        agent_free(a);
        return NULL;
    }
    log_info(NULL, "HAProxy agent-check on %s", a->listener.addr);
    return a;
}

int agent_port(const struct agent *a)
{
    return a->listener.port;
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    while (a->listener.oldest)
        conn_free((struct agent_conn *)a->listener.oldest);
    listener_close(&a->listener);
    free(a);
}
