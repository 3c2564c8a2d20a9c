/* Poller bookkeeping behind --adaptive-drain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sidecar/lbwatch.h"

static void no_poller_never_informed(void **state)
{
    struct lbwatch w = {0};
    size_t n = 9;
    assert_false(lbwatch_all_informed(&w, 100, 10, 3, &n));
    assert_int_equal(n, 0);
}

static void every_recent_poller_needs_enough_draining_answers(void **state)
{
    struct lbwatch w = {0};
    lbwatch_note(&w, "10.0.0.1:4000", 1, false);
    lbwatch_note(&w, "10.0.0.2:4000", 1, false);
    for (int i = 0; i < 3; i++)
        lbwatch_note(&w, "10.0.0.1:5000", 2 + i, true); /* new port each check */
    size_t n;
    assert_false(lbwatch_all_informed(&w, 5, 10, 3, &n));
    assert_int_equal(n, 2);
    lbwatch_note(&w, "10.0.0.2:1", 5, true);
    lbwatch_note(&w, "10.0.0.2:2", 6, true);
    assert_false(lbwatch_all_informed(&w, 6, 10, 3, NULL));
    lbwatch_note(&w, "10.0.0.2:3", 7, true);
    assert_true(lbwatch_all_informed(&w, 7, 10, 3, NULL));
}

static void a_healthy_answer_resets_the_count(void **state)
{
    struct lbwatch w = {0};
    lbwatch_note(&w, "10.0.0.1:1", 1, true);
    lbwatch_note(&w, "10.0.0.1:1", 2, true);
    lbwatch_note(&w, "10.0.0.1:1", 3, false);
    lbwatch_note(&w, "10.0.0.1:1", 4, true);
    assert_false(lbwatch_all_informed(&w, 4, 10, 2, NULL));
}

static void stale_pollers_do_not_hold_the_window(void **state)
{
    struct lbwatch w = {0};
    lbwatch_note(&w, "10.0.0.9:1", 0, false); /* an LB that went away */
    for (int i = 0; i < 3; i++)
        lbwatch_note(&w, "10.0.0.1:1", 20 + i, true);
    size_t n;
    assert_true(lbwatch_all_informed(&w, 22, 10, 3, &n));
    assert_int_equal(n, 1);
}

static void ipv6_ports_are_dropped(void **state)
{
    struct lbwatch w = {0};
    lbwatch_note(&w, "[::1]:1", 1, true);
    lbwatch_note(&w, "[::1]:2", 2, true);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.peers[0].addr, "[::1]");
    assert_int_equal(w.peers[0].draining, 2);
}

static void full_table_evicts_the_least_recent(void **state)
{
    struct lbwatch w = {0};
    char a[32];
    for (int i = 0; i < LBWATCH_MAX; i++) {
        snprintf(a, sizeof(a), "10.1.0.%d:1", i);
        lbwatch_note(&w, a, 100 + i, false);
    }
    lbwatch_note(&w, "10.2.0.1:1", 500, true);
    assert_int_equal(w.n, LBWATCH_MAX);
    bool found_new = false, found_oldest = false;
    for (size_t i = 0; i < w.n; i++) {
        found_new |= strcmp(w.peers[i].addr, "10.2.0.1") == 0;
        found_oldest |= strcmp(w.peers[i].addr, "10.1.0.0") == 0;
    }
    assert_true(found_new);
    assert_false(found_oldest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_poller_never_informed),
        cmocka_unit_test(every_recent_poller_needs_enough_draining_answers),
        cmocka_unit_test(a_healthy_answer_resets_the_count),
        cmocka_unit_test(stale_pollers_do_not_hold_the_window),
        cmocka_unit_test(ipv6_ports_are_dropped),
        cmocka_unit_test(full_table_evicts_the_least_recent),
    };
    return cmocka_run_group_tests_name("lbwatch", tests, NULL, NULL);
}
