/* The drain state machine: an enum that only drain_tick() advances
 * (pgbouncer's janitor). Signal handlers and POST /drain only *request* a
 * transition; the periodic tick looks at what the backend has confirmed and
 * the clock, and moves on. No I/O here: the caller passes `now` (seconds,
 * monotonic) and the number of backend operations still unconfirmed.
 *
 * Shutdown (SIGTERM/SIGINT):
 *   RUNNING -> DEREGISTERING   at once; every check stops being "up"
 *   DEREGISTERING -> WINDOW    when the backend confirmed every delete
 *                              (or the deregistration deadline passed)
 *   WINDOW -> STOPPING_APP     when the drain window (counted from the first
 *                              signal) is over, or a second signal came
 *                              (wrapper mode only; else straight to EXIT)
 *   STOPPING_APP -> EXIT       when the caller reports the app gone
 * A second signal never skips DEREGISTERING.
 *
 * An admin drain (POST /drain) is orthogonal: it takes registrations out of
 * the backend without stopping, until undrain or its expiry. */
#ifndef MESHREG_DRAIN_H
#define MESHREG_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

enum drain_phase {
    DRAIN_RUNNING,
    DRAIN_DEREGISTERING,
    DRAIN_WINDOW,
    DRAIN_STOPPING_APP,
    DRAIN_EXIT,
};

struct drain {
    enum drain_phase phase;
    double drain_seconds; /* the window */
    double dereg_timeout; /* bound on DEREGISTERING */
    bool wrapper;         /* an app child to stop after the window */

    /* shutdown */
    bool shutdown;        /* a shutdown was requested (or the app exited) */
    bool skip_window;     /* a second signal, or the app exited: no window */
    double shutdown_at;   /* time of the first request */
    double dereg_done_at; /* when DEREGISTERING ended (0 = not yet) */
    bool dereg_timed_out;
    bool app_gone;   /* wrapper: the child has exited */
    bool window_cut; /* adaptive drain: every poller has seen the drain */

    /* admin drain */
    bool admin; /* drained by request */
    double admin_at;
    double admin_expires_at; /* 0 = never */
    char reason[128];
};

void drain_init(struct drain *d, double drain_seconds, double dereg_timeout, bool wrapper);

/* Requests; they only record intent. */
void drain_request_shutdown(struct drain *d, double now);
void drain_request_admin(struct drain *d, double now, const char *reason, double expires_s);
void drain_request_undrain(struct drain *d);
/* --adaptive-drain: every load balancer that polls us has seen the drain;
 * the window may end now (deregistration still comes first). */
void drain_request_window_end(struct drain *d);
/* Wrapper mode: the app exited on its own; deregister and exit without a window. */
void drain_app_exited(struct drain *d, double now);

/* Advances the machine. `pending` is the number of backend operations not yet
 * confirmed. Returns the phase after the tick. */
enum drain_phase drain_tick(struct drain *d, double now, size_t pending);

/* True when registrations must not be up (shutdown started or admin drain). */
bool drain_is_draining(const struct drain *d);
bool drain_is_shutting_down(const struct drain *d);
/* True when a healthy check may be up (in the backend, 200 on /health):
 * no shutdown, and no admin drain unless the check registers nothing (a
 * worker's check answers for its pod, not for a backend record). */
bool drain_allows_up(const struct drain *d, bool registered);

/* Seconds left in the window that the current drain promises (0 when none
 * or over). For an admin drain it is counted from the drain request. */
double drain_window_remaining(const struct drain *d, double now);

const char *drain_phase_name(enum drain_phase p);

#endif
