/* The HAProxy agent-check listener (README "Admin / health endpoint", `--agent-port`): every
 * connection gets one line for the whole process, then the connection closes.
 *
 *   "up ready 100%\n"  every check is up
 *   "drain\n"          not all up, and draining (admin drain or shutdown)
 *   "down\n"           otherwise
 *
 * "ready" rides along with "up" because HAProxy keeps an agent's "drain" as
 * an administrative state that only the word "ready" cancels: "up 100%"
 * alone would leave the server in DRAIN after an undrain (HAProxy's
 * configuration manual, "agent-check"; checked against haproxy 2.6). */
#ifndef MESHREG_AGENT_H
#define MESHREG_AGENT_H

#include <ev.h>
#include <stddef.h>

#include "sidecar/admin/admin_view.h"

struct agent;

/* Binds the host part of admin_addr ("0.0.0.0:6666" -> 0.0.0.0) on port
 * (0 = an ephemeral port, for tests) and starts accepting; answers from
 * view (copied; its owner must outlive the agent). Returns NULL with err
 * on failure. */
struct agent *agent_new(struct ev_loop *loop, const struct admin_view *view, const char *admin_addr,
                        int port, char *err, size_t errlen);
/* The port actually bound. */
int agent_port(const struct agent *a);
void agent_free(struct agent *a);

/* The line answered now (with its "\n"); a static string. */
const char *agent_line(const struct admin_view *v);

#endif
