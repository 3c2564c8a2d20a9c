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

/* Deadline and schedule timers run after every I/O watcher that is ready in
 * the same loop iteration (libev runs higher priorities first; within one
 * priority the last queued runs first, which put a timer that expired
 * during a stall before the answer that arrived during it). */
#define PROBE_TIMER_PRI EV_MINPRI
/* An attempt that starts this much after it was due counts as late. */
#define PROBE_LATE_S 1.0
/* probe_stats' lag is the largest of the current and the previous window. */
#define PROBE_LAG_WINDOW_S 5.0
/* A deadline this close is as good as reached. */
#define PROBE_DEADLINE_SLACK_S 0.001

/* The scheduler's shared state: attempts in flight, the queue of due
 * attempts waiting for a slot, and how late attempts started. One per
 * process, like the probes' loop. */
static struct {
    unsigned in_flight, waiting;
    struct probe *head, *tail;
    bool starting; /* start_waiting() is running */
    double lag_cur, lag_prev, lag_max;
    ev_tstamp window_at;
    unsigned long late;
} sched;

static void lag_rotate(ev_tstamp now)
{
    if (now - sched.window_at < PROBE_LAG_WINDOW_S)
        return;
    sched.lag_prev = now - sched.window_at < 2 * PROBE_LAG_WINDOW_S ? sched.lag_cur : 0;
    sched.lag_cur = 0;
    sched.window_at = now;
}

static void lag_note(double lag, ev_tstamp now)
{
    lag_rotate(now);
    if (lag < 0)
        lag = 0;
    if (lag > sched.lag_cur)
        sched.lag_cur = lag;
    if (lag > sched.lag_max)
        sched.lag_max = lag;
    if (lag > PROBE_LATE_S)
        sched.late++;
}

void probe_stats(struct probe_stats *out)
{
    ev_tstamp now = ev_time();

    lag_rotate(now);
    memset(out, 0, sizeof(*out));
    out->lag_seconds = sched.lag_cur > sched.lag_prev ? sched.lag_cur : sched.lag_prev;
    /* The oldest waiting attempt is late already, started or not. */
    if (sched.head && now - sched.head->due > out->lag_seconds)
        out->lag_seconds = now - sched.head->due;
    out->lag_max_seconds = sched.lag_max > out->lag_seconds ? sched.lag_max : out->lag_seconds;
    out->in_flight = sched.in_flight;
    out->waiting = sched.waiting;
    out->late = sched.late;
}

static void wait_push(struct probe *p)
{
    p->waiting = true;
    p->wnext = NULL;
    p->wprev = sched.tail;
    if (sched.tail)
        sched.tail->wnext = p;
    else
        sched.head = p;
    sched.tail = p;
    sched.waiting++;
}

static void wait_remove(struct probe *p)
{
    if (!p->waiting)
        return;
    if (p->wprev)
        p->wprev->wnext = p->wnext;
    else
        sched.head = p->wnext;
    if (p->wnext)
        p->wnext->wprev = p->wprev;
    else
        sched.tail = p->wprev;
    p->wprev = p->wnext = NULL;
    p->waiting = false;
    sched.waiting--;
}

static void attempt(struct probe *p)
{
    ev_tstamp now = ev_time();

    lag_note(now - p->due, now);
    sched.in_flight++;
    p->running = true;
    p->attempts++;
    p->started = now;
    ev_timer_set(&p->deadline, p->spec->timeout_ms / 1000.0, 0.);
    ev_timer_start(p->loop, &p->deadline);
    /* start may finish synchronously, and the result callback may free p:
     * nothing here touches p afterwards. */
    p->ops->start(p);
}

/* Starts waiting attempts while slots are free, oldest first. An attempt
 * that finishes at once frees its slot from inside; the flag keeps that
 * from recursing. */
static void start_waiting(void)
{
    if (sched.starting)
        return;
    sched.starting = true;
    while (sched.head && sched.in_flight < PROBE_MAX_IN_FLIGHT) {
        struct probe *p = sched.head;

        wait_remove(p);
        attempt(p);
    }
    sched.starting = false;
}

/* An attempt ends (finished or cancelled): its slot goes to a waiting one. */
static void attempt_over(struct probe *p)
{
    ev_timer_stop(p->loop, &p->deadline);
    p->running = false;
    sched.in_flight--;
}

static void schedule_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;

    if (p->running || p->stopped || p->waiting)
        return;
    if (sched.in_flight >= PROBE_MAX_IN_FLIGHT) {
        wait_push(p);
        return;
    }
    attempt(p);
}

/* The deadline is reached only if, after the attempt's ready I/O has run,
 * the request left at least timeout ago (README "Probes under load"). */
static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;
    ev_tstamp sent = 0;
    double left;

    if (!p->running)
        return;
    if (p->ops->poke) {
        bool gone = false;

        p->gone = &gone;
        if (p->ops->poke(p, &sent) || gone || !p->running) {
            if (!gone)
                p->gone = NULL;
            return;
        }
        p->gone = NULL;
    }
    left = (sent > 0 ? sent : p->started) + p->spec->timeout_ms / 1000.0 - ev_time();
    if (left > PROBE_DEADLINE_SLACK_S) {
        ev_timer_set(&p->deadline, left, 0.);
        ev_timer_start(loop, &p->deadline);
        return;
    }
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
    p->due = ev_now(p->loop) + wait;
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
                 probe_kind_name(spec->probe));
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
    ev_set_priority(&p->schedule, PROBE_TIMER_PRI);
    ev_timer_init(&p->deadline, deadline_cb, 0., 0.);
    p->deadline.data = p;
    ev_set_priority(&p->deadline, PROBE_TIMER_PRI);
    return p;
}

void probe_start(struct probe *p)
{
    double first;

    if (!p)
        return;
    p->stopped = false;
    if (p->running || p->waiting)
        return; /* the attempt in flight or due schedules the next one */
    first = p->spec->interval_ms / 1000.0;
    if (first > PROBE_FIRST_MAX_S)
        first = PROBE_FIRST_MAX_S;
    first *= rand01();
    p->due = ev_now(p->loop) + first;
    ev_timer_stop(p->loop, &p->schedule);
    ev_timer_set(&p->schedule, first, 0.);
    ev_timer_start(p->loop, &p->schedule);
}

void probe_stop(struct probe *p)
{
    if (!p)
        return;
    p->stopped = true;
    ev_timer_stop(p->loop, &p->schedule);
    wait_remove(p);
    if (p->running) {
        attempt_over(p);
        p->ops->cancel(p);
        start_waiting();
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
    if (p->gone)
        *p->gone = true;
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
    attempt_over(p);
    if (!p->stopped)
        schedule_next(p);
    start_waiting();
    p->cb(p, pass, detail, p->cb_arg);
}

double probe_elapsed_ms(const struct probe *p)
{
    return (ev_time() - p->started) * 1000.0;
}

const char *probe_host(const struct probe *p)
{
    return p->spec->probe_host ? p->spec->probe_host : "127.0.0.1";
}
