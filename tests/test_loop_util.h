/* Driving a libev loop from a cmocka test: run_until (with the longest loop
 * stall seen), run_until_done (until a callback breaks the loop) and
 * wait_stopped for a server paused with SIGSTOP. Shared by the backend tests
 * (test_reg_etcd.c, test_zk_util.h) and the HTTP client tests (test_httpc.c,
 * test_h2c_client.c). Include after <cmocka.h> and <ev.h>. */
#ifndef MESHREG_TEST_LOOP_UTIL_H
#define MESHREG_TEST_LOOP_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline double loop_util_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits until every thread of pid is stopped (kill -STOP only asks; a
 * server may still answer a request meanwhile). */
static inline void wait_stopped(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    double end = loop_util_mono() + 20;
    for (;;) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        bool all = true;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[300], line[512];
            snprintf(path, sizeof path, "%s/%s/stat", dir, de->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue; /* the thread exited */
            char *rp = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
            fclose(f);
            if (rp && rp[1] == ' ' && rp[2] != 'T' && rp[2] != 't')
                all = false;
        }
        closedir(d);
        if (all)
            return;
        if (loop_util_mono() > end)
            fail_msg("process %d did not stop", (int)pid);
        usleep(10 * 1000);
    }
}

struct loop_util_waiter {
    bool (*pred)(void *);
    void *arg;
    ev_timer poll, limit;
    bool timed_out;
    double max_gap, last;
};

static inline void loop_util_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct loop_util_waiter *wt = w->data;
    double now = loop_util_mono();
    if (now - wt->last > wt->max_gap)
        wt->max_gap = now - wt->last;
    wt->last = now;
    if (wt->pred && wt->pred(wt->arg))
        ev_break(loop, EVBREAK_ONE);
}

static inline void loop_util_limit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct loop_util_waiter *wt = w->data;
    wt->timed_out = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until pred(arg) or timeout seconds; returns whether pred
 * became true (with pred NULL: whether the loop ran out of work first).
 * *max_gap (if given) is the longest the loop went without running our
 * 10 ms timer: the loop never blocked if it stays small. The loop's clock is
 * refreshed first: the tests block it themselves (shell commands). */
static inline bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, double timeout,
                             double *max_gap)
{
    struct loop_util_waiter wt = {.pred = pred, .arg = arg, .last = loop_util_mono()};
    if (max_gap)
        *max_gap = 0;
    ev_now_update(loop);
    if (pred && pred(arg))
        return true;
    ev_timer_init(&wt.poll, loop_util_poll_cb, 0.01, 0.01);
    ev_timer_init(&wt.limit, loop_util_limit_cb, timeout, 0);
    wt.poll.data = wt.limit.data = &wt;
    ev_timer_start(loop, &wt.poll);
    ev_timer_start(loop, &wt.limit);
    ev_run(loop, 0);
    ev_timer_stop(loop, &wt.poll);
    ev_timer_stop(loop, &wt.limit);
    if (max_gap)
        *max_gap = wt.max_gap;
    return pred ? pred(arg) : !wt.timed_out;
}

static inline void loop_util_guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until a callback breaks it or `guard_s` seconds. */
static inline void run_until_done(struct ev_loop *loop, double guard_s)
{
    ev_timer guard;

    ev_timer_init(&guard, loop_util_guard_cb, guard_s, 0.);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

/* A timer counting its ticks every 10 ms: proof the loop kept running other
 * work while a case streamed at it. */
struct loop_ticker {
    ev_timer w;
    int ticks;
};

static inline void loop_ticker_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ((struct loop_ticker *)w->data)->ticks++;
}

static inline void loop_ticker_start(struct ev_loop *loop, struct loop_ticker *t)
{
    t->ticks = 0;
    ev_timer_init(&t->w, loop_ticker_cb, 0.01, 0.01);
    t->w.data = t;
    ev_timer_start(loop, &t->w);
}

/* cmocka fixtures: a fresh loop as *state for each test. */
static inline int loop_setup(void **state)
{
    *state = ev_loop_new(EVFLAG_AUTO);
    return *state ? 0 : -1;
}

static inline int loop_teardown(void **state)
{
    ev_loop_destroy(*state);
    return 0;
}

/* Table-driven cases, one cmocka test per row (so a failure names its row
 * and every row counts): a row struct starts with `const char *name`; the
 * test gets a struct loop_row (a fresh loop and the row) as *state. */
struct loop_row {
    struct ev_loop *loop;
    const void *row;
};

static inline int loop_row_setup(void **state)
{
    static struct loop_row lr;

    lr.row = *state;
    lr.loop = ev_loop_new(EVFLAG_AUTO);
    *state = &lr;
    return lr.loop ? 0 : -1;
}

static inline int loop_row_teardown(void **state)
{
    ev_loop_destroy(((struct loop_row *)*state)->loop);
    return 0;
}

/* Fills out[0..n) with one test of fn per row of rows (n rows of
 * row_size bytes); returns n. */
static inline size_t loop_row_tests(struct CMUnitTest *out, CMUnitTestFunction fn, const void *rows,
                                    size_t row_size, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const void *row = (const char *)rows + i * row_size;

        out[i] = (struct CMUnitTest){*(const char *const *)row, fn, loop_row_setup,
                                     loop_row_teardown, (void *)row};
    }
    return n;
}

#endif
