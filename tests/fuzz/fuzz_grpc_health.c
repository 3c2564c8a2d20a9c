/* libFuzzer target: the gRPC health probe's decoders (proto/grpc_health.c),
 * which read whatever the probed app sends back: the framed
 * HealthCheckResponse body and the percent-encoded grpc-message trailer.
 *
 * Contract checks: a decoded response is one whole frame (its prefix says
 * exactly the rest of the input); a decoded grpc-message fits its buffer,
 * is NUL-terminated and holds no control character (it goes into a
 * one-line log detail). The request encoder is run on the input as a
 * service name, and its frame prefix must announce its own length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grpc_health.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void response(const uint8_t *data, size_t size)
{
    int status = -12345;
    char err[128];

    err[0] = '\0';
    if (grpc_health_decode_response(data, size, &status, err, sizeof(err)) == 0) {
        CHECK(size >= GRPC_FRAME_PREFIX && data[0] == 0);
        uint32_t mlen =
            (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
        CHECK((size_t)mlen == size - GRPC_FRAME_PREFIX);
        CHECK(status != -12345);
        (void)grpc_health_status_name(status);
    } else {
        CHECK(err[0] != '\0' && strlen(err) < sizeof(err));
        CHECK(status == -12345);
    }
}

static void message(const char *in, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1);
    if (!out)
        return;
    grpc_message_decode(in, out, outlen);
    if (outlen > 0) {
        size_t n = strnlen(out, outlen);
        CHECK(n < outlen);
        CHECK(n <= strlen(in));
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
    }
    free(out);
}

static void request(const char *service)
{
    size_t need = grpc_health_request_len(service);
    unsigned char *out = malloc(need);
    if (!out)
        return;
    CHECK(grpc_health_encode_request(service, out, need) == need);
    CHECK(need < 1 || grpc_health_encode_request(service, out, need - 1) == 0);
    uint32_t mlen =
        (uint32_t)out[1] << 24 | (uint32_t)out[2] << 16 | (uint32_t)out[3] << 8 | out[4];
    CHECK(out[0] == 0 && (size_t)mlen == need - GRPC_FRAME_PREFIX);
    size_t sl = strlen(service);
    CHECK(sl == 0 ? mlen == 0 : memcmp(out + need - sl, service, sl) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    response(data, size);

    /* The text decoders take C strings: a NUL-terminated heap copy. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    message(s, 0);
    message(s, 1);
    message(s, 2);
    message(s, size / 2 + 1);
    message(s, 128); /* the size probe_grpc.c decodes into */
    message(s, size + 1);
    request(s);
    free(s);
    return 0;
}
