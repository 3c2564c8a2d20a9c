/* Probing one check: a jittered schedule, a deadline on every attempt, and a
 * kind-specific attempt (http, tcp, cmd, ...) behind one const ops table per
 * kind. Everything runs on the libev loop; nothing blocks. A hung, slow,
 * closing or garbage-talking app is a failed attempt at its deadline.
 *
 * Honest under overload (README "Probes under load"): meshreg's own
 * slowness is never the app's failure. The deadline counts from when the
 * request really left, and before failing on it the attempt's I/O is run
 * once more (an answer already waiting in the socket passes); deadline and
 * schedule timers run after I/O in a loop iteration. At most
 * PROBE_MAX_IN_FLIGHT attempts run at once; past that, due attempts wait
 * their turn, and how late attempts start is probe_stats()' lag. */
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
    /* Runs now, without waiting, whatever I/O of the attempt in flight is
     * ready (the socket already holds the answer, the child already
     * exited). Returns 1 if that ended the attempt (probe_finish() ran and
     * p may be gone), else 0 with *sent set to when the request left (0:
     * not yet). NULL: the deadline counts from the start. */
    int (*poke)(struct probe *p, ev_tstamp *sent);
};

/* Attempts in flight at once, over all probes of the process. */
#define PROBE_MAX_IN_FLIGHT 512

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
    ev_tstamp due;               /* when the next attempt is due */
    bool waiting;                /* due, queued behind PROBE_MAX_IN_FLIGHT */
    struct probe *wprev, *wnext; /* the queue of waiting probes */
    bool *gone;                  /* set when freed while a poke runs */
};

/* The scheduler's load, over all probes of the process. */
struct probe_stats {
    double lag_seconds;     /* how late attempts started, max over the last ~10 s */
    double lag_max_seconds; /* the same since start */
    unsigned in_flight;     /* attempts running */
    unsigned waiting;       /* attempts due, waiting for a slot */
    unsigned long late;     /* attempts that started more than 1 s late */
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

void probe_stats(struct probe_stats *out);

/* For probe kinds: milliseconds since the current attempt started. */
double probe_elapsed_ms(const struct probe *p);

/* For probe kinds: the address to probe, the spec's or 127.0.0.1. */
const char *probe_host(const struct probe *p);

extern const struct probe_ops probe_http_ops;
extern const struct probe_ops probe_https_ops;
extern const struct probe_ops probe_tcp_ops;
extern const struct probe_ops probe_cmd_ops;
extern const struct probe_ops probe_grpc_ops;

#endif
