/* Unit tests of proto/etcd: base64, request bodies, reply decoding, with
 * replies captured from etcd 3.4's JSON gateway and malformed variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "proto/etcd.h"

static void test_b64_vectors(void **state)
{
    /* RFC 4648 section 10. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = etcd_b64_encode(plain[i], strlen(plain[i]));
        assert_non_null(e);
        assert_string_equal(e, enc[i]);
        free(e);
        size_t n = 99;
        unsigned char *d = etcd_b64_decode(enc[i], strlen(enc[i]), &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
        assert_int_equal(d[n], '\0');
        free(d);
    }
    /* The two characters that differ between base64 and base64url. */
    unsigned char hi[] = {0xfb, 0xff, 0xbf};
    char *e = etcd_b64_encode(hi, sizeof hi);
    assert_string_equal(e, "+/+/");
    free(e);
}

static void test_b64_roundtrip_binary(void **state)
{
    unsigned char buf[70];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11); /* includes 0x00 and 0xff-ish bytes */
    buf[3] = 0;
    buf[5] = 0xff;
    for (size_t len = 0; len <= sizeof buf; len++) {
        char *e = etcd_b64_encode(buf, len);
        assert_non_null(e);
        assert_int_equal(strlen(e), (len + 2) / 3 * 4);
        size_t n;
        unsigned char *d = etcd_b64_decode(e, strlen(e), &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        assert_memory_equal(d, buf, len);
        free(d);
        /* Unpadded input decodes the same. */
        size_t el = strlen(e);
        while (el && e[el - 1] == '=')
            el--;
        d = etcd_b64_decode(e, el, &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        free(d);
        free(e);
    }
}

static void test_b64_rejects(void **state)
{
    static const char *const bad[] = {
        "Z",      /* one char cannot hold a byte */
        "Zm9v!",  /* not in the alphabet */
        "Zg=",    /* padding that does not complete the quad */
        "Zh==",   /* non-zero leftover bits */
        "Zm9=",   /* same with one pad */
        "Zm-v",   /* base64url is not what etcd sends */
        "Zm9v\n", /* no whitespace */
        "=",      "Zm9v====",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n;
        unsigned char *d = etcd_b64_decode(bad[i], strlen(bad[i]), &n);
        if (d)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

/* Parses a body we built; checks it is one JSON object. */
static json_t *load(char *body)
{
    assert_non_null(body);
    json_error_t e;
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, &e);
    free(body);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

static void assert_b64_field(json_t *j, const char *name, const void *want, size_t len)
{
    json_t *v = json_object_get(j, name);
    assert_true(json_is_string(v));
    size_t n;
    unsigned char *d = etcd_b64_decode(json_string_value(v), strlen(json_string_value(v)), &n);
    assert_non_null(d);
    assert_int_equal(n, len);
    assert_memory_equal(d, want, len);
    free(d);
}

static void test_bodies(void **state)
{
    json_t *j = load(etcd_lease_grant_body(10));
    assert_int_equal(json_integer_value(json_object_get(j, "TTL")), 10);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);

    /* IDs above 2^53 must survive: they travel as strings. */
    j = load(etcd_lease_keepalive_body(INT64_C(1133677935743892230)));
    assert_string_equal(json_string_value(json_object_get(j, "ID")), "1133677935743892230");
    json_decref(j);
    j = load(etcd_lease_revoke_body(INT64_C(9223372036854775807)));
    assert_string_equal(json_string_value(json_object_get(j, "ID")), "9223372036854775807");
    json_decref(j);
    j = load(etcd_lease_ttl_body(5));
    assert_string_equal(json_string_value(json_object_get(j, "ID")), "5");
    json_decref(j);

    const char *rec = "{\"host\":\"10.0.0.1\",\"port\":8888,\"name\":\"h\",\"weight\":10,"
                      "\"labels\":{\"region:us\":\"\"}}";
    j = load(etcd_put_body("/smartstack/global/svc.main/h_8888", rec, strlen(rec),
                           INT64_C(7587862072571207433)));
    assert_b64_field(j, "key", "/smartstack/global/svc.main/h_8888",
                     strlen("/smartstack/global/svc.main/h_8888"));
    assert_b64_field(j, "value", rec, strlen(rec));
    assert_string_equal(json_string_value(json_object_get(j, "lease")), "7587862072571207433");
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);

    /* No lease: no lease field (0 would mean the same, but say nothing). */
    j = load(etcd_put_body("k", "\0v", 2, 0));
    assert_null(json_object_get(j, "lease"));
    assert_b64_field(j, "value", "\0v", 2);
    json_decref(j);

    j = load(etcd_delete_body("/p/svc.main/h_1", false));
    assert_b64_field(j, "key", "/p/svc.main/h_1", 15);
    assert_null(json_object_get(j, "range_end"));
    json_decref(j);
}

static void test_prefix_range_end(void **state)
{
    json_t *j = load(etcd_range_body("/p/svc/", true));
    assert_b64_field(j, "key", "/p/svc/", 7);
    assert_b64_field(j, "range_end", "/p/svc0", 7); /* '/' + 1 == '0' */
    json_decref(j);

    /* Trailing 0xff bytes carry: "a\xff" -> "b". */
    j = load(etcd_delete_body("a\xff", true));
    assert_b64_field(j, "range_end", "b", 1);
    json_decref(j);

    /* All 0xff: the whole key space from key on, range_end "\0". */
    j = load(etcd_range_body("\xff\xff", true));
    assert_b64_field(j, "range_end", "\0", 1);
    json_decref(j);
}

static int parse(struct etcd_resp *r, int status, const char *body)
{
    char err[256];
    err[0] = '\0';
    int rc = etcd_resp_parse(r, status, body, strlen(body), err, sizeof err);
    if (rc != 0)
        assert_true(err[0] != '\0'); /* a failure always says why */
    return rc;
}

#define HDR                                                                                        \
    "\"header\":{\"cluster_id\":\"7847202773265228829\",\"member_id\":"                            \
    "\"10388018442273034171\",\"revision\":\"3\",\"raft_term\":\"2\"}"

static void test_parse_replies(void **state)
{
    struct etcd_resp r;

    assert_int_equal(parse(&r, 200, "{" HDR ",\"ID\":\"1133677935743892230\",\"TTL\":\"5\"}"), 0);
    assert_int_equal(r.code, ETCD_OK);
    assert_true(r.cluster_id == UINT64_C(7847202773265228829));
    assert_true(r.member_id == UINT64_C(10388018442273034171)); /* above INT64_MAX */
    assert_int_equal(r.revision, 3);
    assert_int_equal(r.raft_term, 2);
    assert_true(r.id == INT64_C(1133677935743892230));
    assert_int_equal(r.ttl, 5);
    etcd_resp_clear(&r);

    /* keepalive, streamed: alive, then gone (no TTL field). */
    assert_int_equal(parse(&r, 200, "{\"result\":{" HDR ",\"ID\":\"12\",\"TTL\":\"5\"}}\n"), 0);
    assert_true(etcd_resp_keepalive_alive(&r));
    assert_int_equal(r.id, 12);
    assert_int_equal(r.revision, 3);
    etcd_resp_clear(&r);
    assert_int_equal(parse(&r, 200, "{\"result\":{" HDR ",\"ID\":\"12345\"}}"), 0);
    assert_int_equal(r.code, ETCD_OK);
    assert_false(etcd_resp_keepalive_alive(&r));
    etcd_resp_clear(&r);
    /* Several streamed messages: the first one counts. */
    assert_int_equal(parse(&r, 200,
                           "{\"result\":{" HDR ",\"ID\":\"1\",\"TTL\":\"9\"}}\n"
                           "{\"result\":{" HDR ",\"ID\":\"1\",\"TTL\":\"0\"}}\n"),
                     0);
    assert_int_equal(r.ttl, 9);
    etcd_resp_clear(&r);
    /* A JSON number TTL is fine too; "0" and negative are not alive. */
    assert_int_equal(parse(&r, 200, "{\"result\":{" HDR ",\"ID\":\"1\",\"TTL\":0}}"), 0);
    assert_false(etcd_resp_keepalive_alive(&r));
    etcd_resp_clear(&r);
    assert_int_equal(parse(&r, 200, "{\"result\":{" HDR ",\"ID\":\"1\",\"TTL\":\"-1\"}}"), 0);
    assert_false(etcd_resp_keepalive_alive(&r));
    etcd_resp_clear(&r);

    /* timetolive: grantedTTL is camelCase. */
    assert_int_equal(parse(&r, 200, "{" HDR ",\"ID\":\"9\",\"TTL\":\"4\",\"grantedTTL\":\"5\"}"),
                     0);
    assert_int_equal(r.granted_ttl, 5);
    assert_int_equal(r.ttl, 4);
    etcd_resp_clear(&r);

    assert_int_equal(parse(&r, 200, "{" HDR ",\"deleted\":\"1\"}"), 0);
    assert_int_equal(r.deleted, 1);
    etcd_resp_clear(&r);
    assert_int_equal(parse(&r, 200, "{" HDR "}"), 0); /* deleted nothing */
    assert_int_equal(r.deleted, 0);
    assert_int_equal(r.n_kvs, 0);
    etcd_resp_clear(&r);
}

static void test_parse_range(void **state)
{
    struct etcd_resp r;
    assert_int_equal(
        parse(&r, 200,
              "{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":"
              "\"4\",\"version\":\"3\",\"value\":\"YmFy\",\"lease\":\"1133677935743892232\"},"
              "{\"key\":\"Zm9w\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":"
              "\"1\"}],\"count\":\"2\"}"),
        0);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.n_kvs, 2);
    assert_string_equal(r.kvs[0].key, "foo");
    assert_string_equal(r.kvs[0].value, "bar");
    assert_int_equal(r.kvs[0].value_len, 3);
    assert_true(r.kvs[0].lease == INT64_C(1133677935743892232));
    assert_int_equal(r.kvs[0].create_revision, 2);
    assert_int_equal(r.kvs[0].mod_revision, 4);
    assert_int_equal(r.kvs[0].version, 3);
    /* Empty value: the gateway leaves the field out. */
    assert_string_equal(r.kvs[1].key, "fop");
    assert_int_equal(r.kvs[1].value_len, 0);
    assert_string_equal(r.kvs[1].value, "");
    assert_int_equal(r.kvs[1].lease, 0);
    etcd_resp_clear(&r);
    etcd_resp_clear(&r); /* idempotent */
}

