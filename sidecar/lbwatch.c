#include "sidecar/lbwatch.h"

#include <stdio.h>
#include <string.h>

/* "1.2.3.4:567" -> "1.2.3.4", "[::1]:567" -> "[::1]". */
static void strip_port(const char *peer, char *out, size_t cap)
{
    const char *colon = strrchr(peer, ':');
    size_t n = strlen(peer);
    if (colon && (peer[0] != '[' || colon > strchr(peer, ']')))
        n = (size_t)(colon - peer);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

void lbwatch_note(struct lbwatch *w, const char *peer, double now, bool draining)
{
    char addr[sizeof(w->peers[0].addr)];
    strip_port(peer, addr, sizeof(addr));
    struct lbwatch_peer *p = NULL, *oldest = NULL;
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->peers[i].addr, addr) == 0) {
            p = &w->peers[i];
            break;
        }
        if (!oldest || w->peers[i].last < oldest->last)
            oldest = &w->peers[i];
    }
    if (!p) {
        p = w->n < LBWATCH_MAX ? &w->peers[w->n++] : oldest;
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
        p->draining = 0;
    }
    p->last = now;
    p->draining = draining ? p->draining + 1 : 0;
}

bool lbwatch_all_informed(const struct lbwatch *w, double now, double recent, unsigned min_answers,
                          size_t *npeers)
{
    size_t n = 0;
    bool all = true;
    for (size_t i = 0; i < w->n; i++) {
        const struct lbwatch_peer *p = &w->peers[i];
        if (now - p->last > recent)
            continue;
        n++;
        if (p->draining < min_answers)
            all = false;
    }
    if (npeers)
        *npeers = n;
    return n > 0 && all;
}
