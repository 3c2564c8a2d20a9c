/* The drain state machine, driven by a fake clock: no sockets, no signals.
 * Every transition listed in drain.h, and the odd timings: a second signal
 * while deregistering or while the app gets its grace, the app exiting in
 * the middle of each phase, the adaptive end coming before the
 * deregistration is confirmed or before the floor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sidecar/drain.h"

/* A tick at `now` with `pending` unconfirmed backend operations. */
static enum drain_phase tick(struct drain *d, double now, size_t pending)
{
    return drain_tick(d, &(struct drain_input){.now = now, .pending = pending});
}

/* A tick where every recent poller has been told (adaptive drain). */
static enum drain_phase tick_informed(struct drain *d, double now, size_t pending)
{
    return drain_tick(d,
                      &(struct drain_input){.now = now, .pending = pending, .lbs_informed = true});
}

static enum drain_phase tick_reg_stopped(struct drain *d, double now)
{
    return drain_tick(d, &(struct drain_input){.now = now, .registry_stopped = true});
}

static void adaptive(struct drain *d, double window, double floor)
{
    struct drain_settings s = {
        .drain_seconds = window, .grace_seconds = 30, .adaptive = true, .min_seconds = floor};
    assert_true(drain_configure(d, &s));
}

static void running_until_a_shutdown_request(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    assert_int_equal(tick(&d, 1, 0), DRAIN_RUNNING);
    assert_false(drain_is_shutting_down(&d));
    assert_int_equal(drain_request_shutdown(&d, 2), DRAIN_SIGNAL_FIRST);
    /* Draining is visible at once, before any tick. */
    assert_true(drain_is_shutting_down(&d));
    assert_true(drain_is_shutting_down(&d));
    assert_int_equal(d.phase, DRAIN_RUNNING);
    assert_int_equal(tick(&d, 2, 1), DRAIN_DEREGISTERING);
}

static void deregistration_comes_before_the_window(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 100);
    assert_int_equal(tick(&d, 100, 2), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 100.01, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 100.02, 0), DRAIN_WINDOW);
    assert_false(d.dereg_timed_out);
    assert_true(d.dereg_done_at == 100.02);
    assert_int_equal(tick(&d, 129.9, 0), DRAIN_WINDOW);
    assert_true(drain_window_remaining(&d, 129.9) > 0.09);
    assert_int_equal(d.window_end, DRAIN_END_NONE);
    /* The window counts from the signal, not from the end of deregistration. */
    assert_int_equal(tick(&d, 130, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_FULL);
    assert_true(drain_window_remaining(&d, 130) == 0);
}

/* The registry is stopped on the running loop as the last phase: exit
 * waits for it, bounded by DRAIN_REGISTRY_STOP_S. */
static void registry_stop_is_the_last_phase(void **state)
{
    struct drain d;
    drain_init(&d, 0, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick(&d, 0.3, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick_reg_stopped(&d, 0.4), DRAIN_EXIT);
    assert_false(d.reg_stop_timed_out);
    assert_int_equal(tick_reg_stopped(&d, 0.5), DRAIN_EXIT); /* terminal */

    drain_init(&d, 0, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 1, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick(&d, 1 + DRAIN_REGISTRY_STOP_S - 0.01, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick(&d, 1 + DRAIN_REGISTRY_STOP_S, 0), DRAIN_EXIT);
    assert_true(d.reg_stop_timed_out);
}

/* The tick stops at each phase that asks the caller to act, even when the
 * next condition already holds: the caller stops the registry before it
 * can report it stopped. */
static void tick_returns_at_each_action(void **state)
{
    struct drain d;
    drain_init(&d, 0, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_reg_stopped(&d, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick_reg_stopped(&d, 0), DRAIN_EXIT);

    drain_init(&d, 0, 10, true);
    struct drain_settings s = {.drain_seconds = 0, .grace_seconds = 0};
    drain_configure(&d, &s);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 0), DRAIN_STOPPING_APP); /* SIGTERM first ... */
    assert_int_equal(tick(&d, 0, 0), DRAIN_KILLING_APP);  /* ... even with no grace */
}

static void second_signal_skips_the_window_but_not_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 3), DRAIN_DEREGISTERING);
    assert_int_equal(drain_request_shutdown(&d, 0.5), DRAIN_SIGNAL_SKIP_WINDOW);
    assert_true(drain_window_remaining(&d, 0.5) == 0);
    assert_int_equal(tick(&d, 0.5, 3), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 1, 1), DRAIN_DEREGISTERING);
    assert_int_equal(drain_request_shutdown(&d, 1.05), DRAIN_SIGNAL_ALREADY_DONE); /* third */
    assert_int_equal(tick(&d, 1.1, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_SKIPPED);
}

