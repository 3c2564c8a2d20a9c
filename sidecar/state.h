/* Drain state that survives a restart (--state-dir), like hacheck's spool
 * files: an admin drain stays in force across a crash or an upgrade. */
#ifndef MESHREG_STATE_H
#define MESHREG_STATE_H

#include "sidecar/drain.h"

/* Writes (or removes, when not drained) DIR/drain.json. dir NULL: no-op.
 * `now` is the loop's clock; expiry is stored as wall-clock time. */
int state_save(const char *dir, const struct drain *d, double now);

/* Restores an admin drain from DIR/drain.json if present and not expired.
 * A file that cannot be read or parsed is logged and ignored. */
void state_load(const char *dir, struct drain *d, double now);

#endif
