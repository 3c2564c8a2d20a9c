/* Record encoding: the exact bytes nerve writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/backend/record.h"
#include "tests/failalloc.h"

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

/* One placement's record carries that placement's labels, not the spec's. */
static void labels_given_explicitly(void **state)
{
    struct kv all[] = {{"region:a", ""}, {"region:b", ""}};
    struct kv one[] = {{"region:b", ""}, {"deploy_group", "prod.main"}};
    struct check_spec s = {
        .host = "h", .port = 2, .instance_id = "i", .weight = 1, .labels = all, .nlabels = 2};
    char *j = record_json_labels(&s, one, 2);
    assert_string_equal(j, "{\"host\":\"h\",\"port\":2,\"name\":\"i\",\"weight\":1,"
                           "\"labels\":{\"region:b\":\"\",\"deploy_group\":\"prod.main\"}}");
    free(j);
    j = record_json_labels(&s, NULL, 0);
    assert_string_equal(j, "{\"host\":\"h\",\"port\":2,\"name\":\"i\",\"weight\":1,"
                           "\"labels\":{}}");
    free(j);
}

static void node_is_instance_id_underscore_port(void **state)
{
    struct check_spec s = {.port = 31337, .instance_id = "pod-abc"};
    char *n = record_node(&s);
    assert_string_equal(n, "pod-abc_31337");
    free(n);
}

/* What JSON cannot carry is refused (NULL), not written half or mangled:
 * a missing host, text that is not UTF-8 in a value or a label. */
static void unencodable_specs_give_null(void **state)
{
    struct check_spec s = {.host = NULL, .port = 1, .instance_id = "a", .weight = 1};
    assert_null(record_json(&s));
    s.host = "10.0.0.1";
    s.instance_id = "bad\xff\xfe";
    assert_null(record_json(&s));
    s.instance_id = "ok";
    struct kv bad_key[] = {{"fine", "1"}, {"k\xc3", "v"}};
    s.labels = bad_key;
    s.nlabels = 2;
    assert_null(record_json(&s));
    struct kv bad_value[] = {{"k", "\xe2\x82"}};
    s.labels = bad_value;
    s.nlabels = 1;
    assert_null(record_json(&s));
    /* UTF-8 itself is fine, and a label without a value is "" */
    struct kv good[] = {{"region:z\xc3\xbcrich", NULL}};
    s.labels = good;
    s.nlabels = 1;
    char *j = record_json(&s);
    assert_string_equal(j, "{\"host\":\"10.0.0.1\",\"port\":1,\"name\":\"ok\",\"weight\":1,"
                           "\"labels\":{\"region:z\xc3\xbcrich\":\"\"}}");
    free(j);
}

/* jansson's allocations, routed through the test's wrapped malloc so they
 * can be made to fail. */
static void *json_malloc_wrapped(size_t n)
{
    return malloc(n);
}

static void json_free_wrapped(void *p)
{
    free(p);
}

/* Each allocation of the encoding failing in turn gives NULL, with nothing
 * leaked (ASan); then the record comes out whole. */
static void out_of_memory_at_every_step(void **state)
{
    struct kv labels[] = {{"region:uswest1-prod", ""}, {"paasta_instance", "main"}};
    struct check_spec s = {.host = "10.1.2.3",
                           .port = 8888,
                           .instance_id = "host-1",
                           .weight = 10,
                           .labels = labels,
                           .nlabels = 2};
    unsigned n;
    json_set_alloc_funcs(json_malloc_wrapped, json_free_wrapped);
    for (n = 1; n < 100; n++) {
        failalloc_arm(n, false);
        char *j = record_json(&s);
        unsigned failed = failalloc_failed();
        failalloc_off();
        if (failed == 0) {
            assert_string_equal(j, "{\"host\":\"10.1.2.3\",\"port\":8888,\"name\":\"host-1\","
                                   "\"weight\":10,\"labels\":{\"region:uswest1-prod\":\"\","
                                   "\"paasta_instance\":\"main\"}}");
            free(j);
            break;
        }
        if (j) {
            char text[256];
            snprintf(text, sizeof(text), "%s", j);
            free(j);
            fail_msg("allocation %u failed, yet a record came out: %s", n, text);
        }
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(n > 5 && n < 100); /* objects, strings, the labels, the text */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_json_with_labels),
        cmocka_unit_test(empty_labels_is_an_empty_object),
        cmocka_unit_test(strings_are_escaped),
        cmocka_unit_test(labels_given_explicitly),
        cmocka_unit_test(node_is_instance_id_underscore_port),
        cmocka_unit_test(unencodable_specs_give_null),
        cmocka_unit_test(out_of_memory_at_every_step),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
