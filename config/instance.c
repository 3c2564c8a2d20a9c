#include "config/instance.h"

#include <stdlib.h>
#include <string.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/yschema.h"
#include "config/ytree.h"

static const struct yschema s_str_list = {.types = YS_LIST,
                                          .items = &(const struct yschema){.types = YS_STRING}};

static const struct yschema_prop lifecycle_props[] = {
    {"pre_stop_drain_seconds",
     &(const struct yschema){
         .types = YS_INT, .has_min = true, .min = 0, .has_max = true, .max = 86400}},
    {NULL, NULL}};

/* Only the keys meshreg reads; the block stays open to everything else. */
static const struct yschema_prop block_props[] = {
    {"registrations", &s_str_list},
    {"healthcheck_mode", &(const struct yschema){.enumv = probe_kind_names}},
    {"healthcheck_cmd", &(const struct yschema){.types = YS_STRING}},
    {"healthcheck_interval_seconds",
     &(const struct yschema){
         .types = YS_NUMBER, .has_min = true, .min = 0.01, .has_max = true, .max = 86400}},
    {"healthcheck_timeout_seconds",
     &(const struct yschema){
         .types = YS_NUMBER, .has_min = true, .min = 0.001, .has_max = true, .max = 86400}},
    {"healthcheck_max_consecutive_failures",
     &(const struct yschema){
         .types = YS_INT, .has_min = true, .min = 1, .has_max = true, .max = 1000}},
    {"healthcheck_grace_period_seconds",
     &(const struct yschema){
         .types = YS_NUMBER, .has_min = true, .min = 0, .has_max = true, .max = 86400}},
    {"weight",
     &(const struct yschema){
         .types = YS_INT, .has_min = true, .min = 0, .has_max = true, .max = 65535}},
    {"lifecycle", &(const struct yschema){.types = YS_MAP, .props = lifecycle_props}},
    {NULL, NULL}};

static const struct yschema s_block = {.types = YS_MAP, .props = block_props};

static char *origin(const struct ytree_node *n)
{
    return cmem_printf("%s:%d:%d", n->file, n->line, n->col);
}

static void extract(struct instance_cfg *ic, const struct ytree_node *b)
{
    const struct ytree_node *n;
    if ((n = ytree_map_get(b, "registrations"))) {
        ic->has_registrations = true;
        for (size_t i = 0; i < n->nitems; i++) {
            struct settings_item *it =
                cmem_push(&ic->registrations.items, &ic->registrations.n, sizeof(*it));
            it->value = cmem_strdup(n->items[i]->str);
            it->origin = origin(n->items[i]);
        }
    }
    if ((n = ytree_map_get(b, "healthcheck_mode")))
        ic->healthcheck_mode = cmem_strdup(n->str);
    if ((n = ytree_map_get(b, "healthcheck_cmd"))) {
        ic->healthcheck_cmd = cmem_strdup(n->str);
        ic->cmd_origin = origin(n);
    }
    if ((n = ytree_map_get(b, "healthcheck_interval_seconds")))
        ic->interval_s = n->fval;
    if ((n = ytree_map_get(b, "healthcheck_timeout_seconds")))
        ic->timeout_s = n->fval;
    if ((n = ytree_map_get(b, "healthcheck_max_consecutive_failures")))
        ic->max_failures = (int)n->ival;
    if ((n = ytree_map_get(b, "healthcheck_grace_period_seconds")))
        ic->grace_s = n->fval;
    if ((n = ytree_map_get(b, "weight"))) {
        ic->weight = (int)n->ival;
        ic->weight_origin = origin(n);
    }
    if ((n = ytree_map_get(ytree_map_get(b, "lifecycle"), "pre_stop_drain_seconds"))) {
        ic->drain_seconds = (int)n->ival;
        ic->drain_origin = origin(n);
    }
}

int instance_load(const char *path, const char *instance, struct instance_cfg *ic, struct diag *d)
{
    struct ytree_doc *doc = NULL;
    memset(ic, 0, sizeof(*ic));
    ic->file = cmem_strdup(path);
    ic->interval_s = ic->timeout_s = ic->grace_s = -1;
    ic->max_failures = ic->weight = ic->drain_seconds = -1;
    if (ytree_load_file(path, &doc, d) < 0)
        return -1;
    int rc = 0;
    const struct ytree_node *root = doc->root;
    if (root && root->kind != YTREE_MAP) {
        diag_node(d, root, "top level: expected a map of instance -> settings, got %s",
                  ytree_type_name(root));
        rc = -1;
        goto out;
    }
    for (size_t i = 0; root && i < root->npairs; i++) {
        const struct ytree_node *k = root->pairs[i].key, *b = root->pairs[i].value;
        if (strcmp(k->str, instance) != 0)
            continue;
        if (yschema_check(&s_block, b, k, k->str, d) > 0) {
            rc = -1;
            goto out;
        }
        ic->found = true;
        extract(ic, b);
    }
out:
    ytree_doc_free(doc);
    return rc;
}

void instance_free(struct instance_cfg *ic)
{
    if (!ic)
        return;
    free(ic->file);
    for (size_t i = 0; i < ic->registrations.n; i++) {
        free(ic->registrations.items[i].value);
        free(ic->registrations.items[i].origin);
    }
    free(ic->registrations.items);
    free(ic->healthcheck_mode);
    free(ic->healthcheck_cmd);
    free(ic->cmd_origin);
    free(ic->weight_origin);
    free(ic->drain_origin);
    memset(ic, 0, sizeof(*ic));
}
