/* etcd v3 JSON gateway encoding and decoding; see etcd.h. */
#include "proto/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

unsigned char *etcd_b64_decode(const char *s, size_t len, size_t *outlen)
{
    /* Padding is optional but, when present, must complete the last quad. */
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return NULL;
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Leftover bits must be zero, or two encodings would decode alike. */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Serializes and frees obj; NULL on allocation failure. Measured, then
 * written into a buffer of that size, rather than json_dumps: when growing
 * its buffer fails while writing an object key, json_dumps drops the key
 * and still returns text (jansson issue #655), a malformed body. Writing
 * into a buffer big enough allocates nothing. */
static char *dump(json_t *obj)
{
    if (!obj)
        return NULL;
    size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    char *s = n ? malloc(n + 1) : NULL;
    if (s && json_dumpb(obj, s, n, JSON_COMPACT) == n) {
        s[n] = '\0';
    } else {
        free(s);
        s = NULL;
    }
    json_decref(obj);
    return s;
}

static json_t *id_string(int64_t id)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, id);
    return json_string(buf);
}

/* Sets obj[name] = base64(data); false on allocation failure. */
static bool set_b64(json_t *obj, const char *name, const void *data, size_t len)
{
    char *b = etcd_b64_encode(data, len);
    if (!b)
        return false;
    int rc = json_object_set_new(obj, name, json_string(b));
    free(b);
    return rc == 0;
}

char *etcd_lease_grant_body(int64_t ttl_seconds)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "TTL", json_integer(ttl_seconds)) != 0) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

char *etcd_auth_body(const char *user, const char *password)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "name", json_string(user)) != 0 ||
        json_object_set_new(o, "password", json_string(password)) != 0) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

enum etcd_auth_error etcd_resp_auth_error(const struct etcd_resp *r)
{
    const char *m = r->message;
    if (r->code == ETCD_OK)
        return ETCD_AUTH_NONE;
    if (r->code == ETCD_PERMISSION_DENIED || strstr(m, "permission denied"))
        return ETCD_AUTH_DENIED;
    if (strstr(m, "authentication failed"))
        return ETCD_AUTH_BAD_PASSWORD;
    if (strstr(m, "authentication is not enabled"))
        return ETCD_AUTH_NOT_ENABLED;
    if (strstr(m, "user name is empty") || strstr(m, "user name not found"))
        return ETCD_AUTH_NEEDED;
    if (r->code == ETCD_UNAUTHENTICATED || strstr(m, "invalid auth token") ||
        strstr(m, "revision of auth store is old"))
        return ETCD_AUTH_TOKEN;
    return ETCD_AUTH_NONE;
}

static char *id_body(int64_t id)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "ID", id_string(id)) != 0) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

char *etcd_lease_keepalive_body(int64_t id)
{
    return id_body(id);
}
char *etcd_lease_revoke_body(int64_t id)
{
    return id_body(id);
}
char *etcd_lease_ttl_body(int64_t id)
{
    return id_body(id);
}

