/* The drain state machine (see drain.h for the phases and transitions). */
#include "sidecar/drain.h"

#include <stdio.h>
#include <string.h>

void drain_init(struct drain *d, double drain_seconds, double dereg_timeout, bool wrapper)
{
    memset(d, 0, sizeof(*d));
    d->phase = DRAIN_RUNNING;
    d->dereg_timeout = dereg_timeout;
    d->wrapper = wrapper;
    struct drain_settings s = {.drain_seconds = drain_seconds, .grace_seconds = 30};
    drain_configure(d, &s);
}

bool drain_configure(struct drain *d, const struct drain_settings *s)
{
    d->drain_seconds = s->drain_seconds < 0 ? 0 : s->drain_seconds;
    d->grace_seconds = s->grace_seconds < 0 ? 0 : s->grace_seconds;
    d->adaptive = s->adaptive;
    d->remote_readers = s->remote_readers;
    d->min_seconds = s->min_seconds < 0 ? 0 : s->min_seconds;
    if (d->min_seconds <= d->drain_seconds)
        return true;
    d->min_seconds = d->drain_seconds;
    return false;
}

static bool window_done(const struct drain *d)
{
    return d->phase > DRAIN_WINDOW;
}

enum drain_signal drain_request_shutdown(struct drain *d, double now)
{
    if (!d->shutdown) {
        d->shutdown = true;
        d->shutdown_at = now;
        return DRAIN_SIGNAL_FIRST;
    }
    if (d->skip_window || d->app_gone || window_done(d))
        return DRAIN_SIGNAL_ALREADY_DONE;
    d->skip_window = true; /* never skips DEREGISTERING: see drain_tick */
    return DRAIN_SIGNAL_SKIP_WINDOW;
}

bool drain_app_exited(struct drain *d, double now)
{
    bool first = !d->shutdown;
    d->app_gone = true;
    if (first) {
        d->shutdown = true;
        d->shutdown_at = now;
    }
    return first;
}

/* The one definition of "the shutdown window is over", and why. */
static enum drain_window_end window_end(const struct drain *d, const struct drain_input *in)
{
    if (d->skip_window)
        return DRAIN_END_SKIPPED;
    if (d->app_gone)
        return DRAIN_END_APP_GONE;
    if (in->now >= d->shutdown_at + d->drain_seconds)
        return DRAIN_END_FULL;
    /* The floor covers readers that learn of the deregistration through the
     * backend, which no poll count shows (README "Drain sequence"). */
    /* With no load balancer polling, the file: backend's readers are
     * unknown (serve the window); a discovery backend's readers are what the
     * floor is for, so the floor alone ends it. */
    bool informed = in->lbs_informed || (in->lbs_polling == 0 && d->remote_readers);
    if (d->adaptive && informed && in->now >= d->shutdown_at + d->min_seconds)
        return DRAIN_END_ADAPTIVE;
    return DRAIN_END_NONE;
}

/* The next phase from the current one, or the same when nothing moves. */
static enum drain_phase next_phase(struct drain *d, const struct drain_input *in)
{
    switch (d->phase) {
    case DRAIN_RUNNING:
        return d->shutdown ? DRAIN_DEREGISTERING : DRAIN_RUNNING;
    case DRAIN_DEREGISTERING:
        if (in->pending > 0 && in->now < d->shutdown_at + d->dereg_timeout)
            return DRAIN_DEREGISTERING;
        d->dereg_timed_out = in->pending > 0;
        d->dereg_done_at = in->now;
        return DRAIN_WINDOW;
    case DRAIN_WINDOW:
        if ((d->window_end = window_end(d, in)) == DRAIN_END_NONE)
            return DRAIN_WINDOW;
        d->window_end_at = in->now;
        return d->wrapper && !d->app_gone ? DRAIN_STOPPING_APP : DRAIN_STOPPING_REGISTRY;
    case DRAIN_STOPPING_APP:
        if (d->app_gone)
            return DRAIN_STOPPING_REGISTRY;
        return in->now >= d->phase_since + d->grace_seconds ? DRAIN_KILLING_APP
                                                            : DRAIN_STOPPING_APP;
    case DRAIN_KILLING_APP:
        return d->app_gone ? DRAIN_STOPPING_REGISTRY : DRAIN_KILLING_APP;
    case DRAIN_STOPPING_REGISTRY:
        if (in->registry_stopped)
            return DRAIN_EXIT;
        if (in->now < d->phase_since + DRAIN_REGISTRY_STOP_S)
            return DRAIN_STOPPING_REGISTRY;
        d->reg_stop_timed_out = true;
        return DRAIN_EXIT;
    case DRAIN_EXIT:
        break;
    }
    return DRAIN_EXIT;
}

/* Phases whose entry asks the caller to do something. */
static bool caller_acts(enum drain_phase p)
{
    return p == DRAIN_STOPPING_APP || p == DRAIN_KILLING_APP || p == DRAIN_STOPPING_REGISTRY ||
           p == DRAIN_EXIT;
}

enum drain_phase drain_tick(struct drain *d, const struct drain_input *in)
{
    for (;;) {
        enum drain_phase next = next_phase(d, in);
        if (next == d->phase)
            return d->phase;
        d->phase = next;
        d->phase_since = in->now;
        if (caller_acts(next))
            return next;
    }
}

bool drain_is_shutting_down(const struct drain *d)
{
    return d->shutdown || d->phase != DRAIN_RUNNING;
}

double drain_window_remaining(const struct drain *d, double now)
{
    double end;
    if (drain_is_shutting_down(d)) {
        if (d->skip_window || d->app_gone || window_done(d))
            return 0;
        end = d->shutdown_at + d->drain_seconds;
    } else {
        return 0;
    }
    return end > now ? end - now : 0;
}

const char *drain_phase_name(enum drain_phase p)
{
    switch (p) {
    case DRAIN_RUNNING:
        return "running";
    case DRAIN_DEREGISTERING:
        return "deregistering";
    case DRAIN_WINDOW:
        return "draining";
    case DRAIN_STOPPING_APP:
        return "stopping-app";
    case DRAIN_KILLING_APP:
        return "killing-app";
    case DRAIN_STOPPING_REGISTRY:
        return "stopping-registry";
    case DRAIN_EXIT:
        return "exiting";
    }
    return "?";
}
