/* The blocking form of proto/httpc for command-line tools (`meshreg
 * drain|undrain|status`): one request run to completion on a private loop,
 * so there is one HTTP client, not two. Never call it from inside an event
 * loop. */
#ifndef MESHREG_HTTPC_FETCH_H
#define MESHREG_HTTPC_FETCH_H

#include <stdbool.h>

#include "proto/httpc.h"

/* A whole exchange run by httpc_fetch(); free with httpc_fetch_free(). */
struct httpc_answer {
    struct httpc_result res; /* res.body is body (or ""), res.error is errbuf */
    char *body;              /* malloc'd, NUL-terminated, when res.status != 0 */
    char errbuf[160];
    bool done;
};

/* Runs one request to completion on a private loop, for a command-line
 * tool (never inside an event loop): blocks until req's deadline at most
 * (see proto/httpc.h for how it counts).
 * Returns 0 with the outcome in *out (a failure is res.status == 0), or -1
 * when out of memory before the request could start. */
int httpc_fetch(const struct httpc_request *req, struct httpc_answer *out);
void httpc_fetch_free(struct httpc_answer *a);

#endif
