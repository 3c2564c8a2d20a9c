/* The admin endpoint's routes (README "Admin / health endpoint"): one complete, parsed request in,
 * one reply out. No sockets here (admin.c owns the connections), so every route and the 403 rule
 * can be tested without a peer address we cannot fake. */
#ifndef MESHREG_ADMIN_ROUTE_H
#define MESHREG_ADMIN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "sidecar/admin/admin_view.h"
#include "sidecar/admin/hacheck.h"
#include "sidecar/admin/status.h"

struct http1_request;

/* What the routes answer from: the sidecar's view, and the /health body
 * kept between requests. One per admin endpoint; its owner clears the
 * cache (status_cache_clear) when done. */
struct admin_routes {
    struct admin_view view;
    struct status_cache health;
    struct hacheck *hacheck; /* hacheck's counters, cache and live checks (NULL: none) */
};

struct admin_reply {
    int status;
    const char *content_type;
    char *body; /* malloc'd (NULL when len == 0); the caller frees it */
    size_t len;
    const char *allow; /* value of an Allow header (405), else NULL */
};

/* Answers one request whose body (Content-Length bytes) is `body`.
 * trusted: the peer may use changing routes (see netaddr_peer_trusted);
 * peer: its text form, for the log line of a changing request.
 * HEAD is answered like GET; leaving the body out is the caller's job. */
void admin_route(struct admin_routes *rt, const struct http1_request *req, const char *body,
                 bool trusted, const char *peer, struct admin_reply *out);

/* The same, where a live hacheck check may answer later: returns true
 * (and fills nothing in out) when done(arg, answer) will follow; *live is
 * then the check, for hacheck_cancel() if the client goes away first. */
bool admin_route_async(struct admin_routes *rt, const struct http1_request *req, const char *body,
                       bool trusted, const char *peer, struct admin_reply *out,
                       hacheck_done_cb done, void *arg, struct hacheck_live **live);

/* Decodes one application/x-www-form-urlencoded component ('+' is a space,
 * %XX a byte) into out (NUL-terminated). Returns its length, or -1 for a
 * bad escape, a NUL byte or a result that does not fit in cap. */
long admin_route_form_decode(const char *s, size_t n, char *out, size_t cap);

#endif
