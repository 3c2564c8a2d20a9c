/* Admin drains per scope (sidecar/spool.c): how an `all` drain and
 * per-registration drains combine (hacheck's spool files), replacement,
 * expiry, all on a fake clock passed in by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sidecar/spool.h"

static void test_combination(void **state)
{
    struct spool s;
    struct spool_entry old;
    bool replaced;
    spool_init(&s);
    assert_null(spool_covers(&s, "svc.main", 100));

    /* one registration: only it */
    assert_int_equal(spool_down(&s, "svc.main", "bob", 0, 100, &old, &replaced), 0);
    assert_false(replaced);
    assert_string_equal(spool_covers(&s, "svc.main", 101)->scope, "svc.main");
    assert_null(spool_covers(&s, "svc.canary", 101));

    /* all on top: every registration, and all is what is reported */
    assert_int_equal(spool_down(&s, SPOOL_ALL, "maint", 0, 102, &old, &replaced), 0);
    assert_string_equal(spool_covers(&s, "svc.main", 103)->scope, "all");
    assert_string_equal(spool_covers(&s, "svc.canary", 103)->reason, "maint");

    /* all lifted: the registration's own drain is still there */
    assert_true(spool_up(&s, SPOOL_ALL, &old));
    assert_string_equal(old.reason, "maint");
    assert_string_equal(spool_covers(&s, "svc.main", 104)->reason, "bob");
    assert_null(spool_covers(&s, "svc.canary", 104));

    /* undrain of something not drained: nothing */
    assert_false(spool_up(&s, "svc.canary", NULL));
    assert_true(spool_up(&s, "svc.main", NULL));
    assert_null(spool_covers(&s, "svc.main", 105));
    assert_int_equal(s.n, 0);
    spool_clear(&s);
}

static void test_replace(void **state)
{
    struct spool s;
    struct spool_entry old;
    bool replaced;
    spool_init(&s);
    assert_int_equal(spool_down(&s, "svc.main", "bob", 500, 100, &old, &replaced), 0);
    /* same reason: expiry moves, start stays (hacheck's down()) */
    assert_int_equal(spool_down(&s, "svc.main", "bob", 900, 200, &old, &replaced), 0);
    assert_true(replaced);
    assert_string_equal(old.reason, "bob");
    assert_true(old.until == 500);
    const struct spool_entry *e = spool_find(&s, "svc.main", 201);
    assert_true(e->since == 100 && e->until == 900 && e->asked == 200);
    /* another reason: a new drain, new start, no expiry */
    assert_int_equal(spool_down(&s, "svc.main", "alice", 0, 300, &old, &replaced), 0);
    assert_true(replaced);
    assert_true(old.until == 900);
    e = spool_find(&s, "svc.main", 301);
    assert_true(e->since == 300 && e->until == 0);
    assert_string_equal(e->reason, "alice");
    assert_int_equal(s.n, 1);
    /* an expired drain is not "replaced" by a new one */
    assert_int_equal(spool_down(&s, "svc.x", "r", 400, 300, &old, &replaced), 0);
    assert_int_equal(spool_down(&s, "svc.x", "r", 0, 401, &old, &replaced), 0);
    assert_false(replaced);
    assert_true(spool_find(&s, "svc.x", 402)->since == 401);
    spool_clear(&s);
}

static void count_cb(const struct spool_entry *e, void *arg)
{
    (*(int *)arg)++;
    assert_string_equal(e->reason, "short");
}

static void test_expiry(void **state)
{
    struct spool s;
    bool replaced;
    int called = 0;
    spool_init(&s);
    spool_down(&s, SPOOL_ALL, "short", 150, 100, NULL, &replaced);
    spool_down(&s, "svc.main", "long", 300, 100, NULL, &replaced);
    spool_down(&s, "svc.c", "forever", 0, 100, NULL, &replaced);
    assert_true(spool_next_until(&s) == 150);
    assert_string_equal(spool_covers(&s, "svc.c", 149.9)->scope, "all");
    /* past its end a drain no longer covers anything, even before the
     * caller's expire pass removes it */
    assert_string_equal(spool_covers(&s, "svc.c", 150)->scope, "svc.c");
    assert_null(spool_covers(&s, "svc.other", 150));
    assert_int_equal(spool_expire(&s, 149, count_cb, &called), 0);
    assert_int_equal(spool_expire(&s, 150, count_cb, &called), 1);
    assert_int_equal(called, 1);
    assert_true(spool_next_until(&s) == 300);
    assert_string_equal(spool_covers(&s, "svc.main", 299)->reason, "long");
    assert_int_equal(spool_expire(&s, 1000, NULL, NULL), 1);
    assert_true(spool_next_until(&s) == 0);
    assert_string_equal(spool_covers(&s, "svc.c", 1e9)->reason, "forever");
    spool_clear(&s);
}

static void test_limits(void **state)
{
    struct spool s;
    bool replaced;
    char longname[400], longreason[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memset(longreason, 'r', sizeof(longreason) - 1);
    longreason[sizeof(longreason) - 1] = '\0';
    spool_init(&s);
    for (int i = 0; i < 40; i++) { /* grows past its first allocation */
        char n[16];
        snprintf(n, sizeof(n), "svc.n%d", i);
        assert_int_equal(spool_down(&s, n, NULL, 0, 1, NULL, &replaced), 0);
    }
    assert_int_equal(s.n, 40);
    assert_string_equal(spool_find(&s, "svc.n39", 2)->reason, "");
    assert_int_equal(spool_down(&s, longname, longreason, 0, 1, NULL, &replaced), 0);
    const struct spool_entry *e = spool_covers(&s, longname, 2);
    assert_null(e); /* the scope was cut: it is not the long name any more */
    assert_int_equal(strlen(s.e[40].scope), SPOOL_SCOPE_MAX);
    assert_int_equal(strlen(s.e[40].reason), SPOOL_REASON_MAX);
    spool_clear(&s);
    assert_int_equal(s.n, 0);
    spool_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combination),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
