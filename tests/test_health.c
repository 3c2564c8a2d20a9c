/* Rise/fall hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sidecar/health.h"

static void starts_down_and_rises_after_rise_passes(void **state)
{
    struct health h;
    health_init(&h, 3, 2);
    assert_false(h.up);
    assert_false(health_feed(&h, true));
    assert_false(health_feed(&h, true));
    assert_true(health_feed(&h, true));
    assert_true(h.up);
}

static void a_failure_resets_the_rise_count(void **state)
{
    struct health h;
    health_init(&h, 2, 2);
    assert_false(health_feed(&h, true));
    assert_false(health_feed(&h, false));
    assert_false(health_feed(&h, true));
    assert_false(h.up);
    assert_true(health_feed(&h, true));
    assert_true(h.up);
}

static void falls_after_fall_consecutive_failures_only(void **state)
{
    struct health h;
    health_init(&h, 1, 3);
    assert_true(health_feed(&h, true));
    assert_false(health_feed(&h, false));
    assert_false(health_feed(&h, false));
    assert_false(health_feed(&h, true)); /* a pass in between resets */
    assert_false(health_feed(&h, false));
    assert_false(health_feed(&h, false));
    assert_true(h.up);
    assert_true(health_feed(&h, false));
    assert_false(h.up);
}

static void flapping_app_does_not_flap(void **state)
{
    struct health h;
    health_init(&h, 2, 2);
    assert_true(health_feed(&h, true) || health_feed(&h, true));
    int flips = 0;
    for (int i = 0; i < 100; i++)
        flips += health_feed(&h, i % 2 == 0);
    assert_int_equal(flips, 0);
    assert_true(h.up);
}

static void rise_one_fall_one_follows_every_result(void **state)
{
    struct health h;
    health_init(&h, 1, 1);
    assert_true(health_feed(&h, true));
    assert_true(health_feed(&h, false));
    assert_false(health_feed(&h, false));
    assert_true(health_feed(&h, true));
}

static void zero_thresholds_are_treated_as_one(void **state)
{
    struct health h;
    health_init(&h, 0, 0);
    assert_true(health_feed(&h, true));
    assert_true(health_feed(&h, false));
}

static void grace_swallows_failures_until_up_or_over(void **state)
{
    struct health h;
    health_init(&h, 1, 1);
    assert_int_equal(health_result(&h, false, 0.0), HEALTH_KEPT); /* no grace set */
    assert_true(h.probed);

    health_init(&h, 1, 1);
    health_grace(&h, 100.0, 10.0); /* from the start at 100 to 110 */
    assert_int_equal(health_result(&h, false, 105.0), HEALTH_IN_GRACE);
    assert_false(h.probed);                                         /* not fed at all */
    assert_int_equal(health_result(&h, false, 110.0), HEALTH_KEPT); /* over at its end */
    assert_int_equal(h.failures_in_a_row, 0);

    health_init(&h, 2, 1);
    health_grace(&h, 100.0, 10.0);
    assert_int_equal(health_result(&h, true, 101.0), HEALTH_KEPT); /* a pass counts */
    assert_int_equal(h.passes_in_a_row, 1);
    assert_int_equal(health_result(&h, false, 102.0), HEALTH_IN_GRACE);
    assert_int_equal(h.passes_in_a_row, 1); /* ... and a swallowed failure resets nothing */
    assert_int_equal(health_result(&h, true, 103.0), HEALTH_FLIPPED);
    assert_true(h.up);
    assert_int_equal(health_result(&h, false, 104.0), HEALTH_FLIPPED); /* up: it counts */
    assert_false(h.up);
    assert_int_equal(health_result(&h, false, 105.0), HEALTH_IN_GRACE); /* down again */

    health_init(&h, 1, 1);
    health_grace(&h, 100.0, 0); /* 0 = no grace */
    assert_int_equal(health_result(&h, false, 100.0), HEALTH_KEPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_down_and_rises_after_rise_passes),
        cmocka_unit_test(a_failure_resets_the_rise_count),
        cmocka_unit_test(falls_after_fall_consecutive_failures_only),
        cmocka_unit_test(flapping_app_does_not_flap),
        cmocka_unit_test(rise_one_fall_one_follows_every_result),
        cmocka_unit_test(zero_thresholds_are_treated_as_one),
        cmocka_unit_test(grace_swallows_failures_until_up_or_over),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
