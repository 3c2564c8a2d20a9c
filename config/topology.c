/* Topology files, parsed with the config layer's YAML tree so a malformed
 * one is reported at its line and column. */
#include "config/topology.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/cmem.h"
#include "config/config.h"
#include "config/diag.h"
#include "config/scheme.h"
#include "config/settings.h"
#include "config/ytree.h"

char *topology_path(const char *etc_dir, const char *cluster_type, const char *location)
{
    char *p = NULL;
    if (asprintf(&p, "%s/zookeeper_discovery/%s/%s.yaml", etc_dir, cluster_type, location) < 0)
        return NULL;
    return p;
}

/* One [host, port] item: host a non-empty string without ',' or ':' (it
 * goes into the client's "h:p,h:p" list), port 1-65535. */
static bool pair_ok(const struct ytree_node *it, struct diag *d)
{
    if (it->kind != YTREE_SEQ || it->nitems != 2) {
        diag_node(d, it, "expected a [host, port] pair, got %s",
                  it->kind == YTREE_SEQ ? "a list of another length" : ytree_type_name(it));
        return false;
    }
    const struct ytree_node *h = it->items[0], *p = it->items[1];
    bool ok = true;
    if (!ytree_is_scalar(h, YTREE_STR) || !*h->str || strpbrk(h->str, ",:/ \t")) {
        diag_node(d, h, "host must be a host name or IPv4 address, got %s",
                  ytree_is_scalar(h, YTREE_STR) ? "a string with ',', ':', '/' or blanks"
                                                : ytree_type_name(h));
        ok = false;
    }
    if (!ytree_is_scalar(p, YTREE_INT) || p->ival < 1 || p->ival > 65535) {
        if (ytree_is_scalar(p, YTREE_INT))
            diag_node(d, p, "port %lld is out of range 1..65535", p->ival);
        else
            diag_node(d, p, "port must be an integer, got %s", ytree_type_name(p));
        ok = false;
    }
    return ok;
}

static char *hosts_of(const struct ytree_node *root, struct diag *d)
{
    if (!root || root->kind != YTREE_SEQ || root->nitems == 0) {
        if (root)
            diag_node(d, root, "expected a non-empty list of [host, port] pairs, got %s",
                      root->kind == YTREE_SEQ ? "an empty list" : ytree_type_name(root));
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; i < root->nitems; i++)
        ok = pair_ok(root->items[i], d) && ok;
    if (!ok)
        return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < root->nitems; i++)
        cap += strlen(root->items[i]->items[0]->str) + 8;
    char *out = cmem_malloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < root->nitems; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s:%lld", i ? "," : "",
                                root->items[i]->items[0]->str, root->items[i]->items[1]->ival);
    return out;
}

int topology_load(const char *etc_dir, const char *cluster_type, const char *location,
                  char **hosts, char **path, char *err, size_t errlen)
{
    *hosts = NULL;
    if (path)
        *path = NULL;
    /* The location becomes a file name: nothing that climbs out of the folder. */
    if (!settings_name_ok(location)) {
        snprintf(err, errlen, "location '%s' is not a name usable as a topology file name",
                 location);
        return -1;
    }
    char *file = topology_path(etc_dir, cluster_type, location);
    if (!file) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct stat st;
    if (stat(file, &st) != 0 && errno == ENOENT) {
        if (path)
            *path = file;
        else
            free(file);
        return 0;
    }
    struct diag d;
    struct ytree_doc *doc = NULL;
    diag_init(&d);
    if (ytree_load_file(file, &doc, &d) == 0) {
        if (!doc->root)
            diag_add(&d, "%s:1:1: empty file; expected a list of [host, port] pairs", file);
        else
            *hosts = hosts_of(doc->root, &d);
    }
    diag_copy(&d, err, errlen);
    diag_free(&d);
    ytree_doc_free(doc);
    if (path)
        *path = file;
    else
        free(file);
    return *hosts ? 1 : -1;
}

/* The cluster type of cfg's backend, or NULL when it is not multi-cluster. */
static char *multi_cluster_type(const struct mr_config *cfg)
{
    char err[256];
    const struct scheme *sch = scheme_find(cfg->backend);
    return sch && sch->multi_cluster ? scheme_cluster_type(cfg->backend, err, sizeof(err)) : NULL;
}

int topology_check_config(const struct mr_config *cfg, struct diag *d)
{
    char *type = multi_cluster_type(cfg);
    const char **done = NULL; /* one report per file, however many registrations use it */
    size_t ndone = 0;
    int rc = 0;
    for (size_t i = 0; type && i < cfg->nchecks; i++) {
        const struct placement_set *ps = &cfg->checks[i].placements;
        for (size_t j = 0; j < ps->n; j++) {
            const char *loc = ps->v[j].zk_location;
            bool seen = !loc;
            for (size_t k = 0; k < ndone && !seen; k++)
                seen = strcmp(done[k], loc) == 0;
            if (seen)
                continue;
            done = cmem_realloc(done, (ndone + 1) * sizeof(*done));
            done[ndone++] = loc;
            char err[2048], *hosts = NULL;
            if (topology_load(cfg->etc_dir, type, loc, &hosts, NULL, err, sizeof(err)) < 0) {
                diag_add(d, "%s", err);
                rc = -1;
            }
            free(hosts);
        }
    }
    free(done);
    free(type);
    return rc;
}

bool topology_describe(const char *zk_location, char *desc, size_t desclen, void *arg)
{
    const struct mr_config *cfg = arg;
    char *type = multi_cluster_type(cfg), *hosts = NULL, err[512];
    bool found = type && topology_load(cfg->etc_dir, type, zk_location, &hosts, NULL, err,
                                       sizeof(err)) == 1;
    if (found)
        snprintf(desc, desclen, "zk://%s%s", hosts, PLACEMENT_ZK_ROOT);
    free(hosts);
    free(type);
    return found;
}
