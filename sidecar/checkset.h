/* The running set of checks of a sidecar (sidecar.c): each check's record,
 * its places in the backend's clusters and its probe, built from the
 * configuration; and a reload's build/compare and migrate steps. */
#ifndef MESHREG_CHECKSET_H
#define MESHREG_CHECKSET_H

#include <stddef.h>

#include "sidecar/sidecar.h"

/* Builds sc->checks from sc->cfg (probes not started). On failure the
 * checks built so far stay in sc->checks / sc->nchecks for the caller to free. */
int checkset_init(struct sidecar *sc, char *err, size_t errlen);
/* Frees one check's probe, record and places; the check stays zeroed. */
void checkset_clear(struct check *c);
/* Indexes sc->checks by name (without memory, look-ups scan). */
void checkset_index(struct sidecar *sc);
/* Reload, build and compare: the checks of ncfg, each marked to take over
 * the running check with an equal spec (from[i] = its index) or built
 * fresh (from[i] = -1, probe not started). Nothing running is touched. */
struct check *checkset_build(struct sidecar *sc, struct mr_config *ncfg, long *from, char *err,
                             size_t errlen);
/* Reload, migrate: unchanged checks move into n with their probe and
 * health, new ones start, removed or changed ones are deregistered and
 * freed; frees the old array (sc->checks is NULL after). */
void checkset_migrate(struct sidecar *sc, struct mr_config *ncfg, struct check *n, const long *from,
                      size_t *kept, size_t *added, size_t *removed);

#endif
