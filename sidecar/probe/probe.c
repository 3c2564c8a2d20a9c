/* The probe scheduler, common to every kind: when to attempt, the deadline
 * of each attempt, and handing the result to the owner. What an attempt
 * does lives in probe_<kind>.c behind struct probe_ops. */
#include "sidecar/probe/probe.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* The first attempt comes after a random fraction of the interval, but no
 * later than this, so that start-up is quick even with long intervals. */
#define PROBE_FIRST_MAX_S 1.0
/* Each later interval is stretched or shrunk by up to this fraction, so
 * probes started together drift apart instead of probing in lockstep. */
#define PROBE_JITTER 0.10

/* The kinds built so far; NULL: the kind exists in config but its probe
 * does not yet. */
static const struct probe_ops *const probe_kinds[] = {
    [PROBE_HTTP] = &probe_http_ops, [PROBE_HTTPS] = &probe_https_ops, [PROBE_TCP] = &probe_tcp_ops,
    [PROBE_CMD] = &probe_cmd_ops,   [PROBE_GRPC] = &probe_grpc_ops,
};

/* A small non-cryptographic generator (xorshift64*): jitter needs spread,
 * not secrecy, and must not consume the caller's rand() sequence. */
static uint64_t rng_state;

static double rand01(void)
{
    uint64_t x;

    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) != sizeof(rng_state))
            rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        if (rng_state == 0)
            rng_state = 0x9e3779b97f4a7c15ULL;
    }
    x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0; /* / 2^53 */
}

static void attempt(struct probe *p)
{
    p->running = true;
    p->attempts++;
    p->started = ev_time();
    ev_timer_set(&p->deadline, p->spec->timeout_ms / 1000.0, 0.);
    ev_timer_start(p->loop, &p->deadline);
    /* start may finish synchronously, and the result callback may free p:
     * nothing here touches p afterwards. */
    p->ops->start(p);
}

static void schedule_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;

    if (p->running || p->stopped)
        return;
    attempt(p);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;

    if (!p->running)
        return;
    p->ops->cancel(p);
    probe_finish(p, false, "timeout after %d ms", p->spec->timeout_ms);
}

/* Next attempt one jittered interval after the start of the last one, so
 * the period does not stretch by each attempt's duration, but never sooner
 * than a tenth of an interval after it ended. */
static void schedule_next(struct probe *p)
{
    double interval = p->spec->interval_ms / 1000.0;
    double period = interval * (1.0 - PROBE_JITTER + 2.0 * PROBE_JITTER * rand01());
    double wait = period - (ev_time() - p->started);

    if (wait < interval * PROBE_JITTER)
        wait = interval * PROBE_JITTER;
    ev_timer_stop(p->loop, &p->schedule);
    ev_timer_set(&p->schedule, wait, 0.);
    ev_timer_start(p->loop, &p->schedule);
}

struct probe *probe_new(struct ev_loop *loop, const struct check_spec *spec, probe_result_cb cb,
                        void *arg, char *err, size_t errlen)
{
    const struct probe_ops *ops = NULL;
    struct probe *p;

    if ((unsigned)spec->probe >= sizeof(probe_kinds) / sizeof(probe_kinds[0])) {
        snprintf(err, errlen, "%s: unknown probe kind %d", spec->name, (int)spec->probe);
        return NULL;
    }
    ops = probe_kinds[spec->probe];
    if (!ops) {
        snprintf(err, errlen, "%s: %s probes not supported yet", spec->name,
                 config_probe_kind_name(spec->probe));
        return NULL;
    }
    if (spec->interval_ms <= 0 || spec->timeout_ms <= 0) {
        snprintf(err, errlen, "%s: probe interval and timeout must be positive", spec->name);
        return NULL;
    }
    if (spec->probe == PROBE_CMD && !ev_is_default_loop(loop)) {
        snprintf(err, errlen, "%s: cmd probes need the default libev loop", spec->name);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", spec->name);
        return NULL;
    }
    p->ops = ops;
    p->spec = spec;
    p->loop = loop;
    p->cb = cb;
    p->cb_arg = arg;
    p->stopped = true;
    ev_timer_init(&p->schedule, schedule_cb, 0., 0.);
    p->schedule.data = p;
    ev_timer_init(&p->deadline, deadline_cb, 0., 0.);
    p->deadline.data = p;
    return p;
}

void probe_start(struct probe *p)
{
    double first;

    if (!p)
        return;
    p->stopped = false;
    if (p->running)
        return; /* the attempt in flight schedules the next one */
    first = p->spec->interval_ms / 1000.0;
    if (first > PROBE_FIRST_MAX_S)
        first = PROBE_FIRST_MAX_S;
    ev_timer_stop(p->loop, &p->schedule);
    ev_timer_set(&p->schedule, first * rand01(), 0.);
    ev_timer_start(p->loop, &p->schedule);
}

void probe_stop(struct probe *p)
{
    if (!p)
        return;
    p->stopped = true;
    ev_timer_stop(p->loop, &p->schedule);
    if (p->running) {
        ev_timer_stop(p->loop, &p->deadline);
        p->running = false;
        p->ops->cancel(p);
    }
}

void probe_rebind(struct probe *p, const struct check_spec *spec, void *arg)
{
    p->spec = spec;
    p->cb_arg = arg;
}

void probe_free(struct probe *p)
{
    if (!p)
        return;
    probe_stop(p);
    if (p->ops->free)
        p->ops->free(p);
    p->state = NULL;
    free(p);
}

void probe_finish(struct probe *p, bool pass, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    if (!p->running)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    ev_timer_stop(p->loop, &p->deadline);
    p->running = false;
    if (!p->stopped)
        schedule_next(p);
    p->cb(p, pass, detail, p->cb_arg);
}

double probe_elapsed_ms(const struct probe *p)
{
    return (ev_time() - p->started) * 1000.0;
}
