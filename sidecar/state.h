/* Drains that survive a restart (--state-dir), like hacheck's spool files:
 * admin drains stay in force across a crash or an upgrade. One file,
 * DIR/drain.json, holds every drain in force (README "Drains"). */
#ifndef MESHREG_STATE_H
#define MESHREG_STATE_H

#include <stddef.h>

#include "sidecar/spool.h"

/* Creates DIR (and its parents, mode 0750) unless it exists, and checks it
 * is a directory we can write. dir NULL: nothing to do. */
int state_prepare(const char *dir, char *err, size_t errlen);

/* Writes DIR/drain.json atomically with every drain of s, or removes it
 * when s holds none. dir NULL: no-op. Returns -1 (logged) on failure. */
int state_save(const char *dir, const struct spool *s);

/* Restores the drains of DIR/drain.json not expired at `now` (Unix time)
 * into s. A file that cannot be read or parsed is logged and ignored; the
 * one-drain file of earlier versions ({"drained": true, ...}) is an `all`
 * drain. */
void state_load(const char *dir, struct spool *s, double now);

#endif
