/* The running set of checks (sidecar.c's sc->checks): building each check
 * (record, places in the backend's clusters, probe), freeing it, the name
 * index, and the build/compare and migrate halves of a reload
 * (README "Drain sequence", SIGHUP). Part of the core: sidecar.c calls it. */
#include "sidecar/checkset.h"

#include <stdlib.h>
#include <string.h>

#include "config/names.h"
#include "config/placement.h"
#include "sidecar/backend/record.h"
#include "sidecar/backend/reg.h"
#include "sidecar/backend/regset.h"
#include "sidecar/log.h"
#include "sidecar/probe/probe.h"

/* Adds a place in cluster r with record (taken over; NULL: out of memory). */
static int add_place(struct check *c, struct reg *r, char *record, char *err, size_t errlen)
{
    struct check_place *v = realloc(c->places, (c->nplaces + 1) * sizeof(*v));
    if (!v || !record) {
        free(record);
        if (v)
            c->places = v;
        snprintf(err, errlen, "%s: out of memory", c->spec->name);
        return -1;
    }
    c->places = v;
    c->places[c->nplaces++] = (struct check_place){r, record};
    return 0;
}

/* Where a registration's record goes: the one store of a single-cluster
 * backend; for smartstack, the cluster of each placement that has one
 * (README "Backends"). */
static int check_places(struct sidecar *sc, struct check *c, char *err, size_t errlen)
{
    struct reg *r = NULL;
    if (!regset_multi(sc->regs)) {
        regset_cluster(sc->regs, NULL, &r, err, errlen);
        return add_place(c, r, strdup(c->record), err, errlen);
    }
    const struct placement_set *ps = &c->spec->placements;
    for (size_t i = 0; i < ps->n; i++) {
        const struct placement *p = &ps->v[i];
        char why[1024];
        int rc = regset_cluster(sc->regs, p->zk_location, &r, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; rc == 1 && j < c->nplaces; j++)
            dup = dup || c->places[j].reg == r;
        if (rc == 0 || dup) {
            /* nerve-tools skips a location without a topology file too. */
            log_info(c->spec->name, "not registered in %s: %s",
                     p->zk_location ? p->zk_location : "(unknown location)",
                     dup ? "a second placement in the same cluster" : why);
            continue;
        }
        if (add_place(c, r, record_json_labels(c->spec, p->labels, p->nlabels), err, errlen) != 0)
            return -1;
    }
    if (!c->nplaces)
        log_warn(c->spec->name, "placed in no ZooKeeper cluster: registered nowhere "
                                "(README \"Backends\", smartstack)");
    return 0;
}

/* Sets up one check for spec (record, node, probe); not started. */
static int check_init(struct sidecar *sc, struct check *c, struct check_spec *spec, char *err,
                      size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    c->sc = sc;
    health_init(&c->health, spec->rise, spec->fall);
    health_grace(&c->health, sc->started, spec->grace_ms / 1000.0);
    snprintf(c->last_detail, sizeof(c->last_detail), "not probed yet");
    if (spec->registered) {
        c->node = record_node(spec);
        c->record = record_json(spec);
        if (!c->node || !c->record) {
            snprintf(err, errlen, "%s: cannot encode the record", spec->name);
            return -1;
        }
        if (check_places(sc, c, err, errlen) != 0)
            return -1;
    }
    c->probe = probe_new(sc->loop, spec, sidecar_probe_result, c, err, errlen);
    return c->probe ? 0 : -1;
}

void checkset_clear(struct check *c)
{
    for (size_t i = 0; i < c->nplaces; i++)
        free(c->places[i].record);
    free(c->places);
    c->places = NULL;
    c->nplaces = 0;
    probe_free(c->probe);
    free(c->node);
    free(c->record);
    c->probe = NULL;
    c->node = c->record = NULL;
}

int checkset_init(struct sidecar *sc, char *err, size_t errlen)
{
    sc->checks = calloc(sc->cfg->nchecks ? sc->cfg->nchecks : 1, sizeof(*sc->checks));
    if (!sc->checks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sc->cfg->nchecks; i++) {
        sc->nchecks = i + 1;
        if (check_init(sc, &sc->checks[i], &sc->cfg->checks[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static struct check *find_check(struct sidecar *sc, const char *name)
{
    return (struct check *)sidecar_find(sc, name, strlen(name));
}

/* Indexes sc->checks by name; without memory, look-ups fall back to a scan. */
void checkset_index(struct sidecar *sc)
{
    names_free(sc->names);
    sc->names = names_new(sc->nchecks);
    for (size_t i = 0; sc->names && i < sc->nchecks; i++)
        if (names_add(sc->names, sc->checks[i].spec->name, i) != 0) {
            names_free(sc->names);
            sc->names = NULL;
        }
}

/* Build and compare: the checks of ncfg, each either marked to take over a
 * running check with an equal spec (from[i] = its index) or built fresh
 * (from[i] = -1, probe not started). Nothing running is touched, so a
 * failure only frees what was built here. */
struct check *checkset_build(struct sidecar *sc, struct mr_config *ncfg, long *from, char *err,
                             size_t errlen)
{
    struct check *n = calloc(ncfg->nchecks ? ncfg->nchecks : 1, sizeof(*n));
    bool *taken = calloc(sc->nchecks ? sc->nchecks : 1, sizeof(*taken));
    if (!n || !taken) {
        snprintf(err, errlen, "out of memory");
        free(n);
        free(taken);
        return NULL;
    }
    for (size_t i = 0; i < ncfg->nchecks; i++) {
        struct check *old = find_check(sc, ncfg->checks[i].name);
        from[i] = old && config_check_same(old->spec, &ncfg->checks[i]) ? old - sc->checks : -1;
        if (from[i] >= 0 && taken[from[i]])
            from[i] = -1; /* one running check moves to one new one */
        if (from[i] >= 0)
            taken[from[i]] = true;
        if (from[i] < 0 && check_init(sc, &n[i], &ncfg->checks[i], err, errlen) != 0) {
            for (size_t j = 0; j <= i; j++)
                if (from[j] < 0)
                    checkset_clear(&n[j]);
            free(n);
            free(taken);
            return NULL;
        }
    }
    free(taken);
    return n;
}

/* Migrate: unchanged checks move into n with their probe and health, new
 * ones start, removed or changed ones are deregistered and freed. Frees
 * the old array. */
void checkset_migrate(struct sidecar *sc, struct mr_config *ncfg, struct check *n, const long *from,
                      size_t *kept, size_t *added, size_t *removed)
{
    for (size_t i = 0; i < ncfg->nchecks; i++) {
        if (from[i] < 0) {
            probe_start(n[i].probe);
            (*added)++;
            continue;
        }
        n[i] = sc->checks[from[i]];
        n[i].spec = &ncfg->checks[i];
        probe_rebind(n[i].probe, n[i].spec, &n[i]);
        sc->checks[from[i]].probe = NULL; /* taken over */
        (*kept)++;
    }
    for (size_t i = 0; i < sc->nchecks; i++) {
        struct check *c = &sc->checks[i];
        if (!c->probe)
            continue;
        /* Removed or changed: its old record goes unless the new config
         * states the very same node again (sync_all then overwrites it). */
        for (size_t j = 0; j < c->nplaces; j++)
            reg_set(c->places[j].reg, c->spec->name, c->node, NULL);
        checkset_clear(c);
        (*removed)++;
    }
    free(sc->checks);
    sc->checks = NULL;
}
