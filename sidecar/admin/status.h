/* The JSON and text bodies the admin endpoint serves, built from in-memory
 * state only (never by probing). Each returns the HTTP status and a body the
 * caller frees with free(). */
#ifndef MESHREG_STATUS_H
#define MESHREG_STATUS_H

#include <stddef.h>

struct sidecar;

/* GET /health (name == NULL) or /health/<name>: 200 when every (that)
 * check is up, 503 otherwise, 404 for an unknown name. */
int status_health(const struct sidecar *sc, const char *name, size_t name_len, char **body,
                  size_t *len);
/* GET /status: every check's state, the drain state, the backend's. */
int status_full(const struct sidecar *sc, char **body, size_t *len);
/* GET /metrics: Prometheus text format. */
int status_metrics(const struct sidecar *sc, char **body, size_t *len);

/* Frees the cached /health body (at exit, so valgrind sees nothing left). */
void status_reset(void);

#endif
