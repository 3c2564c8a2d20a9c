/* Admin drains per scope (see spool.h). A handful of entries at most (one
 * per registration plus `all`): a plain array, searched linearly. */
#include "sidecar/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spool_init(struct spool *s)
{
    memset(s, 0, sizeof(*s));
}

void spool_clear(struct spool *s)
{
    free(s->e);
    spool_init(s);
}

static bool in_force(const struct spool_entry *e, double now)
{
    return e->until <= 0 || now < e->until;
}

static struct spool_entry *slot(const struct spool *s, const char *scope)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].scope, scope) == 0)
            return &s->e[i];
    return NULL;
}

int spool_down(struct spool *s, const char *scope, const char *reason, double until, double now,
               struct spool_entry *old, bool *replaced)
{
    char cut[SPOOL_SCOPE_MAX + 1];
    snprintf(cut, sizeof(cut), "%s", scope);
    struct spool_entry *e = slot(s, cut);
    *replaced = e && in_force(e, now);
    if (*replaced && old)
        *old = *e;
    if (!e) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4;
            struct spool_entry *ne = realloc(s->e, cap * sizeof(*ne));
            if (!ne)
                return -1;
            s->e = ne;
            s->cap = cap;
        }
        e = &s->e[s->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->scope, sizeof(e->scope), "%s", cut);
    }
    char r[SPOOL_REASON_MAX + 1];
    snprintf(r, sizeof(r), "%s", reason ? reason : "");
    /* hacheck's down(): the same reason again refreshes the expiry but
     * keeps how long it has been down. */
    if (!*replaced || strcmp(e->reason, r) != 0)
        e->since = now;
    memcpy(e->reason, r, sizeof(r));
    e->until = until > 0 ? until : 0;
    e->asked = now;
    return 0;
}

static void remove_at(struct spool *s, size_t i)
{
    s->e[i] = s->e[--s->n];
}

bool spool_up(struct spool *s, const char *scope, struct spool_entry *old)
{
    struct spool_entry *e = slot(s, scope);
    if (!e)
        return false;
    if (old)
        *old = *e;
    remove_at(s, (size_t)(e - s->e));
    return true;
}

const struct spool_entry *spool_find(const struct spool *s, const char *scope, double now)
{
    const struct spool_entry *e = slot(s, scope);
    return e && in_force(e, now) ? e : NULL;
}

const struct spool_entry *spool_covers(const struct spool *s, const char *name, double now)
{
    const struct spool_entry *e = spool_find(s, SPOOL_ALL, now);
    return e ? e : spool_find(s, name, now);
}

size_t spool_expire(struct spool *s, double now,
                    void (*cb)(const struct spool_entry *e, void *arg), void *arg)
{
    size_t gone = 0;
    for (size_t i = 0; i < s->n;) {
        if (in_force(&s->e[i], now)) {
            i++;
            continue;
        }
        if (cb)
            cb(&s->e[i], arg);
        remove_at(s, i);
        gone++;
    }
    return gone;
}

double spool_next_until(const struct spool *s)
{
    double next = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].until > 0 && (next == 0 || s->e[i].until < next))
            next = s->e[i].until;
    return next;
}
