/* A listening TCP socket on the loop: bounded accepts per wakeup, and a
 * short rest when out of descriptors instead of spinning on a
 * level-triggered backlog. Shared by the admin endpoint and the agent port;
 * what to do with an accepted socket is the owner's callback. */
#ifndef MESHREG_LISTENER_H
#define MESHREG_LISTENER_H

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proto/netaddr.h"

/* Owns fd from here on (close it when done). */
typedef void (*listener_accept_cb)(void *arg, int fd, const struct sockaddr_storage *peer);

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
};

/* Binds and listens on addr ("0.0.0.0:6666", "[::1]:0"; see netaddr_parse)
 * and starts accepting. port >= 0 replaces addr's own port (the agent-check
 * listens on the admin endpoint's host; port <= 65535); -1 keeps it. name
 * prefixes log lines. Returns 0, or -1 with err (which names
 * the address). */
int listener_open(struct listener *l, struct ev_loop *loop, const char *addr, int port,
                  const char *name, listener_accept_cb cb, void *arg, char *err, size_t errlen);

/* Stops accepting and closes the socket; a no-op when not open. */
void listener_close(struct listener *l);

#endif
