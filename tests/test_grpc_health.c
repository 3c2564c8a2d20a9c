/* proto/grpc_health: the framed HealthCheckRequest bytes, and decoding of
 * HealthCheckResponse, hostile bytes included. The expected request bytes
 * are what protobuf's own encoder produces for the message (field 1, wire
 * type 2 = 0x0a, varint length, UTF-8), written out here by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/grpc_health.h"

static void test_request_empty_service(void **state)
{
    unsigned char out[16];
    static const unsigned char want[] = {0, 0, 0, 0, 0};

    assert_int_equal(grpc_health_request_len(""), 5);
    assert_int_equal(grpc_health_request_len(NULL), 5);
    assert_int_equal(grpc_health_encode_request("", out, sizeof(out)), 5);
    assert_memory_equal(out, want, 5);
    memset(out, 0xee, sizeof(out));
    assert_int_equal(grpc_health_encode_request(NULL, out, sizeof(out)), 5);
    assert_memory_equal(out, want, 5);
    assert_int_equal(out[5], 0xee); /* nothing past the prefix */
    /* a prefix does not fit in 4 bytes */
    assert_int_equal(grpc_health_encode_request(NULL, out, 4), 0);
}

static void test_request_named_service(void **state)
{
    unsigned char out[64];
    static const unsigned char want[] = {0,   0,   0,   0,   10,  0x0a, 8,  's',
                                         'v', 'c', '.', 'm', 'a', 'i',  'n'};

    assert_int_equal(grpc_health_encode_request("svc.main", out, sizeof(out)), sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    /* too small a buffer: nothing written, 0 */
    assert_int_equal(grpc_health_encode_request("svc.main", out, sizeof(want) - 1), 0);
}

/* A 200-byte name needs a two-byte varint length (0xc8 0x01). */
static void test_request_long_service(void **state)
{
    char name[201];
    unsigned char out[256];

    memset(name, 'a', 200);
    name[200] = '\0';
    assert_int_equal(grpc_health_request_len(name), 5 + 1 + 2 + 200);
    assert_int_equal(grpc_health_encode_request(name, out, sizeof(out)), 208);
    assert_int_equal(out[4], 203);
    assert_int_equal(out[5], 0x0a);
    assert_int_equal(out[6], 0xc8);
    assert_int_equal(out[7], 0x01);
    assert_int_equal(out[8], 'a');
    assert_int_equal(out[207], 'a');
}

static int decode(const unsigned char *buf, size_t len, int *status, char *err)
{
    return grpc_health_decode_response(buf, len, status, err, 96);
}

static void test_response_statuses(void **state)
{
    static const unsigned char serving[] = {0, 0, 0, 0, 2, 0x08, 1};
    static const unsigned char not_serving[] = {0, 0, 0, 0, 2, 0x08, 2};
    static const unsigned char empty[] = {0, 0, 0, 0, 0}; /* proto3 default: UNKNOWN */
    /* unknown fields of every wire type around the status; last status wins */
    static const unsigned char extra[] = {0,    0, 0,   0,   20, 0x10, 0x96, 0x01, /* 2: varint */
                                          0x1a, 2, 'h', 'i',                       /* 3: bytes */
                                          0x08, 2,                                 /* status 2 */
                                          0x21, 1, 2,   3,   4,  5,    6,    7,
                                          8,        /* 4: fixed64 */
                                          0x08, 1}; /* status 1 */
    int st = -1;
    char err[96];

    assert_int_equal(decode(serving, sizeof(serving), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_SERVING);
    assert_int_equal(decode(not_serving, sizeof(not_serving), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_NOT_SERVING);
    assert_int_equal(decode(empty, sizeof(empty), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_UNKNOWN);
    assert_int_equal(decode(extra, sizeof(extra), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_SERVING);
}

static void expect_bad(const unsigned char *buf, size_t len, const char *why)
{
    int st = 12345;
    char err[96] = "";

    assert_int_equal(decode(buf, len, &st, err), -1);
    assert_string_equal(err, why);
    assert_int_equal(st, 12345); /* untouched */
}

static void test_response_garbage(void **state)
{
    static const unsigned char compressed[] = {1, 0, 0, 0, 2, 0x08, 1};
    static const unsigned char badflag[] = {'H', 'T', 'T', 'P', '/', '1'};
    static const unsigned char short_msg[] = {0, 0, 0, 0, 3, 0x08, 1};
    static const unsigned char trailing[] = {0, 0, 0, 0, 2, 0x08, 1, 0};
    static const unsigned char huge[] = {0, 0x7f, 0xff, 0xff, 0xff};
    static const unsigned char cut_varint[] = {0, 0, 0, 0, 2, 0x08, 0xff};
    static const unsigned char wrong_type[] = {0, 0, 0, 0, 3, 0x0a, 1, 1};
    static const unsigned char field0[] = {0, 0, 0, 0, 2, 0x00, 1};
    static const unsigned char group[] = {0, 0, 0, 0, 2, 0x13, 1};
    static const unsigned char long_len[] = {0, 0, 0, 0, 3, 0x1a, 9, 1};
    static const unsigned char varint11[] = {0,    0,    0,    0,    12,   0x08, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};

    expect_bad((const unsigned char *)"", 0, "empty response");
    expect_bad(compressed, 3, "truncated message prefix");
    expect_bad(compressed, sizeof(compressed), "compressed message");
    expect_bad(badflag, sizeof(badflag), "bad message prefix");
    expect_bad(short_msg, sizeof(short_msg), "truncated message");
    expect_bad(trailing, sizeof(trailing), "data after the message");
    expect_bad(huge, sizeof(huge), "message of 2147483647 bytes");
    expect_bad(cut_varint, sizeof(cut_varint), "malformed HealthCheckResponse");
    expect_bad(wrong_type, sizeof(wrong_type), "malformed HealthCheckResponse");
    expect_bad(field0, sizeof(field0), "malformed HealthCheckResponse");
    expect_bad(group, sizeof(group), "malformed HealthCheckResponse");
    expect_bad(long_len, sizeof(long_len), "malformed HealthCheckResponse");
    expect_bad(varint11, sizeof(varint11), "malformed HealthCheckResponse");
}

/* Unknown fields of each wire type whose value runs past the message, and
 * wire types that do not exist. */
static void test_response_cut_fields(void **state)
{
    static const unsigned char cut_i64[] = {0, 0, 0, 0, 4, 0x21, 1, 2, 3};
    static const unsigned char cut_i32[] = {0, 0, 0, 0, 3, 0x2d, 1, 2};
    static const unsigned char cut_len[] = {0, 0, 0, 0, 2, 0x1a, 0x80};
    static const unsigned char cut_key[] = {0, 0, 0, 0, 1, 0x88};
    static const unsigned char wt6[] = {0, 0, 0, 0, 2, 0x16, 1};
    static const unsigned char wt7[] = {0, 0, 0, 0, 2, 0x17, 1};
    static const unsigned char cut_skip_varint[] = {0, 0, 0, 0, 2, 0x10, 0x80};

    expect_bad(cut_i64, sizeof(cut_i64), "malformed HealthCheckResponse");
    expect_bad(cut_i32, sizeof(cut_i32), "malformed HealthCheckResponse");
    expect_bad(cut_len, sizeof(cut_len), "malformed HealthCheckResponse");
    expect_bad(cut_key, sizeof(cut_key), "malformed HealthCheckResponse");
    expect_bad(wt6, sizeof(wt6), "malformed HealthCheckResponse");
    expect_bad(wt7, sizeof(wt7), "malformed HealthCheckResponse");
    expect_bad(cut_skip_varint, sizeof(cut_skip_varint), "malformed HealthCheckResponse");
}

/* A fixed32 unknown field (wire type 5) is skipped like the others, and
 * fields exactly filling the message are fine. */
static void test_response_fixed32_field(void **state)
{
    static const unsigned char msg[] = {0, 0, 0, 0, 7, 0x2d, 1, 2, 3, 4, 0x08, 2};
    static const unsigned char last[] = {0, 0, 0, 0, 7, 0x08, 1, 0x2d, 1, 2, 3, 4};
    int st = -1;
    char err[96];

    assert_int_equal(decode(msg, sizeof(msg), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_NOT_SERVING);
    assert_int_equal(decode(last, sizeof(last), &st, err), 0);
    assert_int_equal(st, GRPC_HEALTH_SERVING);
}

/* An enum is int32: -1 arrives as a 10-byte varint. */
static void test_response_negative_enum(void **state)
{
    static const unsigned char neg[] = {0,    0,    0,    0,    11,   0x08, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    int st = 0;
    char err[96];

    assert_int_equal(decode(neg, sizeof(neg), &st, err), 0);
    assert_int_equal(st, -1);
    assert_null(grpc_health_status_name(st));
}

static void test_names(void **state)
{
    assert_string_equal(grpc_health_status_name(0), "UNKNOWN");
    assert_string_equal(grpc_health_status_name(1), "SERVING");
    assert_string_equal(grpc_health_status_name(2), "NOT_SERVING");
    assert_string_equal(grpc_health_status_name(3), "SERVICE_UNKNOWN");
    assert_null(grpc_health_status_name(4));
    assert_string_equal(grpc_status_code_name(0), "OK");
    assert_string_equal(grpc_status_code_name(5), "NOT_FOUND");
    assert_string_equal(grpc_status_code_name(12), "UNIMPLEMENTED");
    assert_string_equal(grpc_status_code_name(14), "UNAVAILABLE");
    assert_string_equal(grpc_status_code_name(16), "UNAUTHENTICATED");
    assert_null(grpc_status_code_name(17));
    assert_null(grpc_status_code_name(-1));
}

static void test_message_decode(void **state)
{
    char out[32];

    grpc_message_decode("warming up: 50%25 done", out, sizeof(out));
    assert_string_equal(out, "warming up: 50% done");
    grpc_message_decode("caf%C3%A9", out, sizeof(out));
    assert_string_equal(out, "caf\xc3\xa9");
    grpc_message_decode("line%0Abreak%", out, sizeof(out)); /* LF made a space; stray % kept */
    assert_string_equal(out, "line break%");
    grpc_message_decode("%zz%4", out, sizeof(out));
    assert_string_equal(out, "%zz%4");
    grpc_message_decode(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    grpc_message_decode("0123456789", out, 5); /* cut to fit */
    assert_string_equal(out, "0123");
    grpc_message_decode("caf%c3%a9%7f%1b.", out, sizeof(out)); /* lower-case hex; DEL, ESC */
    assert_string_equal(out, "caf\xc3\xa9  .");
    grpc_message_decode("%41%4a%4F", out, sizeof(out));
    assert_string_equal(out, "AJO");
    /* no room at all: nothing written */
    out[0] = 'x';
    grpc_message_decode("abc", out, 0);
    assert_int_equal(out[0], 'x');
    grpc_message_decode("abc", out, 1);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_empty_service),
        cmocka_unit_test(test_request_named_service),
        cmocka_unit_test(test_request_long_service),
        cmocka_unit_test(test_response_statuses),
        cmocka_unit_test(test_response_garbage),
        cmocka_unit_test(test_response_negative_enum),
        cmocka_unit_test(test_response_cut_fields),
        cmocka_unit_test(test_response_fixed32_field),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_message_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
