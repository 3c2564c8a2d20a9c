/* Probing one check: a jittered schedule, a deadline on every attempt, and a
 * kind-specific attempt (http, tcp, cmd, ...) behind one const ops table per
 * kind. Everything runs on the libev loop; nothing blocks. A hung, slow,
 * closing or garbage-talking app is a failed attempt at its deadline. */
#ifndef MESHREG_PROBE_H
#define MESHREG_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

struct probe;

/* Called once per finished attempt. `detail` is a short human text
 * ("200 in 3 ms", "timeout after 1000 ms", "connect: Connection refused"). */
typedef void (*probe_result_cb)(struct probe *p, bool pass, const char *detail, void *arg);

struct probe_ops {
    const char *name;
    /* Starts one attempt. It ends with exactly one probe_finish(), which may
     * come before start returns. Returns -1 only if it could not start
     * (it has then already called probe_finish with the reason). */
    int (*start)(struct probe *p);
    /* Aborts the attempt in flight (deadline, stop): releases fds, kills and
     * reaps children. No probe_finish() afterwards. */
    void (*cancel)(struct probe *p);
    /* Frees kind state (p->state); may be NULL. */
    void (*free)(struct probe *p);
};

struct probe {
    const struct probe_ops *ops;
    const struct check_spec *spec; /* not owned */
    struct ev_loop *loop;
    ev_timer schedule; /* next attempt */
    ev_timer deadline; /* current attempt's deadline */
    bool running;      /* an attempt is in flight */
    bool stopped;
    ev_tstamp started; /* of the current attempt */
    probe_result_cb cb;
    void *cb_arg;
    void *state; /* kind-specific */
    unsigned long attempts;
};

/* Picks the kind's ops from spec->probe. Fails (NULL, reason in err) for a
 * kind not built yet, a non-positive interval or timeout, or a cmd probe on
 * a loop other than ev_default_loop(): libev runs child watchers (ev_child)
 * only there, and its default loop reaps every child of the process, which
 * is what keeps killed check commands from lingering as zombies. */
struct probe *probe_new(struct ev_loop *loop, const struct check_spec *spec, probe_result_cb cb,
                        void *arg, char *err, size_t errlen);
/* Begins the schedule: the first attempt after a random fraction of one
 * interval (capped), then every interval with +-10% jitter. */
void probe_start(struct probe *p);
/* Stops scheduling and cancels any attempt in flight. */
void probe_stop(struct probe *p);
void probe_free(struct probe *p);
/* Reload: a running probe moves to an equal spec in a new configuration and
 * reports to a new owner; its schedule and any attempt in flight go on. */
void probe_rebind(struct probe *p, const struct check_spec *spec, void *arg);

/* For probe kinds: ends the current attempt. Stops the deadline, schedules
 * the next attempt, then calls the result callback as its very last action
 * (the callback may stop or free the probe). A kind must not touch p after
 * calling it. Ignored when no attempt is in flight. */
void probe_finish(struct probe *p, bool pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For probe kinds: milliseconds since the current attempt started. */
double probe_elapsed_ms(const struct probe *p);

extern const struct probe_ops probe_http_ops;
extern const struct probe_ops probe_https_ops;
extern const struct probe_ops probe_tcp_ops;
extern const struct probe_ops probe_cmd_ops;
extern const struct probe_ops probe_grpc_ops;

#endif
