/* Who polls us: the load balancers that ask /health (or the agent port),
 * and how many "draining" answers each has had. With --adaptive-drain the
 * drain window may end early once every recent poller has been told enough
 * times (README "Drain sequence"). Pure bookkeeping: no I/O, the caller passes the clock. */
#ifndef MESHREG_LBWATCH_H
#define MESHREG_LBWATCH_H

#include <stdbool.h>
#include <stddef.h>

#define LBWATCH_MAX 64

struct lbwatch_peer {
    char addr[64];     /* address without port: LBs reconnect per check */
    double last;       /* last poll */
    unsigned draining; /* consecutive "draining" answers */
};

struct lbwatch {
    struct lbwatch_peer peers[LBWATCH_MAX];
    size_t n;
};

/* Records one poll from `peer` ("ip:port" or "[v6]:port"; the port is
 * dropped) answered draining or not. When the table is full the peer seen
 * least recently makes room. */
void lbwatch_note(struct lbwatch *w, const char *peer, double now, bool draining);

/* True when at least one peer polled within `recent` seconds and every such
 * peer has had at least `min_answers` consecutive draining answers.
 * *npeers gets the number of recent peers. */
bool lbwatch_all_informed(const struct lbwatch *w, double now, double recent, unsigned min_answers,
                          size_t *npeers);

#endif
