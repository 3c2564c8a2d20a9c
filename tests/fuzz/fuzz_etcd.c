/* libFuzzer target: etcd JSON gateway replies (proto/etcd.c), what the
 * etcd backend decodes from whatever answers on the etcd port.
 *
 * Input layout: byte 0 picks the HTTP status the body came with (so the
 * error paths for non-2xx answers are reached too), the rest is the body.
 * The same bytes also go through the base64 decoder on their own, and as
 * a key/value through the request builders, whose output is decoded back:
 * a put/range/delete body must carry exactly the key it was given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/etcd.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const int statuses[] = {200, 201, 299, 400, 404, 408, 500, 503, 0, 100, 300, 199, 600, -1};

static void check_reply(const struct etcd_resp *r)
{
    CHECK(memchr(r->message, '\0', sizeof(r->message)) != NULL);
    CHECK(r->code >= 0 && r->code <= 16);
    CHECK(r->code == 0 || r->message[0] != '\0');
    CHECK((r->kvs == NULL) == (r->n_kvs == 0));
    for (size_t i = 0; i < r->n_kvs; i++) {
        /* Decoded bytes stay C strings: NUL right after them. */
        CHECK(r->kvs[i].key && r->kvs[i].key[r->kvs[i].key_len] == '\0');
        CHECK(r->kvs[i].value && r->kvs[i].value[r->kvs[i].value_len] == '\0');
    }
    (void)etcd_resp_lease_not_found(r);
    (void)etcd_resp_keepalive_alive(r);
}

static void reply(int status, const char *body, size_t len)
{
    struct etcd_resp r;
    char err[256];

    err[0] = '\0';
    int rc = etcd_resp_parse(&r, status, body, len, err, sizeof(err));
    if (rc == 0)
        check_reply(&r);
    else
        CHECK(rc == -1 && err[0] != '\0' && r.kvs == NULL && r.n_kvs == 0);
    etcd_resp_clear(&r);
}

/* The decoder is canonical: re-encoding what it accepted gives the input
 * back, give or take the optional padding. */
static void b64(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *dec = etcd_b64_decode(s, len, &n);
    if (!dec)
        return;
    CHECK(dec[n] == '\0');
    CHECK(n <= len / 4 * 3 + 2);
    char *enc = etcd_b64_encode(dec, n);
    CHECK(enc != NULL);
    size_t el = strlen(enc), sl = len;
    while (el > 0 && enc[el - 1] == '=')
        el--;
    while (sl > 0 && s[sl - 1] == '=')
        sl--;
    CHECK(el == sl && memcmp(enc, s, el) == 0);
    free(enc);
    free(dec);
}

/* Decodes obj[name] (base64) and compares it with want. */
static void check_b64_field(json_t *obj, const char *name, const void *want, size_t want_len)
{
    json_t *v = json_object_get(obj, name);
    CHECK(json_is_string(v));
    size_t n = 0;
    unsigned char *dec = etcd_b64_decode(json_string_value(v), json_string_length(v), &n);
    CHECK(dec != NULL && n == want_len && memcmp(dec, want, n) == 0);
    free(dec);
}

static json_t *load(char *body)
{
    CHECK(body != NULL);
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    CHECK(json_is_object(o));
    free(body);
    return o;
}

/* Request builders on a key taken from the input (up to its first NUL:
 * keys are C strings) and the rest as the value. */
static void builders(const char *data, size_t size)
{
    size_t klen = strnlen(data, size);
    char *key = malloc(klen + 1);
    if (!key)
        return;
    memcpy(key, data, klen);
    key[klen] = '\0';
    const char *value = data + klen;
    size_t vlen = size - klen;
    int64_t lease = (int64_t)(size * 2654435761u) - (int64_t)klen;

    json_t *o = load(etcd_put_body(key, value, vlen, lease));
    check_b64_field(o, "key", key, klen);
    check_b64_field(o, "value", value, vlen);
    json_decref(o);

    for (int prefix = 0; prefix < 2; prefix++) {
        o = load(prefix ? etcd_range_body(key, true) : etcd_delete_body(key, false));
        check_b64_field(o, "key", key, klen);
        json_t *end = json_object_get(o, "range_end");
        CHECK(prefix ? end != NULL : end == NULL);
        if (end) {
            /* range_end is past every key with this prefix: greater than the
             * key itself, and the key is not a prefix of it unless it is
             * all 0xff (then "\0": every key). */
            size_t n = 0;
            unsigned char *e = etcd_b64_decode(json_string_value(end), json_string_length(end), &n);
            CHECK(e != NULL && n >= 1 && n <= (klen ? klen : 1));
            size_t c = n < klen ? n : klen;
            int cmp = memcmp(e, key, c);
            CHECK(cmp > 0 || (n == 1 && e[0] == 0));
            free(e);
        }
        json_decref(o);
    }

    char *s = etcd_lease_keepalive_body(lease);
    o = load(s);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)lease);
    CHECK(strcmp(json_string_value(json_object_get(o, "ID")), want) == 0);
    json_decref(o);
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        reply(200, NULL, 0);
        return 0;
    }
    int status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    reply(status, body, len);
    b64(body, len);
    builders(body, len);
    return 0;
}
