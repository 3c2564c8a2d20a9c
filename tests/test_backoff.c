/* The backends' reconnect/retry backoff (sidecar/backend/backoff.h): within
 * its bounds, growing with failures, reset by a success, and jittered: a
 * fleet that fails at the same instant does not retry at the same instant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sidecar/backend/backoff.h"

#define FLEET 500
#define BUCKETS 20

/* The (min, max) pairs the backends use, plus the edge cases. */
static const double bounds[][2] = {
    {0.1, 5.0},   /* reg.c's retries, reg_zk.c's reopen */
    {0.025, 0.5}, /* reg_etcd.c's session */
    {0.3, 0.5},   /* 2*min above max: the first step is already capped */
    {1.0, 1.0},   /* no room: always min */
    {0.2, 0.1},   /* max below min: taken as min */
};

static void every_delay_is_within_min_and_max(void **state)
{
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        double min = bounds[i][0], max = bounds[i][1] < min ? min : bounds[i][1];
        struct backoff b;
        backoff_init(&b, bounds[i][0], bounds[i][1]);
        double lo = 1e9, hi = 0;
        for (int n = 0; n < 20000; n++) {
            if (n % 37 == 0) /* successes now and then: the early steps again */
                backoff_reset(&b);
            double d = backoff_next(&b);
            if (d < min || d > max)
                fail_msg("bounds [%g, %g]: draw %d is %g", min, max, n, d);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        print_message("# [%g, %g]: drew %.4f .. %.4f\n", min, max, lo, hi);
        /* Both ends are reached, nearly: the bounds are the real range. */
        assert_true(lo < min + (max - min) * 0.01 + 1e-12);
        assert_true(hi > max - (max - min) * 0.01 - 1e-12);
    }
}

/* Step k (from 0) of [min, max] = [0.1, 5] draws from [0.1*2^k, 0.1*2^(k+1)]
 * until the ceiling reaches 5, then from [2.5, 5]: each draw at least the one
 * before, for any seed. */
static void delays_grow_with_failures_up_to_the_cap(void **state)
{
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct backoff b;
        backoff_init_seeded(&b, 0.1, 5.0, seed);
        double prev = 0, ceil = 0.2;
        for (int k = 0; k < 12; k++) {
            double d = backoff_next(&b);
            double lo = ceil / 2 < 0.1 ? 0.1 : ceil / 2;
            if (d < lo || d > ceil)
                fail_msg("seed %llu step %d: %g not in [%g, %g]", (unsigned long long)seed, k, d,
                         lo, ceil);
            if (ceil < 5.0 && d < prev)
                fail_msg("seed %llu step %d: %g after %g", (unsigned long long)seed, k, d, prev);
            prev = d;
            ceil = ceil * 2 > 5.0 ? 5.0 : ceil * 2;
        }
    }
    /* The mean over a fleet doubles per step while the ceiling doubles
     * (0.2 .. 3.2), then rises once more to the cap's 3.75. */
    double mean[8] = {0};
    for (int i = 0; i < FLEET; i++) {
        struct backoff b;
        backoff_init(&b, 0.1, 5.0);
        for (int k = 0; k < 8; k++)
            mean[k] += backoff_next(&b) / FLEET;
    }
    for (int k = 0; k < 8; k++)
        print_message("# step %d: mean %.3f s\n", k, mean[k]);
    for (int k = 1; k < 5; k++)
        assert_true(mean[k] > mean[k - 1] * 1.8);
    assert_true(mean[5] > mean[4] * 1.4);
    assert_true(fabs(mean[7] - 3.75) < 0.2); /* the middle of [2.5, 5] */
}

static void reset_starts_from_the_first_step_again(void **state)
{
    struct backoff b;
    backoff_init(&b, 0.1, 5.0);
    for (int k = 0; k < 10; k++)
        backoff_next(&b);
    assert_true(backoff_next(&b) >= 2.5);
    backoff_reset(&b);
    double d = backoff_next(&b);
    assert_true(d >= 0.1 && d <= 0.2);
    d = backoff_next(&b);
    assert_true(d >= 0.2 && d <= 0.4);
    /* A reset before any failure changes nothing. */
    struct backoff c;
    backoff_init(&c, 0.025, 0.5);
    backoff_reset(&c);
    d = backoff_next(&c);
    assert_true(d >= 0.025 && d <= 0.05);
}

/* The delays of a fleet at one step, in BUCKETS equal parts of [lo, hi]:
 * how many parts are used, the fullest one, and the standard deviation. */
struct spread {
    int used, fullest;
    double sd;
};

static struct spread spread_of(const double *d, int n, double lo, double hi)
{
    int count[BUCKETS] = {0};
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) {
        int k = (int)((d[i] - lo) / (hi - lo) * BUCKETS);
        count[k < 0 ? 0 : k >= BUCKETS ? BUCKETS - 1 : k]++;
        mean += d[i] / n;
    }
    for (int i = 0; i < n; i++)
        var += (d[i] - mean) * (d[i] - mean) / n;
    struct spread s = {0, 0, sqrt(var)};
    for (int k = 0; k < BUCKETS; k++) {
        s.used += count[k] > 0;
        s.fullest = count[k] > s.fullest ? count[k] : s.fullest;
    }
    return s;
}

