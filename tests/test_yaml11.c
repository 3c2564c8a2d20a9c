/* config/yaml11.c: YAML 1.1 scalars as PyYAML's SafeLoader reads them. Every
 * expectation here was checked against PyYAML 6 (python3-yaml) with
 * yaml.CSafeLoader, what paasta validate uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/yaml11.h"

static const char *implicit(const char *s)
{
    return yaml11_implicit(s, strlen(s));
}

static void expect_tag(const char *const *texts, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(implicit(texts[i]), want) != 0)
            fail_msg("'%s': resolved as %s, want %s", texts[i], implicit(texts[i]), want);
}

#define EXPECT_TAG(want, ...)                                                                      \
    do {                                                                                           \
        static const char *const t_[] = {__VA_ARGS__};                                             \
        expect_tag(t_, sizeof(t_) / sizeof(t_[0]), want);                                          \
    } while (0)

static void resolver_patterns(void **state)
{
    EXPECT_TAG("null", "", "~", "null", "Null", "NULL");
    EXPECT_TAG("bool", "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false",
               "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF");
    EXPECT_TAG("int", "0", "-0", "+7", "017", "0_7", "00", "0b1", "-0b1_0", "0b_", "0x1f", "0xFF",
               "0x_", "1_000", "1__0", "190:20:30", "1:5", "-1:30", "9999999999999999999999");
    EXPECT_TAG("float", "1.5", "1.", "-1.", ".5", "1.5e+3", "1.5E-3", "1_0.5", "1.5_", "0:30.5",
               "190:20:30.15", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", ".NAN");
    EXPECT_TAG("timestamp", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
               "2001-12-14 21:59:43.10 -5", "2001-12-14 2:59:43", "2001-1-1 1:00:00 Z",
               "2001-13-45");
    EXPECT_TAG("merge", "<<");
    EXPECT_TAG("value", "=");
    EXPECT_TAG("yaml", "!", "&", "*");
    EXPECT_TAG("str", "y", "n", "yES", "nUll", "0o17", "0O17", "0B1", "0X1F", "08", "09.5e", "_1",
               "1e5", "1E+5", "1.0e5", "-.5", "+.5", "-.nan", "inf", "nan", "1:60", "0:30", "01:30",
               "1:30:", "1.2.3", "2001-1-1", "2001-12-14 ", "2001-12-14T21:59",
               "2001-12-14 21:59:43 +123", "<<<", "==", "1 2", "+", "-", ".");
    /* "09.5" is a float: a float's digits are any digits */
    assert_string_equal(implicit("09.5"), "float");
    /* a NUL byte matches no pattern */
    assert_string_equal(yaml11_implicit("1\0", 2), "str");
}

static struct yaml11_value construct(const char *tag, const char *s)
{
    char err[300];
    char full[100];
    struct yaml11_value v;
    snprintf(full, sizeof(full), "%s%s", YAML11_TAG, tag);
    if (yaml11_construct(full, s, strlen(s), &v, err, sizeof(err)) != 0)
        fail_msg("!!%s '%s': %s", tag, s, err);
    return v;
}

static void expect_fails_n(const char *tag, const char *s, size_t len, const char *want)
{
    char err[300] = "";
    struct yaml11_value v;
    if (yaml11_construct(tag, s, len, &v, err, sizeof(err)) == 0)
        fail_msg("%s '%s' constructed", tag, s);
    if (!strstr(err, want))
        fail_msg("%s '%s': error '%s' lacks '%s'", tag, s, err, want);
}

static void expect_fails(const char *tag, const char *s, const char *want)
{
    expect_fails_n(tag, s, strlen(s), want);
}

