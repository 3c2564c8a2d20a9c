/* Admin drains, like hacheck's spool files (README "Drains"): one drain per
 * scope, the scope being "all" or one registration's "svc.ns". A check is
 * drained while the `all` drain or its own drain is in force; `all` is
 * looked at first, so it is the one reported when both are (hacheck's
 * is_up). A new drain of a scope replaces the old one; with the same reason
 * it keeps the old start time (hadown run again only moves the expiry).
 *
 * Pure state: no I/O, no clock. Times are wall-clock seconds (Unix time, as
 * `--until EPOCH` and the spool files speak), passed in by the caller. */
#ifndef MESHREG_SPOOL_H
#define MESHREG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define SPOOL_ALL "all"
#define SPOOL_SCOPE_MAX 255  /* longest scope, bytes */
#define SPOOL_REASON_MAX 127 /* longest reason, bytes */

struct spool_entry {
    char scope[SPOOL_SCOPE_MAX + 1];
    char reason[SPOOL_REASON_MAX + 1];
    double since; /* when the drain started (kept by a same-reason repeat) */
    double until; /* when it ends by itself; 0 = never */
    double asked; /* when it was last requested (the shutdown-style window counts from here) */
};

struct spool {
    struct spool_entry *e;
    size_t n, cap;
};

void spool_init(struct spool *s);
/* Frees the entries; the spool is empty and usable again. */
void spool_clear(struct spool *s);

/* Puts the drain of `scope` in force (reason NULL = ""; until 0 = never).
 * When one was in force, *old gets a copy of it and *replaced is true.
 * Scope and reason are cut to their maximum length. Returns -1 only when
 * out of memory (nothing changed then). */
int spool_down(struct spool *s, const char *scope, const char *reason, double until, double now,
               struct spool_entry *old, bool *replaced);
/* Ends the drain of `scope`; true (and *old, when not NULL) if there was one. */
bool spool_up(struct spool *s, const char *scope, struct spool_entry *old);

/* The drain of exactly `scope` in force at `now`, or NULL. */
const struct spool_entry *spool_find(const struct spool *s, const char *scope, double now);
/* The drain that covers registration `name` at `now` ("all" first), or NULL. */
const struct spool_entry *spool_covers(const struct spool *s, const char *name, double now);

/* Removes every drain whose `until` has passed, calling cb (may be NULL)
 * with each before it goes. Returns how many went. */
size_t spool_expire(struct spool *s, double now,
                    void (*cb)(const struct spool_entry *e, void *arg), void *arg);
/* The earliest `until` among the drains, 0 when none expires. */
double spool_next_until(const struct spool *s);

#endif
