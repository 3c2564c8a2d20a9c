/* The drain state machine, driven by a fake clock: no sockets, no signals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sidecar/drain.h"

static void running_until_a_shutdown_request(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    assert_int_equal(drain_tick(&d, 1, 0), DRAIN_RUNNING);
    assert_false(drain_is_draining(&d));
    drain_request_shutdown(&d, 2);
    /* Draining is visible at once, before any tick. */
    assert_true(drain_is_draining(&d));
    assert_true(drain_is_shutting_down(&d));
}

static void deregistration_comes_before_the_window(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 100);
    assert_int_equal(drain_tick(&d, 100, 2), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 100.01, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 100.02, 0), DRAIN_WINDOW);
    assert_false(d.dereg_timed_out);
    assert_int_equal(drain_tick(&d, 129.9, 0), DRAIN_WINDOW);
    assert_true(drain_window_remaining(&d, 129.9) > 0.09);
    assert_int_equal(drain_tick(&d, 130, 0), DRAIN_EXIT);
}

static void second_signal_skips_the_window_but_not_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    drain_request_shutdown(&d, 0.5);
    assert_int_equal(drain_tick(&d, 0.5, 3), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 1, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 1.1, 0), DRAIN_EXIT);
}

static void second_signal_during_window_exits(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(drain_tick(&d, 0.01, 0), DRAIN_WINDOW);
    drain_request_shutdown(&d, 5);
    assert_int_equal(drain_tick(&d, 5, 0), DRAIN_EXIT);
}

static void deregistration_is_bounded(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(drain_tick(&d, 9.9, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 10, 1), DRAIN_WINDOW);
    assert_true(d.dereg_timed_out);
    /* The window still counts from the signal. */
    assert_int_equal(drain_tick(&d, 30, 1), DRAIN_EXIT);
}

static void zero_window_exits_once_deregistered(void **state)
{
    struct drain d;
    drain_init(&d, 0, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(drain_tick(&d, 0, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 0.001, 0), DRAIN_EXIT);
}

static void admin_drain_and_undrain(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_admin(&d, 10, "maintenance", 0);
    assert_true(drain_is_draining(&d));
    assert_false(drain_is_shutting_down(&d));
    assert_string_equal(d.reason, "maintenance");
    assert_int_equal(drain_tick(&d, 1000, 0), DRAIN_RUNNING);
    assert_true(drain_is_draining(&d)); /* no expiry: stays drained */
    assert_true(drain_window_remaining(&d, 20) > 19.9);
    drain_request_undrain(&d);
    assert_false(drain_is_draining(&d));
    assert_string_equal(d.reason, "");
}

static void admin_drain_expires_by_itself(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_admin(&d, 10, NULL, 5);
    drain_tick(&d, 14.9, 0);
    assert_true(drain_is_draining(&d));
    drain_tick(&d, 15, 0);
    assert_false(drain_is_draining(&d));
}

static void repeated_admin_drain_keeps_its_start(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_admin(&d, 10, "a", 0);
    drain_request_admin(&d, 20, "b", 0);
    assert_true(drain_window_remaining(&d, 20) > 19.9 && drain_window_remaining(&d, 20) < 20.1);
    assert_string_equal(d.reason, "b");
}

static void shutdown_overrides_undrain(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    drain_request_undrain(&d);
    assert_true(drain_is_draining(&d));
}

static void wrapper_stops_app_after_window(void **state)
{
    struct drain d;
    drain_init(&d, 5, 10, true);
    drain_request_shutdown(&d, 0);
    assert_int_equal(drain_tick(&d, 0, 0), DRAIN_WINDOW);
    assert_int_equal(drain_tick(&d, 5, 0), DRAIN_STOPPING_APP);
    assert_int_equal(drain_tick(&d, 6, 0), DRAIN_STOPPING_APP);
    drain_app_exited(&d, 7);
    assert_int_equal(drain_tick(&d, 7, 0), DRAIN_EXIT);
}

static void app_exit_skips_window_not_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, true);
    drain_app_exited(&d, 3);
    assert_true(drain_is_shutting_down(&d));
    assert_int_equal(drain_tick(&d, 3, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_tick(&d, 3.01, 0), DRAIN_EXIT);
}

static void phase_names(void **state)
{
    assert_string_equal(drain_phase_name(DRAIN_RUNNING), "running");
    assert_string_equal(drain_phase_name(DRAIN_WINDOW), "draining");
    assert_string_equal(drain_phase_name(DRAIN_EXIT), "exiting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(running_until_a_shutdown_request),
        cmocka_unit_test(deregistration_comes_before_the_window),
        cmocka_unit_test(second_signal_skips_the_window_but_not_deregistration),
        cmocka_unit_test(second_signal_during_window_exits),
        cmocka_unit_test(deregistration_is_bounded),
        cmocka_unit_test(zero_window_exits_once_deregistered),
        cmocka_unit_test(admin_drain_and_undrain),
        cmocka_unit_test(admin_drain_expires_by_itself),
        cmocka_unit_test(repeated_admin_drain_keeps_its_start),
        cmocka_unit_test(shutdown_overrides_undrain),
        cmocka_unit_test(wrapper_stops_app_after_window),
        cmocka_unit_test(app_exit_skips_window_not_deregistration),
        cmocka_unit_test(phase_names),
    };
    return cmocka_run_group_tests_name("drain", tests, NULL, NULL);
}
