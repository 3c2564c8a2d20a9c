/* A listening TCP socket on the loop: bounded accepts per wakeup, and a
 * short rest when out of descriptors instead of spinning on a
 * level-triggered backlog, plus the list of its open connections, oldest
 * (least recently active) first, so an owner that is full closes the
 * oldest. Shared by the admin endpoint and the agent port; what to do with
 * an accepted socket, and when to evict, is the owner's business. */
#ifndef MESHREG_LISTENER_H
#define MESHREG_LISTENER_H

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proto/netaddr.h"

/* Owns fd from here on (close it when done). */
typedef void (*listener_accept_cb)(void *arg, int fd, const struct sockaddr_storage *peer);

/* Embedded first in the owner's connection struct, so the owner converts
 * a listener_conn pointer back with a cast. */
struct listener_conn {
    struct listener_conn *prev, *next;
};

struct listener {
    struct ev_loop *loop;
    int fd;                    /* -1 when closed */
    int port;                  /* the port actually bound */
    char addr[NETADDR_STRLEN]; /* the address bound, as text */
    const char *name;          /* for log lines ("admin", "agent") */
    ev_io accept_w;
    ev_timer pause;
    listener_accept_cb cb;
    void *arg;
    struct listener_conn *oldest, *newest; /* the owner's open connections */
    size_t nconns;
};

/* Binds and listens on addr ("0.0.0.0:6666", "[::1]:0"; see netaddr_parse)
 * and starts accepting. port >= 0 replaces addr's own port (the agent-check
 * listens on the admin endpoint's host; port <= 65535); -1 keeps it. name
 * prefixes log lines. Returns 0, or -1 with err (which names
 * the address). */
int listener_open(struct listener *l, struct ev_loop *loop, const char *addr, int port,
                  const char *name, listener_accept_cb cb, void *arg, char *err, size_t errlen);

/* Stops accepting and closes the socket; a no-op when not open. The
 * connections are the owner's to close first. */
void listener_close(struct listener *l);

/* A new connection: the newest. */
void listener_conn_add(struct listener *l, struct listener_conn *c);
/* Activity on c: it becomes the newest. */
void listener_conn_touch(struct listener *l, struct listener_conn *c);
/* c is closing: off the list. */
void listener_conn_remove(struct listener *l, struct listener_conn *c);

#endif
