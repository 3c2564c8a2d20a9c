/* hacheck's HTTP surface (README "hacheck compatibility"): /http/, /https/, /tcp/, /spool/,
 * POST /spool/, /recent and /status/count, with hacheck's status codes and bodies. A route for a
 * port and path meshreg probes is answered from probe state; any other is checked live against
 * this host as hacheck does (GET or connect, a 10 s result cache, Pragma: no-cache, at most
 * HACHECK_LIVE_MAX checks in flight), unless --hacheck-live off. */
#ifndef MESHREG_HACHECK_H
#define MESHREG_HACHECK_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "sidecar/admin/admin_view.h"

#define HACHECK_LIVE_MAX 16       /* live checks in flight */
#define HACHECK_CACHE_S 10.0      /* hacheck's cache_time */
#define HACHECK_TIMEOUT_MS 5000   /* one live check */
#define HACHECK_MAX_SERVICES 1024 /* names remembered for /recent and /status/count */

struct http1_request;
struct hacheck;
struct hacheck_live;

/* One answer: the caller owns body (malloc'd, may be NULL when len 0). */
struct hacheck_answer {
    int status;
    const char *content_type;
    char *body;
    size_t len;
};

/* Called once when a live check is done, unless it was cancelled. */
typedef void (*hacheck_done_cb)(void *arg, struct hacheck_answer *a);

struct hacheck_request {
    const char *kind; /* "http", "https", "tcp", "spool" */
    const char *rest; /* the path after "/<kind>/": "<svc>/<port>[/<path>]" */
    size_t rest_len;
    const char *query; /* after '?', NULL for none */
    size_t query_len;
    const struct http1_request *req; /* for its headers */
    const char *peer;                /* "ip:port" of the client */
    bool post, trusted;              /* POST /spool/: a changing request, and may it */
    const char *body;                /* POST: the form body */
    size_t body_len;
};

struct hacheck *hacheck_new(struct ev_loop *loop);
/* Cancels every live check in flight (their callbacks do not run). */
void hacheck_free(struct hacheck *h);

/* Answers one hacheck route. Returns 0 with *out filled, or 1 when a live
 * check was started: done(arg, answer) follows, and *live is its handle
 * for hacheck_cancel (only when done is not NULL; without done a live check
 * is answered 503 at once). */
int hacheck_route(struct hacheck *h, const struct admin_view *v, const struct hacheck_request *q,
                  struct hacheck_answer *out, hacheck_done_cb done, void *arg,
                  struct hacheck_live **live);
/* The client went away: its callback will not run. */
void hacheck_cancel(struct hacheck_live *l);

/* GET /recent[?threshold=S] and GET /status/count, as hacheck answers them. */
void hacheck_recent(struct hacheck *h, const char *query, size_t query_len,
                    struct hacheck_answer *out);
void hacheck_count(struct hacheck *h, struct hacheck_answer *out);

#endif