/* Still bounded by the deregistration deadline counted from the FIRST signal. */
static void second_signal_keeps_the_deregistration_deadline(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    drain_request_shutdown(&d, 9);
    assert_int_equal(tick(&d, 9.99, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 10, 1), DRAIN_STOPPING_REGISTRY);
    assert_true(d.dereg_timed_out);
}

static void second_signal_during_window_ends_it(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0.01, 0), DRAIN_WINDOW);
    assert_int_equal(drain_request_shutdown(&d, 5), DRAIN_SIGNAL_SKIP_WINDOW);
    assert_int_equal(tick(&d, 5, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_SKIPPED);
    /* Past the window a signal changes nothing; the registry stop completes. */
    assert_int_equal(drain_request_shutdown(&d, 5.1), DRAIN_SIGNAL_ALREADY_DONE);
    assert_int_equal(tick(&d, 5.2, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick_reg_stopped(&d, 5.3), DRAIN_EXIT);
}

static void deregistration_is_bounded(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 9.9, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 10, 1), DRAIN_WINDOW);
    assert_true(d.dereg_timed_out);
    /* The window still counts from the signal. */
    assert_int_equal(tick(&d, 30, 1), DRAIN_STOPPING_REGISTRY);
}

static void zero_window_ends_once_deregistered(void **state)
{
    struct drain d;
    drain_init(&d, 0, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick(&d, 0.001, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_FULL);
}

static void wrapper_stops_app_after_window(void **state)
{
    struct drain d;
    drain_init(&d, 5, 10, true);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 5, 0), DRAIN_STOPPING_APP);
    assert_int_equal(tick(&d, 6, 0), DRAIN_STOPPING_APP);
    assert_false(drain_app_exited(&d, 7)); /* not a new shutdown */
    assert_int_equal(tick(&d, 7, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(tick_reg_stopped(&d, 7.01), DRAIN_EXIT);
}

/* The SIGTERM -> SIGKILL grace of the app (--grace-seconds), counted from
 * the SIGTERM, i.e. from entering STOPPING_APP. */
static void wrapper_grace_then_kill(void **state)
{
    struct drain d;
    drain_init(&d, 5, 10, true);
    struct drain_settings s = {.drain_seconds = 5, .grace_seconds = 3};
    assert_true(drain_configure(&d, &s));
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0.2, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 5.5, 0), DRAIN_STOPPING_APP);
    assert_int_equal(tick(&d, 8.49, 0), DRAIN_STOPPING_APP);
    assert_int_equal(tick(&d, 8.5, 0), DRAIN_KILLING_APP);
    assert_int_equal(tick(&d, 60, 0), DRAIN_KILLING_APP); /* waits for the app to go */
    drain_app_exited(&d, 60.1);
    assert_int_equal(tick(&d, 60.1, 0), DRAIN_STOPPING_REGISTRY);
}

/* An app already asked to stop keeps its promised grace. */
static void second_signal_does_not_cut_the_grace(void **state)
{
    struct drain d;
    drain_init(&d, 0, 10, true);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 0), DRAIN_STOPPING_APP);
    assert_int_equal(drain_request_shutdown(&d, 1), DRAIN_SIGNAL_ALREADY_DONE);
    assert_int_equal(tick(&d, 1, 0), DRAIN_STOPPING_APP);
    assert_int_equal(tick(&d, 30, 0), DRAIN_KILLING_APP);
}

