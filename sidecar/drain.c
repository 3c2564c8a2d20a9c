/* The drain state machine (see drain.h for the phases). */
#include "sidecar/drain.h"

#include <stdio.h>
#include <string.h>

void drain_init(struct drain *d, double drain_seconds, double dereg_timeout, bool wrapper)
{
    memset(d, 0, sizeof(*d));
    d->phase = DRAIN_RUNNING;
    d->drain_seconds = drain_seconds < 0 ? 0 : drain_seconds;
    d->dereg_timeout = dereg_timeout;
    d->wrapper = wrapper;
}

void drain_request_shutdown(struct drain *d, double now)
{
    if (d->shutdown)
        d->skip_window = true; /* never skips DEREGISTERING: see drain_tick */
    else
        d->shutdown_at = now;
    d->shutdown = true;
}

void drain_request_admin(struct drain *d, double now, const char *reason, double expires_s)
{
    /* A repeated drain refreshes reason and expiry but keeps the original
     * start: the window promised to the first caller does not move. */
    if (!d->admin)
        d->admin_at = now;
    d->admin = true;
    d->admin_expires_at = expires_s > 0 ? now + expires_s : 0;
    snprintf(d->reason, sizeof(d->reason), "%s", reason && *reason ? reason : "");
}

void drain_request_undrain(struct drain *d)
{
    d->admin = false;
    d->admin_expires_at = 0;
    d->reason[0] = '\0';
}

void drain_request_window_end(struct drain *d)
{
    d->window_cut = true;
}

void drain_app_exited(struct drain *d, double now)
{
    d->app_gone = true;
    /* Nothing left to drain: no window, but still deregister first. */
    if (!d->shutdown)
        d->shutdown_at = now;
    d->shutdown = true;
    d->skip_window = true;
}

/* The one definition of "the shutdown window is over". */
static bool window_over(const struct drain *d, double now)
{
    return d->skip_window || d->window_cut || now >= d->shutdown_at + d->drain_seconds;
}

enum drain_phase drain_tick(struct drain *d, double now, size_t pending)
{
    if (d->admin && d->admin_expires_at > 0 && now >= d->admin_expires_at)
        drain_request_undrain(d);

    for (;;) {
        enum drain_phase before = d->phase;
        switch (d->phase) {
        case DRAIN_RUNNING:
            if (d->shutdown)
                d->phase = DRAIN_DEREGISTERING;
            break;
        case DRAIN_DEREGISTERING:
            if (pending == 0 || now >= d->shutdown_at + d->dereg_timeout) {
                d->dereg_timed_out = pending != 0;
                d->dereg_done_at = now;
                d->phase = DRAIN_WINDOW;
            }
            break;
        case DRAIN_WINDOW:
            if (window_over(d, now))
                d->phase = d->wrapper && !d->app_gone ? DRAIN_STOPPING_APP : DRAIN_EXIT;
            break;
        case DRAIN_STOPPING_APP:
            if (d->app_gone)
                d->phase = DRAIN_EXIT;
            break;
        case DRAIN_EXIT:
            break;
        }
        if (d->phase == before)
            return d->phase;
    }
}

bool drain_is_shutting_down(const struct drain *d)
{
    return d->shutdown || d->phase != DRAIN_RUNNING;
}

bool drain_is_draining(const struct drain *d)
{
    return d->admin || drain_is_shutting_down(d);
}

bool drain_allows_up(const struct drain *d, bool registered)
{
    return !drain_is_shutting_down(d) && (!registered || !d->admin);
}

double drain_window_remaining(const struct drain *d, double now)
{
    double end;
    if (drain_is_shutting_down(d)) {
        if (window_over(d, now) || d->phase == DRAIN_STOPPING_APP || d->phase == DRAIN_EXIT)
            return 0;
        end = d->shutdown_at + d->drain_seconds;
    } else if (d->admin) {
        end = d->admin_at + d->drain_seconds;
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
    case DRAIN_EXIT:
        return "exiting";
    }
    return "?";
}