static void integers(void **state)
{
    static const struct {
        const char *s;
        long long want;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"017", 15},
        {"0_17", 15},
        {"0b101", 5},
        {"-0b1_1", -3},
        {"0x1F", 31},
        {"0xff", 255},
        {"1_000", 1000},
        {"+12", 12},
        {"1:30", 90},
        {"190:20:30", 685230},
        {"-1:00", -60},
        {"5:33:20", 20000},
        /* under an explicit !!int, Python's int() decides */
        {" 12 ", 12},
        {"0o17", 15},
        {"+-1", -1},
        {"9223372036854775807", LLONG_MAX},
        {"-9223372036854775807", -LLONG_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct yaml11_value v = construct("int", cases[i].s);
        if (v.type != YAML11_INT || v.big || v.i != cases[i].want || v.f != (double)cases[i].want)
            fail_msg("!!int '%s': got %lld, want %lld", cases[i].s, v.i, cases[i].want);
    }
    /* beyond long long: still an integer, saturated, with its magnitude */
    struct yaml11_value v = construct("int", "123456789012345678901234567890");
    assert_true(v.big && v.i == LLONG_MAX && v.f > 1.2e29 && v.f < 1.3e29);
    v = construct("int", "-123456789012345678901234567890");
    assert_true(v.big && v.i == LLONG_MIN && v.f < -1.2e29);
    v = construct("int", "-9223372036854775808");
    assert_true(v.big && v.i == LLONG_MIN);
    /* what PyYAML's constructor refuses */
    static const char *const bad[] = {"0b_",  "0x_",  "",   "-",   "12abc", "2.5",
                                      "0X1F", "0B11", "08", "1:x", "0b2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_fails(YAML11_TAG "int", bad[i], "is not a valid integer");
    expect_fails_n(YAML11_TAG "int", "1\0", 2, "is not a valid integer");
}

static void floats(void **state)
{
    static const struct {
        const char *s;
        double want;
    } cases[] = {
        {"1.5", 1.5},
        {"1.", 1.0},
        {".5", 0.5},
        {"1_0.5", 10.5},
        {"1.5e+3", 1500},
        {"0:30.5", 30.5},
        {"1:00:00.0", 3600},
        {"-1:30.0", -90},
        {"+.inf", INFINITY},
        {"-.INF", -INFINITY},
        /* under an explicit !!float, Python's float() decides */
        {"20000", 20000},
        {"1e5", 1e5},
        {" 2.5 ", 2.5},
        {"-inf", -INFINITY},
        {"Infinity", INFINITY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct yaml11_value v = construct("float", cases[i].s);
        if (v.type != YAML11_FLOAT || v.f != cases[i].want)
            fail_msg("!!float '%s': got %g, want %g", cases[i].s, v.f, cases[i].want);
    }
    assert_true(isnan(construct("float", ".nan").f));
    assert_true(isnan(construct("float", ".NaN").f));
    assert_true(isnan(construct("float", "nan").f));
    static const char *const bad[] = {"fast", "", "1e", "0x10", "1.5.5", "e5", ".", "1:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_fails(YAML11_TAG "float", bad[i], "is not a valid float");
}

static void bools_nulls_strings(void **state)
{
    assert_true(construct("bool", "yes").b);
    assert_true(construct("bool", "tRuE").b);
    assert_true(construct("bool", "ON").b);
    assert_false(construct("bool", "Off").b);
    assert_false(construct("bool", "no").b);
    expect_fails(YAML11_TAG "bool", "maybe", "is not a boolean");
    expect_fails(YAML11_TAG "bool", "y", "is not a boolean");
    expect_fails_n(YAML11_TAG "bool", "yes\0", 4, "is not a boolean");
    assert_int_equal(construct("null", "anything").type, YAML11_NULL);
    assert_int_equal(construct("str", "12").type, YAML11_STR);
}

static void timestamps(void **state)
{
    static const char *const good[] = {"2001-12-14",
                                       "2000-02-29",
                                       "2001-1-1",
                                       "2001-12-14t21:59:43.10-05:00",
                                       "2001-12-14 21:59:43.1234567 -5",
                                       "2001-12-14 21:59:43. Z",
                                       "2001-12-14 23:59:59 +23:59",
                                       "9999-12-31"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(construct("timestamp", good[i]).type, YAML11_TIMESTAMP);
    static const struct {
        const char *s, *why;
    } bad[] = {
        {"2001-02-29", "day is out of range"},
        {"1900-02-29", "day is out of range"},
        {"2001-04-31", "day is out of range"},
        {"2001-13-01", "month"},
        {"2001-00-01", "month"},
        {"0000-01-01", "year 0"},
        {"2001-01-01 24:00:00", "hour"},
        {"2001-01-01 23:60:00", "hour"},
        {"2001-01-01 23:00:60", "hour"},
        {"2001-01-01 1:00:00 +24", "less than 24 hours"},
        {"2001-01-01 1:00:00 -23:60", "less than 24 hours"},
        {"yesterday", "not a timestamp"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_fails(YAML11_TAG "timestamp", bad[i].s, bad[i].why);
}

static void binary_and_unknown_tags(void **state)
{
    assert_int_equal(construct("binary", "aGVsbG8=").type, YAML11_BINARY);
    assert_int_equal(construct("binary", "aGVs\nbG8=").type, YAML11_BINARY);
    assert_int_equal(construct("binary", "").type, YAML11_BINARY);
    expect_fails(YAML11_TAG "binary", "aGVsbG8", "base64");
    expect_fails(YAML11_TAG "binary", "a", "base64");
    expect_fails(YAML11_TAG "binary", "\xc3\xa9", "base64");
    expect_fails("!custom", "7", "could not determine a constructor for the tag '!custom'");
    expect_fails(YAML11_TAG "merge", "<<", "could not determine a constructor");
    expect_fails(YAML11_TAG "value", "=", "could not determine a constructor");
    expect_fails(YAML11_TAG "yaml", "!", "could not determine a constructor");
    expect_fails(YAML11_TAG "region", "x", "could not determine a constructor");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolver_patterns),
        cmocka_unit_test(integers),
        cmocka_unit_test(floats),
        cmocka_unit_test(bools_nulls_strings),
        cmocka_unit_test(timestamps),
        cmocka_unit_test(binary_and_unknown_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