char *etcd_put_body(const char *key, const void *value, size_t value_len, int64_t lease)
{
    json_t *o = json_object();
    if (!o || !set_b64(o, "key", key, strlen(key)) || !set_b64(o, "value", value, value_len) ||
        (lease && json_object_set_new(o, "lease", id_string(lease)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

/* The range end that selects every key starting with key: key with its last
 * byte below 0xff incremented and what follows dropped; "\0" (every key) if
 * all bytes are 0xff. Returns the length written into end (at least 1). */
static size_t prefix_end(const char *key, size_t len, char *end)
{
    memcpy(end, key, len);
    while (len > 0) {
        unsigned char c = (unsigned char)end[len - 1];
        if (c < 0xff) {
            end[len - 1] = (char)(c + 1);
            return len;
        }
        len--;
    }
    end[0] = '\0';
    return 1;
}

static char *key_body(const char *key, bool prefix)
{
    size_t len = strlen(key);
    json_t *o = json_object();
    if (!o || !set_b64(o, "key", key, len))
        goto fail;
    if (prefix) {
        char *end = malloc(len + 1);
        if (!end)
            goto fail;
        size_t n = prefix_end(key, len, end);
        bool ok = set_b64(o, "range_end", end, n);
        free(end);
        if (!ok)
            goto fail;
    }
    return dump(o);
fail:
    json_decref(o);
    return NULL;
}

char *etcd_delete_body(const char *key, bool prefix)
{
    return key_body(key, prefix);
}
char *etcd_range_body(const char *key, bool prefix)
{
    return key_body(key, prefix);
}

/* ---- replies ---- */

/* An integer field: absent -> 0; a decimal string (the gateway's form) or a
 * JSON integer. -1 when present with another type or not a number. uint64
 * fields (cluster and member ids) use all 64 bits, so they are parsed
 * unsigned and never negative. */
static int get_num(json_t *obj, const char *name, bool is_unsigned, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    if (is_unsigned) {
        if (*s == '-')
            return -1;
        *out = strtoull(s, &end, 10);
    } else {
        *out = (uint64_t)strtoll(s, &end, 10);
    }
    return errno || end == s || *end ? -1 : 0;
}

static int get_i64(json_t *obj, const char *name, int64_t *out)
{
    uint64_t bits;
    int rc = get_num(obj, name, false, &bits);
    *out = rc ? 0 : (int64_t)bits;
    return rc;
}

static int get_u64(json_t *obj, const char *name, uint64_t *out)
{
    int rc = get_num(obj, name, true, out);
    if (rc)
        *out = 0;
    return rc;
}

/* Decodes a base64 string field into a NUL-terminated buffer; absent → "". */
static int get_bytes(json_t *obj, const char *name, char **out, size_t *len)
{
    json_t *v = json_object_get(obj, name);
    const char *s = "";
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return -1;
        s = json_string_value(v);
    }
    *out = (char *)etcd_b64_decode(s, strlen(s), len);
    return *out ? 0 : -1;
}

static int parse_kvs(struct etcd_resp *r, json_t *arr, char *err, size_t errlen)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "kvs is not an array");
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    r->kvs = calloc(n, sizeof *r->kvs);
    if (!r->kvs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *kv = json_array_get(arr, i);
        struct etcd_kv *k = &r->kvs[i];
        r->n_kvs = i + 1;
        if (!json_is_object(kv)) {
            snprintf(err, errlen, "kvs[%zu] is not an object", i);
            return -1;
        }
        if (get_bytes(kv, "key", &k->key, &k->key_len) ||
            get_bytes(kv, "value", &k->value, &k->value_len)) {
            snprintf(err, errlen, "kvs[%zu]: key or value is not base64", i);
            return -1;
        }
        if (get_i64(kv, "lease", &k->lease) ||
            get_i64(kv, "create_revision", &k->create_revision) ||
            get_i64(kv, "mod_revision", &k->mod_revision) || get_i64(kv, "version", &k->version)) {
            snprintf(err, errlen, "kvs[%zu]: a number field is not a number", i);
            return -1;
        }
    }
    return 0;
}

static void set_message(struct etcd_resp *r, json_t *v)
{
    if (json_is_string(v))
        snprintf(r->message, sizeof r->message, "%s", json_string_value(v));
}

/* The two error shapes: unary {"error":"..","message":"..","code":N} and
 * streamed {"error":{"grpc_code":N,"message":".."}}. Returns 1 when obj is an
 * error (r->code and r->message set), 0 when it is not, -1 when malformed. */
static int parse_error(struct etcd_resp *r, json_t *obj, char *err, size_t errlen)
{
    json_t *e = json_object_get(obj, "error");
    json_t *code = json_object_get(obj, "code");
    if (json_is_object(e)) {
        code = json_object_get(e, "grpc_code");
        set_message(r, json_object_get(e, "message"));
    } else if (json_is_string(e) || code) {
        json_t *m = json_object_get(obj, "message");
        set_message(r, json_is_string(m) ? m : e);
    } else {
        return 0;
    }
    if (!json_is_integer(code) || json_integer_value(code) <= 0 || json_integer_value(code) > 16) {
        snprintf(err, errlen, "error reply without a valid gRPC code");
        return -1;
    }
    r->code = (int)json_integer_value(code);
    if (!r->message[0])
        snprintf(r->message, sizeof r->message, "gRPC code %d", r->code);
    return 1;
}

int etcd_resp_parse(struct etcd_resp *r, int http_status, const char *body, size_t len, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_error_t jerr;
    /* A stream may carry several messages; the first one is what we asked. */
    json_t *root = json_loadb(body ? body : "", body ? len : 0, JSON_DISABLE_EOF_CHECK, &jerr);
    int rc = -1;
    if (!root) {
        snprintf(err, errlen, "HTTP %d, body is not JSON: %s", http_status, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "HTTP %d, body is not a JSON object", http_status);
        goto out;
    }
    json_t *obj = root;
    json_t *result = json_object_get(root, "result");
    if (result) {
        if (!json_is_object(result)) {
            snprintf(err, errlen, "result is not an object");
            goto out;
        }
        obj = result;
    }
    int e = parse_error(r, result ? root : obj, err, errlen);
    if (e < 0)
        goto out;
    if (e == 0 && result)
        e = parse_error(r, obj, err, errlen);
    if (e < 0)
        goto out;
    if (e == 1) {
        rc = 0;
        goto out;
    }
    if (http_status < 200 || http_status > 299) {
        snprintf(err, errlen, "HTTP %d without an etcd error", http_status);
        goto out;
    }
    json_t *h = json_object_get(obj, "header");
    if (h && !json_is_object(h)) {
        snprintf(err, errlen, "header is not an object");
        goto out;
    }
    if (!h) {
        /* Every etcd reply has a header; without one this is something else. */
        snprintf(err, errlen, "reply without a header");
        goto out;
    }
    if (get_u64(h, "cluster_id", &r->cluster_id) || get_u64(h, "member_id", &r->member_id) ||
        get_i64(h, "revision", &r->revision) || get_i64(h, "raft_term", &r->raft_term)) {
        snprintf(err, errlen, "header field is not a number");
        goto out;
    }
    if (get_i64(obj, "ID", &r->id) || get_i64(obj, "TTL", &r->ttl) ||
        get_i64(obj, "deleted", &r->deleted) || get_i64(obj, "count", &r->count)) {
        snprintf(err, errlen, "a number field is not a number");
        goto out;
    }
    /* timetolive names it grantedTTL (the proto's json_name), not granted_ttl. */
    if (get_i64(obj, json_object_get(obj, "grantedTTL") ? "grantedTTL" : "granted_ttl",
                &r->granted_ttl)) {
        snprintf(err, errlen, "grantedTTL is not a number");
        goto out;
    }
    if (parse_kvs(r, json_object_get(obj, "kvs"), err, errlen))
        goto out;
    json_t *tok = json_object_get(obj, "token");
    if (json_is_string(tok) && !(r->token = strdup(json_string_value(tok)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc)
        etcd_resp_clear(r);
    return rc;
}

void etcd_resp_clear(struct etcd_resp *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_kvs; i++) {
        free(r->kvs[i].key);
        free(r->kvs[i].value);
    }
    free(r->kvs);
    r->kvs = NULL;
    r->n_kvs = 0;
    free(r->token);
    r->token = NULL;
}

bool etcd_resp_lease_not_found(const struct etcd_resp *r)
{
    return r->code == ETCD_NOT_FOUND && strstr(r->message, "lease not found") != NULL;
}

bool etcd_resp_keepalive_alive(const struct etcd_resp *r)
{
    return r->code == ETCD_OK && r->ttl > 0;
}
