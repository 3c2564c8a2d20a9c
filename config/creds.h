/* Backend credentials: user, password file, ZooKeeper ACL mode, checked
 * against the backend URI (README "Backend credentials"). */
#ifndef MESHREG_CREDS_H
#define MESHREG_CREDS_H

#include "config/config.h"

struct settings;
struct diag;

/* Fills cfg->auth from s: reads the password file (trailing newline
 * dropped; a file readable by group/others is a warning), refuses
 * combinations that cannot work. Returns -1 after adding every problem to d
 * (no message contains the password). */
int creds_load(const struct settings *s, struct mr_config *cfg, struct diag *d);
/* Wipes the password and frees everything; the struct is zeroed. */
void creds_free(struct mr_backend_auth *a);

#endif
