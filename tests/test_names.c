/* The hashed index of check names (config/names.c): every name of a large
 * set is found at its number, prefixes and near-misses are not, the first
 * of equal names wins, and a full index says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/names.h"

#define N 10000

static void finds_every_name(void **state)
{
    static char names[N][24];
    struct names *x = names_new(N);
    size_t i;

    assert_non_null(x);
    for (size_t k = 0; k < N; k++) {
        snprintf(names[k], sizeof(names[k]), "s%05zu.main", k);
        assert_int_equal(names_add(x, names[k], k), 0);
    }
    for (size_t k = 0; k < N; k++) {
        assert_true(names_find(x, names[k], strlen(names[k]), &i));
        assert_int_equal(i, k);
    }
    /* a prefix of a name, a longer one, an absent one */
    assert_false(names_find(x, "s00001.mai", 10, &i));
    assert_false(names_find(x, "s00001.mainx", 12, &i));
    assert_false(names_find(x, "s99999.main", 11, &i));
    /* the length counts, not the terminator: "s00002.main" inside a longer buffer */
    assert_true(names_find(x, "s00002.main/extra", 11, &i));
    assert_int_equal(i, 2);
    names_free(x);
}

static void first_of_equal_names_wins(void **state)
{
    struct names *x = names_new(2);
    size_t i;

    assert_int_equal(names_add(x, "a.main", 0), 0);
    assert_int_equal(names_add(x, "a.main", 1), 0);
    assert_true(names_find(x, "a.main", 6, &i));
    assert_int_equal(i, 0);
    names_free(x);
}

static void full_index_refuses(void **state)
{
    static const char *const name[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"};
    struct names *x = names_new(1); /* 16 slots, at most half used */
    int rc = 0;

    for (size_t k = 0; k < 9 && rc == 0; k++)
        rc = names_add(x, name[k], k);
    assert_int_equal(rc, -1);
    names_free(x);
    names_free(NULL);
    assert_false(names_find(NULL, "a", 1, &(size_t){0}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_every_name),
        cmocka_unit_test(first_of_equal_names_wins),
        cmocka_unit_test(full_index_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
