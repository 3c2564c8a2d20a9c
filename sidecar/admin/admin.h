/* The admin / health endpoint (README "Admin / health endpoint"): HTTP/1.1 on one listening socket,
 * keep-alive, request limits, loopback-or-allowed peers for changing routes. */
#ifndef MESHREG_ADMIN_H
#define MESHREG_ADMIN_H

#include <ev.h>
#include <stddef.h>

#include "sidecar/admin/admin_view.h"

struct admin;

struct admin_limits {
    size_t max_head;        /* 16 KiB */
    size_t max_body;        /* 64 KiB */
    double request_timeout; /* 10 s for a whole request */
    size_t max_conns;       /* 4096 */
};

/* Binds and listens on addr ("0.0.0.0:6666", "[::1]:6666", "127.0.0.1:0")
 * and answers from view (copied; its owner must outlive the endpoint).
 * allow: CIDRs whose peers may drain/undrain besides loopback. */
struct admin *admin_new(struct ev_loop *loop, const struct admin_view *view, const char *addr,
                        char *const *allow, size_t nallow, const struct admin_limits *limits,
                        char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int admin_port(const struct admin *a);
void admin_free(struct admin *a);

#endif
