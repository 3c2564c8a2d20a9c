/* The record a backend stores for one up registration (README "Backends"), in the format
 * nerve writes so synapse-style consumers read it unchanged:
 *   {"host":H,"port":P,"name":INSTANCE_ID,"weight":W,"labels":{...}}  */
#ifndef MESHREG_RECORD_H
#define MESHREG_RECORD_H

#include "config/config.h"

/* Returns the compact JSON record (keys in the order above) for a
 * registration with the given labels (one placement's, README "Backends"),
 * or NULL on allocation failure. Caller frees. */
char *record_json_labels(const struct check_spec *spec, const struct kv *labels, size_t nlabels);

/* The record with spec's own labels (the union of its placements': what a
 * single-cluster backend stores). */
char *record_json(const struct check_spec *spec);

/* Returns "<instance_id>_<port>", the record's node name. Caller frees. */
char *record_node(const struct check_spec *spec);

#endif