/* Uniform over [lo, hi]: sd (hi - lo)/sqrt(12), 25 per bucket on average.
 * Lock-step (no jitter) puts everything in one bucket with sd 0; a scheme
 * that clumps (e.g. clipping most draws to the cap) fills one bucket far
 * past its share. */
static void assert_spread(const char *what, const double *d, double lo, double hi)
{
    struct spread s = spread_of(d, FLEET, lo, hi);
    double uniform_sd = (hi - lo) / sqrt(12.0);
    print_message("# %s: %d of %d buckets used, fullest %d (share %d), sd %.4f (uniform %.4f)\n",
                  what, s.used, BUCKETS, s.fullest, FLEET / BUCKETS, s.sd, uniform_sd);
    assert_true(s.used >= BUCKETS - 2);
    assert_true(s.fullest <= 3 * FLEET / BUCKETS);
    assert_true(s.sd >= 0.8 * uniform_sd);
}

static int distinct(const double *d, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = d[j] == d[i];
        k += !seen;
    }
    return k;
}

/* 500 sidecars lose the ensemble at the same instant: their first retries
 * and their retries at the cap (1000 draws) are spread over the step's whole
 * range, no two the same. */
static void a_fleet_at_the_same_step_is_spread(void **state)
{
    static double first[FLEET], capped[FLEET];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < FLEET; i++) {
            struct backoff b;
            /* pass 0: as a process seeds itself; pass 1: consecutive seeds */
            if (pass == 0)
                backoff_init(&b, 0.1, 5.0);
            else
                backoff_init_seeded(&b, 0.1, 5.0, (uint64_t)i);
            first[i] = backoff_next(&b);
            for (int k = 0; k < 9; k++)
                capped[i] = backoff_next(&b);
        }
        assert_spread(pass ? "first retry, seeds 0..499" : "first retry", first, 0.1, 0.2);
        assert_spread(pass ? "at the cap, seeds 0..499" : "at the cap", capped, 2.5, 5.0);
        assert_int_equal(distinct(first, FLEET), FLEET);
        assert_int_equal(distinct(capped, FLEET), FLEET);
    }
    /* etcd's bounds: the first retry is spread too, over [25, 50] ms. */
    for (int i = 0; i < FLEET; i++) {
        struct backoff b;
        backoff_init(&b, 0.025, 0.5);
        first[i] = backoff_next(&b);
    }
    assert_spread("etcd first retry", first, 0.025, 0.05);
}

/* Same seed, same sequence: the draws depend on the seed alone. */
static void a_seed_fixes_the_sequence(void **state)
{
    struct backoff a, b;
    backoff_init_seeded(&a, 0.1, 5.0, 42);
    backoff_init_seeded(&b, 0.1, 5.0, 42);
    for (int k = 0; k < 20; k++)
        assert_true(backoff_next(&a) == backoff_next(&b));
}

/* Processes started at the same instant (here: forked together, each seeding
 * itself after the fork) draw different sequences; so does the parent, whose
 * seed was made before the fork. */
static void processes_started_together_draw_differently(void **state)
{
    enum { PROCS = 4, DRAWS = 6 };
    struct backoff mine;
    backoff_init(&mine, 0.1, 5.0);
    double seq[PROCS + 1][DRAWS];
    for (int k = 0; k < DRAWS; k++)
        seq[PROCS][k] = backoff_next(&mine);
    int fds[PROCS][2];
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        assert_int_equal(pipe(fds[p]), 0);
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct backoff b;
            double d[DRAWS];
            backoff_init(&b, 0.1, 5.0);
            for (int k = 0; k < DRAWS; k++)
                d[k] = backoff_next(&b);
            _exit(write(fds[p][1], d, sizeof d) == (ssize_t)sizeof d ? 0 : 1);
        }
        close(fds[p][1]);
    }
    for (int p = 0; p < PROCS; p++) {
        assert_int_equal(read(fds[p][0], seq[p], sizeof seq[p]), (ssize_t)sizeof seq[p]);
        close(fds[p][0]);
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int p = 0; p <= PROCS; p++)
        for (int q = 0; q < p; q++)
            if (memcmp(seq[p], seq[q], sizeof seq[p]) == 0 || seq[p][0] == seq[q][0])
                fail_msg("processes %d and %d drew the same first delay %g", q, p, seq[p][0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_delay_is_within_min_and_max),
        cmocka_unit_test(delays_grow_with_failures_up_to_the_cap),
        cmocka_unit_test(reset_starts_from_the_first_step_again),
        cmocka_unit_test(a_fleet_at_the_same_step_is_spread),
        cmocka_unit_test(a_seed_fixes_the_sequence),
        cmocka_unit_test(processes_started_together_draw_differently),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