static void app_exit_skips_window_not_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, true);
    assert_true(drain_app_exited(&d, 3)); /* starts the shutdown */
    assert_true(drain_is_shutting_down(&d));
    assert_int_equal(tick(&d, 3, 1), DRAIN_DEREGISTERING);
    /* no window and no STOPPING_APP: the app is gone */
    assert_int_equal(tick(&d, 3.01, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_APP_GONE);
    assert_int_equal(drain_request_shutdown(&d, 3.02), DRAIN_SIGNAL_ALREADY_DONE);
}

static void app_exits_during_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, true);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0, 2), DRAIN_DEREGISTERING);
    assert_false(drain_app_exited(&d, 0.5));
    assert_int_equal(tick(&d, 0.5, 2), DRAIN_DEREGISTERING); /* still deregisters */
    assert_int_equal(tick(&d, 0.6, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_APP_GONE);
}

static void app_exits_during_the_window(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, true);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0.1, 0), DRAIN_WINDOW);
    drain_app_exited(&d, 4);
    assert_true(drain_window_remaining(&d, 4) == 0);
    assert_int_equal(tick(&d, 4, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_APP_GONE);
    assert_true(d.window_end_at == 4);
}

/* --adaptive-drain without a floor (file: backend): the window ends once
 * every poller was told, but never before the deregistration is confirmed. */
