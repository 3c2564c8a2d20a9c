/* PaaSTA instance config (kubernetes-<cluster>.yaml) as PaaSTA writes it: a map
 * of instance -> settings. meshreg reads only its own instance's block and in it
 * only the keys of README "Configuration" (type-checked); every other key and every other
 * instance is PaaSTA's business and ignored. */
#ifndef MESHREG_INSTANCE_H
#define MESHREG_INSTANCE_H

#include <stdbool.h>

#include "config/settings.h"

struct diag;

struct instance_cfg {
    char *file;
    bool found; /* the file has a block for our instance */
    bool has_registrations;
    struct settings_list registrations; /* origins "FILE:LINE:COL" */
    char *healthcheck_mode;             /* NULL: unset */
    char *healthcheck_cmd;              /* NULL: unset */
    char *cmd_origin;                   /* "FILE:LINE:COL" of healthcheck_cmd */
    double interval_s;                  /* < 0: unset */
    double timeout_s;                   /* < 0: unset */
    int max_failures;                   /* < 0: unset */
    double grace_s;                     /* < 0: unset */
    int weight;                         /* < 0: unset */
    int drain_seconds;                  /* lifecycle.pre_stop_drain_seconds; < 0: unset */
    char *weight_origin, *drain_origin;
};

/* Reads path and the block of `instance` into out (zeroed or freed before).
 * A missing block is not an error (out->found stays false). Returns -1 after
 * adding every problem to d. */
int instance_load(const char *path, const char *instance, struct instance_cfg *out, struct diag *d);
void instance_free(struct instance_cfg *ic);

#endif