static void test_parse_errors(void **state)
{
    struct etcd_resp r;
    /* Unary error, followed by what a chunked trailer would look like if a
     * client left it in: the first JSON value is what counts. */
    assert_int_equal(parse(&r, 404,
                           "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                           "\"etcdserver: requested lease not found\",\"code\":5}"),
                     0);
    assert_int_equal(r.code, ETCD_NOT_FOUND);
    assert_string_equal(r.message, "etcdserver: requested lease not found");
    assert_true(etcd_resp_lease_not_found(&r));
    assert_false(etcd_resp_keepalive_alive(&r));
    etcd_resp_clear(&r);

    assert_int_equal(parse(&r, 400,
                           "{\"error\":\"illegal base64 data at input byte 0\",\"message\":"
                           "\"illegal base64 data at input byte 0\",\"code\":3}"),
                     0);
    assert_int_equal(r.code, ETCD_INVALID_ARGUMENT);
    assert_false(etcd_resp_lease_not_found(&r));
    etcd_resp_clear(&r);

    /* Streamed error shape. */
    assert_int_equal(parse(&r, 503,
                           "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
                           "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}"),
                     0);
    assert_int_equal(r.code, ETCD_UNAVAILABLE);
    assert_string_equal(r.message, "etcdserver: no leader");
    etcd_resp_clear(&r);

    /* An error inside result. */
    assert_int_equal(parse(&r, 200,
                           "{\"result\":{\"error\":\"etcdserver: requested lease not found\","
                           "\"code\":5}}"),
                     0);
    assert_true(etcd_resp_lease_not_found(&r));
    etcd_resp_clear(&r);

    /* Error without a message still gets a text. */
    assert_int_equal(parse(&r, 500, "{\"code\":13}"), 0);
    assert_int_equal(r.code, 13);
    assert_true(r.message[0] != '\0');
    etcd_resp_clear(&r);
}

