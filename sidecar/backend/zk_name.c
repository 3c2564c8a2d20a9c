/* Child names of the ZooKeeper backend: see zk_name.h. */
#include "sidecar/backend/zk_name.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes the padded URL-safe base64 of in[0..n) to out (b64_len(n) bytes). */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64url[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64url[v & 63] : '=';
    }
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes n characters of URL-safe base64 (padding optional, as Ruby's
 * urlsafe_decode64 accepts). Returns a new NUL-terminated buffer or NULL. */
static char *b64_decode(const char *in, size_t n, size_t *outlen)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

char *zk_name_prefix(const char *instance_id, size_t id_len, const char *data, size_t len,
                     bool encode)
{
    size_t enc = b64_len(len);
    if (encode && data && enc <= ZK_NAME_ENCODED_MAX) {
        char head[40];
        int h = snprintf(head, sizeof head, "%s%zu_", ZK_NAME_ENCODED_TAG, enc);
        char *s = malloc((size_t)h + enc + 2);
        if (!s)
            return NULL;
        memcpy(s, head, (size_t)h);
        b64_encode((const unsigned char *)data, len, s + h);
        s[(size_t)h + enc] = '_';
        s[(size_t)h + enc + 1] = '\0';
        return s;
    }
    char *s = malloc(id_len + 2);
    if (!s)
        return NULL;
    memcpy(s, instance_id, id_len);
    s[id_len] = '_';
    s[id_len + 1] = '\0';
    return s;
}

size_t zk_name_id_len(const char *key)
{
    const char *u = strrchr(key, '_');
    return u ? (size_t)(u - key) : strlen(key);
}

bool zk_name_matches(const char *child, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(child, prefix, n) != 0 || strlen(child + n) != ZK_NAME_SEQ_DIGITS)
        return false;
    for (const char *c = child + n; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

long long zk_name_seq(const char *child)
{
    const char *u = strrchr(child, '_');
    const char *d = u ? u + 1 : child;
    if (!*d || strlen(d) > 18)
        return -1;
    long long v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return -1;
        v = v * 10 + (*d - '0');
    }
    return v;
}

char *zk_name_decode(const char *child, size_t *len)
{
    size_t tag = strlen(ZK_NAME_ENCODED_TAG);
    if (strncmp(child, ZK_NAME_ENCODED_TAG, tag) != 0)
        return NULL;
    const char *p = child + tag;
    size_t n = 0, digits = 0;
    for (; p[digits] >= '0' && p[digits] <= '9'; digits++) {
        if (n > ZK_NAME_ENCODED_MAX)
            return NULL;
        n = n * 10 + (size_t)(p[digits] - '0');
    }
    if (digits == 0 || p[digits] != '_')
        return NULL;
    p += digits + 1;
    if (strnlen(p, n) < n)
        return NULL;
    return b64_decode(p, n, len);
}
