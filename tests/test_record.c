/* Record encoding: the exact bytes nerve writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "sidecar/record.h"

static void exact_json_with_labels(void **state)
{
    struct kv labels[] = {{"region:uswest1-prod", ""}, {"paasta_instance", "main"}};
    struct check_spec s = {.host = "10.1.2.3",
                           .port = 8888,
                           .instance_id = "host-1",
                           .weight = 10,
                           .labels = labels,
                           .nlabels = 2};
    char *j = record_json(&s);
    assert_non_null(j);
    assert_string_equal(j, "{\"host\":\"10.1.2.3\",\"port\":8888,\"name\":\"host-1\","
                           "\"weight\":10,\"labels\":{\"region:uswest1-prod\":\"\","
                           "\"paasta_instance\":\"main\"}}");
    free(j);
}

static void empty_labels_is_an_empty_object(void **state)
{
    struct check_spec s = {.host = "127.0.0.1", .port = 1, .instance_id = "a", .weight = 0};
    char *j = record_json(&s);
    assert_string_equal(j, "{\"host\":\"127.0.0.1\",\"port\":1,\"name\":\"a\",\"weight\":0,"
                           "\"labels\":{}}");
    free(j);
}

static void strings_are_escaped(void **state)
{
    struct kv labels[] = {{"we\"ird", "x\\y"}};
    struct check_spec s = {.host = "h",
                           .port = 2,
                           .instance_id = "id\"1",
                           .weight = 3,
                           .labels = labels,
                           .nlabels = 1};
    char *j = record_json(&s);
    assert_string_equal(j, "{\"host\":\"h\",\"port\":2,\"name\":\"id\\\"1\",\"weight\":3,"
                           "\"labels\":{\"we\\\"ird\":\"x\\\\y\"}}");
    free(j);
}

static void node_is_instance_id_underscore_port(void **state)
{
    struct check_spec s = {.port = 31337, .instance_id = "pod-abc"};
    char *n = record_node(&s);
    assert_string_equal(n, "pod-abc_31337");
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_json_with_labels),
        cmocka_unit_test(empty_labels_is_an_empty_object),
        cmocka_unit_test(strings_are_escaped),
        cmocka_unit_test(node_is_instance_id_underscore_port),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
