/* ZooKeeper child names (sidecar/backend/zk_name.c): nerve's two forms, and
 * the reading synapse applies to them (numeric id suffix, base64 prefix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/backend/zk_name.h"
#include "tests/failalloc.h"

#define REC "{\"host\":\"10.1.2.3\",\"port\":8888,\"name\":\"h1\",\"weight\":10,\"labels\":{}}"

static char *prefix_of(const char *key, const char *data, bool encode)
{
    char *p = zk_name_prefix(key, zk_name_id_len(key), data, data ? strlen(data) : 0, encode);
    assert_non_null(p);
    return p;
}

static void plain_name_is_instance_id_and_underscore(void **state)
{
    char *p = prefix_of("host-1_8888", REC, false);
    assert_string_equal(p, "host-1_");
    free(p);
    /* An instance id may hold '_': only the port after the last one goes. */
    p = prefix_of("my_host_31000", REC, false);
    assert_string_equal(p, "my_host_");
    free(p);
    assert_int_equal(zk_name_id_len("nounderscore"), strlen("nounderscore"));
}

static void sequence_suffix_matches_and_reads_as_id(void **state)
{
    assert_true(zk_name_matches("host-1_0000000042", "host-1_"));
    assert_false(zk_name_matches("host-1_000000042", "host-1_"));   /* 9 digits */
    assert_false(zk_name_matches("host-1_00000000420", "host-1_")); /* 11 */
    assert_false(zk_name_matches("host-1_8888", "host-1_"));        /* the old name */
    assert_false(zk_name_matches("host-1_x000000042", "host-1_"));
    assert_false(zk_name_matches("host-2_0000000042", "host-1_"));
    assert_false(zk_name_matches("xhost-1_0000000042", "host-1_"));
    assert_int_equal(zk_name_seq("host-1_0000000042"), 42);
    assert_int_equal(zk_name_seq("my_host_0000000007"), 7);
    assert_int_equal(zk_name_seq("host-1_"), -1);
    assert_int_equal(zk_name_seq("host-1_12a"), -1);
    assert_int_equal(zk_name_seq("0000000003"), 3);
}

/* The exact bytes nerve's Ruby writes: Base64.urlsafe_encode64 keeps '='
 * padding and <len> is the length of that text. Python's
 * base64.urlsafe_b64encode(b'{"a":"?>"}') gives the same text. */
static void encoded_name_matches_nerve(void **state)
{
    char *p = prefix_of("h1_1", "{\"a\":\"?>\"}", true);
    assert_string_equal(p, "base64_16_eyJhIjoiPz4ifQ==_");
    free(p);
    p = prefix_of("h1_1", "ab", true);
    assert_string_equal(p, "base64_4_YWI=_");
    free(p);
    p = prefix_of("h1_1", "abc", true);
    assert_string_equal(p, "base64_4_YWJj_");
    free(p);
    /* '+' and '/' of plain base64 become '-' and '_': never a '/' in a name. */
    p = prefix_of("h1_1", "\xfb\xff", true);
    assert_string_equal(p, "base64_4_-_8=_");
    free(p);
}

static void round_trip(void **state)
{
    const char *recs[] = {
        REC, "", "a", "ab", "abc", "abcd", "{\"x\":\"\xc3\xa9\xf0\x9f\x98\x80\"}"};
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        char *p = prefix_of("h1_8888", recs[i], true);
        char child[1024];
        snprintf(child, sizeof child, "%s%010d", p, 123);
        assert_true(zk_name_matches(child, p));
        assert_int_equal(zk_name_seq(child), 123);
        size_t n = 99;
        char *back = zk_name_decode(child, &n);
        assert_non_null(back);
        assert_int_equal(n, strlen(recs[i]));
        assert_memory_equal(back, recs[i], n);
        free(back);
        free(p);
    }
}

static void decode_refuses_what_is_not_encoded(void **state)
{
    size_t n;
    const char *bad[] = {"h1_0000000001",
                         "base64_0000000001",
                         "base64__YWJj_0000000001",
                         "base64_8_YWJj",
                         "base64_4_Y!Jj_0000000001",
                         "base64_5_YWJjZ_0000000001",
                         "base64_99999999999999999999_x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = zk_name_decode(bad[i], &n);
        if (d)
            fail_msg("%s decoded to %s", bad[i], d);
    }
    /* Unpadded base64 decodes too (synapse's Ruby accepts it). */
    char *d = zk_name_decode("base64_3_YWI_0000000001", &n);
    assert_non_null(d);
    assert_string_equal(d, "ab");
    free(d);
}

/* Above nerve's 64 KiB of base64 the plain name is used. */
static void too_long_falls_back_to_plain(void **state)
{
    size_t fit = ZK_NAME_ENCODED_MAX / 4 * 3; /* exactly 65536 characters of base64 */
    char *big = malloc(fit + 2);
    assert_non_null(big);
    memset(big, 'x', fit + 1);
    big[fit] = '\0';
    char *p = prefix_of("h1_8888", big, true);
    assert_int_equal(strncmp(p, "base64_65536_", 13), 0);
    assert_int_equal(strlen(p), 13 + 65536 + 1);
    free(p);
    big[fit] = 'x';
    big[fit + 1] = '\0';
    p = prefix_of("h1_8888", big, true);
    assert_string_equal(p, "h1_");
    free(p);
    free(big);
}

static void out_of_memory_is_null(void **state)
{
    failalloc_arm(1, true);
    assert_null(zk_name_prefix("h1", 2, REC, strlen(REC), true));
    assert_null(zk_name_prefix("h1", 2, REC, strlen(REC), false));
    size_t n;
    assert_null(zk_name_decode("base64_4_YWJj_0000000001", &n));
    failalloc_off();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_name_is_instance_id_and_underscore),
        cmocka_unit_test(sequence_suffix_matches_and_reads_as_id),
        cmocka_unit_test(encoded_name_matches_nerve),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(decode_refuses_what_is_not_encoded),
        cmocka_unit_test(too_long_falls_back_to_plain),
        cmocka_unit_test(out_of_memory_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
