/* PaaSTA smartstack.yaml: a map of namespace -> settings, validated like
 * PaaSTA's own paasta_tools/cli/schemas/smartstack_schema.json (every key of
 * it, additionalProperties false, proxy_port required), plus meshreg's two
 * healthcheck_mode extensions (cmd, grpc). Only the keys meshreg acts on are
 * kept in struct smartstack_ns; the proxy keys are checked and then ignored. */
#ifndef MESHREG_SMARTSTACK_H
#define MESHREG_SMARTSTACK_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

struct diag;
struct ytree_doc;

struct smartstack_xadv {
    char *src;  /* "region:uswest1-prod" */
    char **dst; /* "superregion:norcal-prod", ... */
    size_t ndst;
};

struct smartstack_ns {
    char *name;
    int line, col;                /* of the namespace key */
    int mode_line, mode_col;      /* of healthcheck_mode (or the key when absent) */
    int proxy_port;               /* -1 for null */
    char *mode;                   /* NULL: default http */
    char *healthcheck_mode;       /* NULL: default from mode */
    char *healthcheck_uri;        /* NULL: default /status */
    int healthcheck_port;         /* -1: default the app port */
    double healthcheck_timeout_s; /* < 0: default 1 */
    char *body_expect;
    struct kv *headers;
    size_t nheaders;
    bool has_advertise;
    char **advertise;
    size_t nadvertise;
    struct smartstack_xadv *xadv;
    size_t nxadv;
    char *discover;
};

struct smartstack {
    char *file;
    struct smartstack_ns *ns;
    size_t nns;
};

/* Reads and validates path. On any error returns -1 with every problem added
 * to d as "FILE:LINE:COL: message". */
int smartstack_load(const char *path, struct smartstack **out, struct diag *d);
/* The same for an already parsed document (doc->file names it in messages). */
int smartstack_from_doc(const struct ytree_doc *doc, struct smartstack **out, struct diag *d);
const struct smartstack_ns *smartstack_find(const struct smartstack *ss, const char *ns);
void smartstack_free(struct smartstack *ss);

#endif
