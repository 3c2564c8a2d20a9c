/* The JSON and text bodies the admin endpoint serves, built from the sidecar's view only (never by
 * probing). Each returns the HTTP status and a body the caller frees with free(). */
#ifndef MESHREG_STATUS_H
#define MESHREG_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "sidecar/admin/admin_view.h"

/* GET /health for the whole process is what load balancers poll many times
 * a second: its body is kept and rebuilt only when the view's generation
 * moved. Owned by whoever answers /health (one per admin endpoint);
 * all-zero is empty. */
struct status_cache {
    bool valid;
    unsigned long generation;
    int code;
    char *body;
    size_t len;
};

/* Frees the kept body; the cache is empty (and usable) again. */
void status_cache_clear(struct status_cache *c);

/* GET /health (name == NULL, answered through cache) or /health/<name>:
 * 200 when every (that) check is up, 503 otherwise, 404 for an unknown name. */
int status_health(const struct admin_view *v, struct status_cache *cache, const char *name,
                  size_t name_len, char **body, size_t *len);
/* GET /status: every check's state, the drain state, the backend's. */
int status_full(const struct admin_view *v, char **body, size_t *len);

#endif
