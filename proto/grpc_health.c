/* grpc.health.v1 messages and gRPC length-prefixed framing, by hand. The
 * protobuf subset needed is varints and the four wire types a peer may use
 * for fields we do not know (which protobuf requires us to skip). */
#include "proto/grpc_health.h"
#include "proto/http1.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* protobuf wire types */
#define PB_VARINT 0
#define PB_I64 1
#define PB_LEN 2
#define PB_I32 5

/* A unary response larger than this is not a health answer. */
#define GRPC_HEALTH_MAX_MSG (64 * 1024)

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint64_t v, unsigned char *out)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

/* Reads a varint at *pos. Returns 0, or -1 when truncated or longer than
 * the 10 bytes a 64-bit value takes. */
static int varint_get(const unsigned char *buf, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (*pos >= len)
            return -1;
        unsigned char b = buf[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

size_t grpc_health_request_len(const char *service)
{
    size_t n = service ? strlen(service) : 0;

    return GRPC_FRAME_PREFIX + (n ? 1 + varint_len(n) + n : 0);
}

size_t grpc_health_encode_request(const char *service, unsigned char *out, size_t outlen)
{
    size_t total = grpc_health_request_len(service);
    size_t n = service ? strlen(service) : 0;
    size_t msg = total - GRPC_FRAME_PREFIX, off = GRPC_FRAME_PREFIX;

    if (outlen < total || msg > UINT32_MAX)
        return 0;
    out[0] = 0; /* not compressed */
    out[1] = (unsigned char)(msg >> 24);
    out[2] = (unsigned char)(msg >> 16);
    out[3] = (unsigned char)(msg >> 8);
    out[4] = (unsigned char)msg;
    if (n) {
        out[off++] = (1 << 3) | PB_LEN; /* field 1, length-delimited */
        off += varint_put(n, out + off);
        memcpy(out + off, service, n);
    }
    return total;
}

/* Skips one field's value of wire type wt. Returns 0 or -1. */
static int skip_field(const unsigned char *buf, size_t len, size_t *pos, unsigned wt)
{
    uint64_t v;

    switch (wt) {
    case PB_VARINT:
        return varint_get(buf, len, pos, &v);
    case PB_I64:
        if (len - *pos < 8)
            return -1;
        *pos += 8;
        return 0;
    case PB_LEN:
        if (varint_get(buf, len, pos, &v) < 0 || v > len - *pos)
            return -1;
        *pos += (size_t)v;
        return 0;
    case PB_I32:
        if (len - *pos < 4)
            return -1;
        *pos += 4;
        return 0;
    }
    return -1; /* groups (3, 4) are long deprecated; 6 and 7 do not exist */
}

int grpc_health_decode_response(const unsigned char *buf, size_t len, int *status, char *err,
                                size_t errlen)
{
    uint64_t mlen;
    size_t pos, end;
    int st = GRPC_HEALTH_UNKNOWN;

    if (len == 0) {
        snprintf(err, errlen, "empty response");
        return -1;
    }
    if (len < GRPC_FRAME_PREFIX) {
        snprintf(err, errlen, "truncated message prefix");
        return -1;
    }
    if (buf[0] != 0) {
        /* We never offer grpc-accept-encoding, so a compressed (1) answer
         * is a broken peer, and anything else is not gRPC at all. */
        snprintf(err, errlen, buf[0] == 1 ? "compressed message" : "bad message prefix");
        return -1;
    }
    mlen = ((uint64_t)buf[1] << 24) | ((uint64_t)buf[2] << 16) | ((uint64_t)buf[3] << 8) | buf[4];
    if (mlen > GRPC_HEALTH_MAX_MSG) {
        snprintf(err, errlen, "message of %llu bytes", (unsigned long long)mlen);
        return -1;
    }
    if (mlen > len - GRPC_FRAME_PREFIX) {
        snprintf(err, errlen, "truncated message");
        return -1;
    }
    end = GRPC_FRAME_PREFIX + (size_t)mlen;
    if (end != len) {
        snprintf(err, errlen, "data after the message");
        return -1;
    }
    pos = GRPC_FRAME_PREFIX;
    while (pos < end) {
        uint64_t key, v;
        unsigned wt;

        if (varint_get(buf, end, &pos, &key) < 0)
            goto bad;
        wt = (unsigned)(key & 7);
        if ((key >> 3) == 0)
            goto bad; /* field number 0 is invalid */
        if ((key >> 3) != 1) {
            if (skip_field(buf, end, &pos, wt) < 0)
                goto bad;
            continue;
        }
        if (wt != PB_VARINT)
            goto bad;
        if (varint_get(buf, end, &pos, &v) < 0)
            goto bad;
        /* An enum is an int32: the low 32 bits, sign included (negatives
         * come sign-extended to 10 bytes). The last occurrence wins. */
        st = (int)(int32_t)(uint32_t)v;
    }
    *status = st;
    return 0;
bad:
    snprintf(err, errlen, "malformed HealthCheckResponse");
    return -1;
}

const char *grpc_health_status_name(int status)
{
    static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};

    if (status < 0 || status >= (int)(sizeof(names) / sizeof(names[0])))
        return NULL;
    return names[status];
}

const char *grpc_status_code_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };

    if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
        return NULL;
    return names[code];
}

void grpc_message_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    for (size_t i = 0; in && in[i] && o + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)in[i];

        /* gRPC percent-encodes bytes outside 0x20-0x7e and '%' itself; a
         * stray '%' not followed by two hex digits is kept as it is. */
        if (ch == '%' && http1_hexval(in[i + 1]) >= 0 && http1_hexval(in[i + 2]) >= 0) {
            ch = (unsigned char)(http1_hexval(in[i + 1]) * 16 + http1_hexval(in[i + 2]));
            i += 2;
        }
        out[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[o] = '\0';
}