static void adaptive_end_waits_for_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    adaptive(&d, 30, 0);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_informed(&d, 0.2, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick_informed(&d, 0.4, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick_informed(&d, 0.5, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_ADAPTIVE);
    assert_true(d.window_end_at == 0.5);
}

static void adaptive_end_needs_every_poller_informed(void **state)
{
    struct drain d;
    drain_init(&d, 3, 10, false);
    adaptive(&d, 3, 0);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick(&d, 0.1, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 2.9, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 3, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_FULL);
}

/* With a discovery backend the adaptive end never comes before the floor,
 * however early the pollers were told; a poller that appears meanwhile and
 * has not been told holds it further. */
static void adaptive_end_respects_the_floor(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    adaptive(&d, 30, 10);
    drain_request_shutdown(&d, 100);
    assert_int_equal(tick_informed(&d, 100.1, 0), DRAIN_WINDOW);
    assert_int_equal(tick_informed(&d, 109.99, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 110, 0), DRAIN_WINDOW); /* a new poller, not told yet */
    assert_int_equal(tick_informed(&d, 110.5, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_ADAPTIVE);
}

/* A discovery backend and no load balancer polling us: its readers (synapse)
 * are what the floor is for, so the floor alone ends the window; one poller
 * not yet told still holds it. The file: backend (no remote readers) with no
 * poller serves the whole window: nobody is known to have seen the drain. */
static void adaptive_end_without_pollers(void **state)
{
    struct drain d;
    struct drain_settings s = {.drain_seconds = 30,
                               .grace_seconds = 30,
                               .adaptive = true,
                               .min_seconds = 10,
                               .remote_readers = true};
    drain_init(&d, 30, 10, false);
    assert_true(drain_configure(&d, &s));
    drain_request_shutdown(&d, 100);
    assert_int_equal(tick(&d, 100.1, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 109.9, 0), DRAIN_WINDOW); /* the floor first */
    assert_int_equal(drain_tick(&d, &(struct drain_input){.now = 110, .lbs_polling = 1}),
                     DRAIN_WINDOW); /* a poller not told yet */
    assert_int_equal(tick(&d, 110.2, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_ADAPTIVE);

    s.remote_readers = false;
    s.min_seconds = 0;
    drain_init(&d, 30, 10, false);
    assert_true(drain_configure(&d, &s));
    drain_request_shutdown(&d, 100);
    assert_int_equal(tick(&d, 100.1, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 129.9, 0), DRAIN_WINDOW);
    assert_int_equal(tick(&d, 130, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_FULL);
}

/* Deregistration slower than the floor: the end follows the deregistration. */
static void adaptive_end_after_a_slow_deregistration(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    adaptive(&d, 30, 2);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_informed(&d, 1, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick_informed(&d, 5, 1), DRAIN_DEREGISTERING);
    assert_int_equal(tick_informed(&d, 5.5, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_ADAPTIVE);
}

/* Without --adaptive-drain, told pollers change nothing: full window. */
static void no_adaptive_end_without_the_flag(void **state)
{
    struct drain d;
    drain_init(&d, 5, 10, false);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_informed(&d, 0.1, 0), DRAIN_WINDOW);
    assert_int_equal(tick_informed(&d, 4.9, 0), DRAIN_WINDOW);
    assert_int_equal(tick_informed(&d, 5, 0), DRAIN_STOPPING_REGISTRY);
    assert_int_equal(d.window_end, DRAIN_END_FULL);
}

/* A floor above the window is capped by it (the caller warns). */
static void floor_above_the_window_is_capped(void **state)
{
    struct drain d;
    drain_init(&d, 4, 10, false);
    struct drain_settings s = {.drain_seconds = 4, .adaptive = true, .min_seconds = 10};
    assert_false(drain_configure(&d, &s));
    assert_true(d.min_seconds == 4);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_informed(&d, 3.99, 0), DRAIN_WINDOW);
    assert_int_equal(tick_informed(&d, 4, 0), DRAIN_STOPPING_REGISTRY);
    s.min_seconds = 4;
    assert_true(drain_configure(&d, &s));
}

/* An adaptive end in a wrapper still stops the app with its grace. */
static void adaptive_end_in_wrapper_mode(void **state)
{
    struct drain d;
    drain_init(&d, 30, 10, true);
    adaptive(&d, 30, 1);
    drain_request_shutdown(&d, 0);
    assert_int_equal(tick_informed(&d, 0.5, 0), DRAIN_WINDOW);
    assert_int_equal(tick_informed(&d, 1, 0), DRAIN_STOPPING_APP);
    assert_int_equal(d.window_end, DRAIN_END_ADAPTIVE);
}

static void phase_names(void **state)
{
    assert_string_equal(drain_phase_name(DRAIN_RUNNING), "running");
    assert_string_equal(drain_phase_name(DRAIN_DEREGISTERING), "deregistering");
    assert_string_equal(drain_phase_name(DRAIN_WINDOW), "draining");
    assert_string_equal(drain_phase_name(DRAIN_STOPPING_APP), "stopping-app");
    assert_string_equal(drain_phase_name(DRAIN_KILLING_APP), "killing-app");
    assert_string_equal(drain_phase_name(DRAIN_STOPPING_REGISTRY), "stopping-registry");
    assert_string_equal(drain_phase_name(DRAIN_EXIT), "exiting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(running_until_a_shutdown_request),
        cmocka_unit_test(deregistration_comes_before_the_window),
        cmocka_unit_test(registry_stop_is_the_last_phase),
        cmocka_unit_test(tick_returns_at_each_action),
        cmocka_unit_test(second_signal_skips_the_window_but_not_deregistration),
        cmocka_unit_test(second_signal_keeps_the_deregistration_deadline),
        cmocka_unit_test(second_signal_during_window_ends_it),
        cmocka_unit_test(deregistration_is_bounded),
        cmocka_unit_test(zero_window_ends_once_deregistered),
        cmocka_unit_test(wrapper_stops_app_after_window),
        cmocka_unit_test(wrapper_grace_then_kill),
        cmocka_unit_test(second_signal_does_not_cut_the_grace),
        cmocka_unit_test(app_exit_skips_window_not_deregistration),
        cmocka_unit_test(app_exits_during_deregistration),
        cmocka_unit_test(app_exits_during_the_window),
        cmocka_unit_test(adaptive_end_waits_for_deregistration),
        cmocka_unit_test(adaptive_end_needs_every_poller_informed),
        cmocka_unit_test(adaptive_end_respects_the_floor),
        cmocka_unit_test(adaptive_end_after_a_slow_deregistration),
        cmocka_unit_test(adaptive_end_without_pollers),
        cmocka_unit_test(no_adaptive_end_without_the_flag),
        cmocka_unit_test(floor_above_the_window_is_capped),
        cmocka_unit_test(adaptive_end_in_wrapper_mode),
        cmocka_unit_test(phase_names),
    };
    return cmocka_run_group_tests_name("drain", tests, NULL, NULL);
}