static void test_parse_malformed(void **state)
{
    static const struct {
        int status;
        const char *body;
    } bad[] = {
        {200, ""},
        {200, "not json"},
        {200, "[1,2]"},
        {200, "\"str\""},
        {200, "{\"header\":{\"revision\":\"3\"}"}, /* truncated */
        {200, "{}"},                               /* no header: not an etcd reply */
        {200, "{\"header\":5}"},
        {200, "{\"header\":{\"revision\":\"abc\"}}"},
        {200, "{\"header\":{\"revision\":\"12x\"}}"},
        {200, "{\"header\":{\"revision\":\"99999999999999999999\"}}"}, /* overflows int64 */
        {200, "{\"header\":{\"cluster_id\":\"-1\"}}"},
        {200, "{\"header\":{\"cluster_id\":true}}"},
        {200, "{\"header\":{},\"ID\":true}"},
        {200, "{\"header\":{},\"TTL\":[]}"},
        {200, "{\"header\":{},\"TTL\":\"\"}"},
        {200, "{\"header\":{},\"kvs\":{}}"},
        {200, "{\"header\":{},\"kvs\":[5]}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"!!\"}]}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"value\":7}]}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\"},{\"key\":\"Zm9v\",\"version\":\"x\"}]}"},
        {200, "{\"result\":5}"},
        {200, "{\"result\":{}}"},
        {500, "{\"header\":{}}"},    /* non-2xx that is not an error reply */
        {404, "404 page not found"}, /* a plain web server, not etcd */
        {502, "<html>bad gateway</html>"},
        {400, "{\"error\":\"x\",\"code\":\"5\"}"}, /* code must be a number */
        {400, "{\"error\":\"x\"}"},                /* and present */
        {400, "{\"error\":\"x\",\"code\":0}"},
        {400, "{\"error\":\"x\",\"code\":99}"},
        {503, "{\"error\":{\"message\":\"no code\"}}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct etcd_resp r;
        memset(&r, 0x5a, sizeof r); /* parse must initialise everything */
        if (parse(&r, bad[i].status, bad[i].body) == 0) {
            etcd_resp_clear(&r);
            fail_msg("accepted #%zu: HTTP %d %s", i, bad[i].status, bad[i].body);
        }
        /* After a failure the struct is safe to clear (no dangling kvs). */
        etcd_resp_clear(&r);
    }
    /* NULL body with length 0 is a failure, not a crash. */
    struct etcd_resp r;
    char err[64];
    assert_int_equal(etcd_resp_parse(&r, 200, NULL, 0, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_vectors),      cmocka_unit_test(test_b64_roundtrip_binary),
        cmocka_unit_test(test_b64_rejects),      cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_prefix_range_end), cmocka_unit_test(test_parse_replies),
        cmocka_unit_test(test_parse_range),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
