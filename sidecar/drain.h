/* The drain state machine: every shutdown decision of meshreg, as an enum
 * that only drain_tick() advances (pgbouncer's janitor). Signal handlers,
 * the app's exit and POST /drain only *record* a request; the tick looks at
 * what the caller reports (clock, unconfirmed backend operations, pollers
 * informed, registry stopped) and moves on. No I/O here: the caller acts on
 * the phase it gets back (README "Drain sequence").
 *
 * Shutdown phases and their transitions (t0 = the first SIGTERM/SIGINT, or
 * the app's exit):
 *
 *   RUNNING
 *     -> DEREGISTERING      a shutdown request (signal, or the app exited);
 *                           every check stops being "up" at once
 *   DEREGISTERING
 *     -> WINDOW             the backend confirmed every delete, or
 *                           t0 + dereg_timeout passed (dereg_timed_out)
 *   WINDOW                  the admin endpoint answers "draining"
 *     -> STOPPING_APP       (wrapper mode, app still running) or
 *     -> STOPPING_REGISTRY  (otherwise) when the window is over, which is
 *                           the first of (window_end says which):
 *                           - SKIPPED:  a second signal came
 *                           - APP_GONE: the app exited (nothing to drain for)
 *                           - FULL:     t0 + drain_seconds
 *                           - ADAPTIVE: adaptive drain, every recent poller
 *                             has been told (or, with a discovery backend,
 *                             none polls us: its readers are the backend's),
 *                             and t0 + min_seconds passed
 *   STOPPING_APP            the caller sent SIGTERM to the app
 *     -> STOPPING_REGISTRY  the app exited
 *     -> KILLING_APP        grace_seconds after the SIGTERM, app still there
 *   KILLING_APP             the caller sent SIGKILL
 *     -> STOPPING_REGISTRY  the app exited
 *   STOPPING_REGISTRY       the caller stopped the registry (ZooKeeper
 *                           session close, etcd lease revoke) on the running
 *                           loop
 *     -> EXIT               the registry reports it stopped, or
 *                           DRAIN_REGISTRY_STOP_S passed
 *   EXIT                    the caller ends its loop
 *
 * A second signal skips only what is left of the window: never
 * DEREGISTERING (it counts from the first signal), never the app's grace
 * (an app already asked to stop has been promised grace_seconds), never
 * STOPPING_REGISTRY. After the tick enters a phase that asks the caller to
 * act (STOPPING_APP, KILLING_APP, STOPPING_REGISTRY, EXIT) it returns, so
 * the caller sees every such phase once.
 *
 * An admin drain (POST /drain, `meshreg drain`) is not a shutdown: it lives
 * in sidecar/spool.c, per registration or all, like hacheck's spool files. */
#ifndef MESHREG_DRAIN_H
#define MESHREG_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

/* Bound on STOPPING_REGISTRY; the backends bound their own requests well
 * within it (etcd's revoke 0.5 s, ZooKeeper's close ~4.5 s at worst). */
#define DRAIN_REGISTRY_STOP_S 5.0

enum drain_phase {
    DRAIN_RUNNING,
    DRAIN_DEREGISTERING,
    DRAIN_WINDOW,
    DRAIN_STOPPING_APP,
    DRAIN_KILLING_APP,
    DRAIN_STOPPING_REGISTRY,
    DRAIN_EXIT,
};

/* Why the window ended (DRAIN_END_NONE while it has not). */
enum drain_window_end {
    DRAIN_END_NONE,
    DRAIN_END_FULL,
    DRAIN_END_SKIPPED,
    DRAIN_END_APP_GONE,
    DRAIN_END_ADAPTIVE,
};

/* What a SIGTERM/SIGINT meant, for the caller's log line. */
enum drain_signal {
    DRAIN_SIGNAL_FIRST,        /* the shutdown starts */
    DRAIN_SIGNAL_SKIP_WINDOW,  /* what is left of the window is skipped */
    DRAIN_SIGNAL_ALREADY_DONE, /* the window is already over or skipped */
};

/* The knobs a reload may change. */
struct drain_settings {
    double drain_seconds; /* the window, counted from t0 */
    double grace_seconds; /* wrapper mode: SIGTERM -> SIGKILL of the app */
    bool adaptive;        /* --adaptive-drain */
    double min_seconds;   /* adaptive floor (--min-drain-seconds; 0 without remote readers) */
    bool remote_readers;  /* a discovery backend: its readers learn of the
                           * deregistration from it, not by polling us */
};

/* What the caller reports at every tick. */
struct drain_input {
    double now;            /* monotonic seconds */
    size_t pending;        /* backend operations not yet confirmed */
    bool lbs_informed;     /* every recent poller has been answered draining enough */
    size_t lbs_polling;    /* how many load balancers polled recently */
    bool registry_stopped; /* the registry finished stopping */
};

struct drain {
    enum drain_phase phase;
    double drain_seconds;
    double dereg_timeout; /* bound on DEREGISTERING */
    double grace_seconds;
    bool adaptive;
    double min_seconds; /* never above drain_seconds */
    bool remote_readers;
    bool wrapper; /* an app child to stop after the window */

    /* shutdown */
    bool shutdown;        /* a shutdown was requested (or the app exited) */
    bool skip_window;     /* a second signal came */
    double shutdown_at;   /* t0 */
    double dereg_done_at; /* when DEREGISTERING ended (0 = not yet) */
    bool dereg_timed_out;
    bool app_gone; /* wrapper: the child has exited */
    enum drain_window_end window_end;
    double window_end_at; /* when WINDOW ended */
    double phase_since;   /* when the current phase was entered */
    bool reg_stop_timed_out;
};

/* Defaults besides the window: grace 30 s, no adaptive drain. */
void drain_init(struct drain *d, double drain_seconds, double dereg_timeout, bool wrapper);
/* Applies s (at start and on reload). A floor above the window is capped
 * to it: returns false then, so the caller can say so. */
bool drain_configure(struct drain *d, const struct drain_settings *s);

/* Requests; they only record intent. */
enum drain_signal drain_request_shutdown(struct drain *d, double now);
/* Wrapper mode: the app exited. Before a shutdown, this starts one (with
 * deregistration, without a window) and returns true. */
bool drain_app_exited(struct drain *d, double now);

/* Advances the machine; returns the phase after the tick. */
enum drain_phase drain_tick(struct drain *d, const struct drain_input *in);

/* A shutdown started: no check may be up (in the backend, 200 on /health). */
bool drain_is_shutting_down(const struct drain *d);

/* Seconds left in the shutdown window (0 when none or over). */
double drain_window_remaining(const struct drain *d, double now);

const char *drain_phase_name(enum drain_phase p);

#endif
