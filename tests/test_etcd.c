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
#include "tests/failalloc.h"

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
        "Zm{v",   /* just past the lower-case letters */
        "Zm_v",   /* between the letters' two cases */
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
        {199, "{\"header\":{}}"},                                      /* not a 2xx either */
        {200, "{\"header\":{\"member_id\":\"99999999999999999999\"}}"}, /* over 2^64 */
        {200, "{\"header\":{\"cluster_id\":\"\"}}"},
        {200, "{\"header\":{\"cluster_id\":\"12x\"}}"},
        {200, "{\"header\":{\"raft_term\":\"x\"}}"},
        {200, "{\"header\":{},\"deleted\":\"x\"}"},
        {200, "{\"header\":{},\"grantedTTL\":\"x\"}"},
        {200, "{\"header\":{},\"granted_ttl\":{}}"},
        {200, "{\"result\":{\"error\":\"x\",\"code\":0}}"}, /* a bad error inside result */
        {200, "{\"error\":\"x\",\"code\":17,\"result\":{}}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"lease\":\"1.5\"}]}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":[]}]}"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"x\"}]}"},
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

/* The messages each failure names. */
static void test_parse_failure_reasons(void **state)
{
    static const struct {
        int status;
        const char *body;
        const char *why;
    } cases[] = {
        {200, "[1]", "HTTP 200, body is not a JSON object"},
        {200, "{\"result\":[]}", "result is not an object"},
        {500, "{\"header\":{}}", "HTTP 500 without an etcd error"},
        {200, "{}", "reply without a header"},
        {200, "{\"header\":[]}", "header is not an object"},
        {200, "{\"header\":{\"member_id\":\"99999999999999999999\"}}",
         "header field is not a number"},
        {200, "{\"header\":{},\"count\":\"x\"}", "a number field is not a number"},
        {200, "{\"header\":{},\"grantedTTL\":\"x\"}", "grantedTTL is not a number"},
        {200, "{\"header\":{},\"kvs\":7}", "kvs is not an array"},
        {200, "{\"header\":{},\"kvs\":[{},3]}", "kvs[1] is not an object"},
        {200, "{\"header\":{},\"kvs\":[{\"key\":\"%%\"}]}", "kvs[0]: key or value is not base64"},
        {200, "{\"header\":{},\"kvs\":[{\"version\":true}]}",
         "kvs[0]: a number field is not a number"},
        {400, "{\"error\":\"x\",\"code\":0}", "error reply without a valid gRPC code"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct etcd_resp r;
        char err[256] = "";
        if (etcd_resp_parse(&r, cases[i].status, cases[i].body, strlen(cases[i].body), err,
                            sizeof err) != -1)
            fail_msg("accepted #%zu: %s", i, cases[i].body);
        if (strcmp(err, cases[i].why) != 0)
            fail_msg("#%zu: \"%s\", want \"%s\"", i, err, cases[i].why);
        etcd_resp_clear(&r);
    }
    /* not JSON: jansson's reason follows */
    struct etcd_resp r;
    char err[256] = "";
    assert_int_equal(etcd_resp_parse(&r, 502, "<html>", 6, err, sizeof err), -1);
    assert_true(strncmp(err, "HTTP 502, body is not JSON: ", 28) == 0);
    assert_true(strlen(err) > 28);
}

/* Edge forms of valid replies. */
static void test_parse_edge_forms(void **state)
{
    struct etcd_resp r;

    /* uint64 header fields as JSON numbers; an empty or null kvs */
    assert_int_equal(parse(&r, 200,
                           "{\"header\":{\"cluster_id\":5,\"member_id\":null,\"revision\":7},"
                           "\"kvs\":[],\"count\":\"0\"}"),
                     0);
    assert_true(r.cluster_id == 5);
    assert_true(r.member_id == 0);
    assert_int_equal(r.revision, 7);
    assert_int_equal(r.n_kvs, 0);
    assert_null(r.kvs);
    etcd_resp_clear(&r);
    assert_int_equal(parse(&r, 200, "{\"header\":{},\"kvs\":null,\"TTL\":null}"), 0);
    assert_int_equal(r.n_kvs, 0);
    etcd_resp_clear(&r);
    /* a null key is the empty key */
    assert_int_equal(parse(&r, 200, "{\"header\":{},\"kvs\":[{\"key\":null,\"value\":\"eA\"}]}"),
                     0);
    assert_int_equal(r.n_kvs, 1);
    assert_int_equal(r.kvs[0].key_len, 0);
    assert_string_equal(r.kvs[0].value, "x");
    etcd_resp_clear(&r);
    /* the snake_case granted_ttl when grantedTTL is absent */
    assert_int_equal(parse(&r, 200, "{\"header\":{},\"granted_ttl\":\"30\"}"), 0);
    assert_int_equal(r.granted_ttl, 30);
    etcd_resp_clear(&r);

    /* error texts: "message" wins over "error"; a non-string message falls
     * back to "error", then to the code's name */
    assert_int_equal(parse(&r, 404, "{\"error\":\"etcdserver: requested lease not found\","
                                    "\"message\":5,\"code\":5}"),
                     0);
    assert_string_equal(r.message, "etcdserver: requested lease not found");
    assert_true(etcd_resp_lease_not_found(&r));
    etcd_resp_clear(&r);
    assert_int_equal(parse(&r, 503, "{\"error\":{\"grpc_code\":14,\"message\":7}}"), 0);
    assert_int_equal(r.code, ETCD_UNAVAILABLE);
    assert_string_equal(r.message, "gRPC code 14");
    etcd_resp_clear(&r);
    /* NOT_FOUND about something else is not a lost lease */
    assert_int_equal(parse(&r, 404, "{\"error\":\"key not found\",\"code\":5}"), 0);
    assert_int_equal(r.code, ETCD_NOT_FOUND);
    assert_false(etcd_resp_lease_not_found(&r));
    etcd_resp_clear(&r);
    etcd_resp_clear(NULL); /* a no-op */
}

/* jansson's allocations, routed through the test's wrapped malloc so they
 * fail too: every allocation meshreg asks for, directly or through
 * jansson. */
static void *json_malloc_wrapped(size_t n)
{
    return malloc(n);
}

static void json_free_wrapped(void *p)
{
    free(p);
}

/* A body builder under allocation failure: 1, 2, ... failing in turn gives
 * NULL each time (nothing leaked under ASan), then exactly the body. */
static void builds_despite_oom(char *(*build)(void *), void *arg, const char *name)
{
    char *want = build(arg);
    unsigned n;

    assert_non_null(want);
    for (n = 1; n < 100; n++) {
        failalloc_arm(n, false);
        char *got = build(arg);
        unsigned failed = failalloc_failed();
        failalloc_off();
        if (failed == 0) {
            assert_non_null(got);
            assert_string_equal(got, want);
            free(got);
            break;
        }
        if (got) {
            char text[256];
            snprintf(text, sizeof text, "%s", got);
            free(got);
            fail_msg("%s: allocation %u failed, yet a body came out: %s", name, n, text);
        }
    }
    if (n < 3 || n >= 100)
        fail_msg("%s: succeeded at allocation %u", name, n);
    free(want);
}

static char *b_grant(void *a)
{
    return etcd_lease_grant_body(10);
}
static char *b_keepalive(void *a)
{
    return etcd_lease_keepalive_body(INT64_C(1133677935743892230));
}
static char *b_revoke(void *a)
{
    return etcd_lease_revoke_body(7);
}
static char *b_ttl(void *a)
{
    return etcd_lease_ttl_body(8);
}
static char *b_put_lease(void *a)
{
    return etcd_put_body("/p/svc/h_1", "{\"port\":1}", 10, 42);
}
static char *b_put(void *a)
{
    return etcd_put_body("/p/svc/h_1", "{\"port\":1}", 10, 0);
}
static char *b_delete(void *a)
{
    return etcd_delete_body("/p/svc/h_1", false);
}
static char *b_range_prefix(void *a)
{
    return etcd_range_body("/p/svc/", true);
}

static void test_bodies_out_of_memory(void **state)
{
    json_set_alloc_funcs(json_malloc_wrapped, json_free_wrapped);
    builds_despite_oom(b_grant, NULL, "grant");
    builds_despite_oom(b_keepalive, NULL, "keepalive");
    builds_despite_oom(b_revoke, NULL, "revoke");
    builds_despite_oom(b_ttl, NULL, "timetolive");
    builds_despite_oom(b_put_lease, NULL, "put with lease");
    builds_despite_oom(b_put, NULL, "put");
    builds_despite_oom(b_delete, NULL, "delete");
    builds_despite_oom(b_range_prefix, NULL, "range prefix");
    json_set_alloc_funcs(malloc, free);

    /* base64 itself */
    size_t n = 0;
    failalloc_arm(1, false);
    assert_null(etcd_b64_encode("abc", 3));
    failalloc_arm(1, false);
    assert_null(etcd_b64_decode("YWJj", 4, &n));
    failalloc_off();
}

/* Decoding a range reply under allocation failure: each failure is a
 * clean -1 with a reason (the struct then clears without leaks) or, where
 * jansson manages without, the whole reply; until nothing fails. */
static void test_parse_out_of_memory(void **state)
{
    static const char body[] =
        "{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"YmFy\",\"version\":\"3\"},"
        "{\"key\":\"Zm9w\",\"value\":\"YmF6\"}],\"count\":\"2\"}";
    unsigned n;

    json_set_alloc_funcs(json_malloc_wrapped, json_free_wrapped);
    for (n = 1; n < 200; n++) {
        struct etcd_resp r;
        char err[256] = "";
        failalloc_arm(n, false);
        int rc = etcd_resp_parse(&r, 200, body, sizeof body - 1, err, sizeof err);
        unsigned failed = failalloc_failed();
        failalloc_off();
        if (rc == 0) {
            /* whole, even where jansson got by without what it asked for */
            assert_int_equal(r.n_kvs, 2);
            assert_string_equal(r.kvs[0].key, "foo");
            assert_string_equal(r.kvs[0].value, "bar");
            assert_string_equal(r.kvs[1].key, "fop");
            assert_string_equal(r.kvs[1].value, "baz");
            assert_int_equal(r.kvs[0].version, 3);
            assert_int_equal(r.count, 2);
            assert_int_equal(r.revision, 3);
            etcd_resp_clear(&r);
            if (failed == 0)
                break;
            continue;
        }
        assert_true(failed > 0);
        assert_true(err[0] != '\0');
        assert_null(r.kvs);
        assert_int_equal(r.n_kvs, 0);
        etcd_resp_clear(&r);
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(n > 5 && n < 200); /* jansson's tree, the kvs, each key and value */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_vectors),      cmocka_unit_test(test_b64_roundtrip_binary),
        cmocka_unit_test(test_b64_rejects),      cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_prefix_range_end), cmocka_unit_test(test_parse_replies),
        cmocka_unit_test(test_parse_range),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_failure_reasons),
        cmocka_unit_test(test_parse_edge_forms),
        cmocka_unit_test(test_bodies_out_of_memory),
        cmocka_unit_test(test_parse_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
