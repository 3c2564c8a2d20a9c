/* The tcp probe (README "Probes"): a non-blocking connect to the health port; success
 * passes, and the connection is closed at once without sending anything. */
#include "proto/tcpconn.h"
#include "sidecar/probe/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct probe_tcp {
    struct probe *p;
    ev_io io;
    int fd;
};

static void tcp_close(struct probe_tcp *st, struct ev_loop *loop)
{
    ev_io_stop(loop, &st->io);
    if (st->fd >= 0) {
        close(st->fd);
        st->fd = -1;
    }
}

static void tcp_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct probe_tcp *st = w->data;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    tcp_close(st, loop);
    if (soerr)
        probe_finish(st->p, false, "connect: %s", strerror(soerr));
    else
        probe_finish(st->p, true, "connected in %.0f ms", probe_elapsed_ms(st->p));
}

static int tcp_start(struct probe *p)
{
    struct probe_tcp *st = p->state;
    const char *host = probe_host(p);
    struct sockaddr_storage ss;
    socklen_t sslen;

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st) {
            probe_finish(p, false, "out of memory");
            return -1;
        }
        st->p = p;
        st->fd = -1;
        ev_io_init(&st->io, tcp_io_cb, -1, EV_WRITE);
        st->io.data = st;
        p->state = st;
    }
    sslen = tcpconn_addr(host, p->spec->probe_port, &ss);
    if (sslen == 0) {
        probe_finish(p, false, "bad address %s:%d", host, p->spec->probe_port);
        return -1;
    }
    char why[160];
    if ((st->fd = tcpconn_start(&ss, sslen, why, sizeof(why))) < 0) {
        probe_finish(p, false, "%s", why);
        return 0;
    }
    /* Even a connect that completed at once is reported from the loop. */
    ev_io_set(&st->io, st->fd, EV_WRITE);
    ev_io_start(p->loop, &st->io);
    return 0;
}

/* A connect that completed while the loop was busy passes (README "Probes under load"). */
static int tcp_poke(struct probe *p, ev_tstamp *sent)
{
    struct probe_tcp *st = p->state;
    struct pollfd pfd;

    *sent = p->started;
    if (!st || st->fd < 0)
        return 0;
    pfd = (struct pollfd){.fd = st->fd, .events = POLLOUT};
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    tcp_io_cb(p->loop, &st->io, EV_WRITE);
    return 1;
}

static void tcp_cancel(struct probe *p)
{
    if (p->state)
        tcp_close(p->state, p->loop);
}

static void tcp_free(struct probe *p)
{
    if (!p->state)
        return;
    tcp_close(p->state, p->loop);
    free(p->state);
    p->state = NULL;
}

const struct probe_ops probe_tcp_ops = {
    .name = "tcp",
    .start = tcp_start,
    .cancel = tcp_cancel,
    .free = tcp_free,
    .poke = tcp_poke,
};
