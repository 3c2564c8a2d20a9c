/* libFuzzer target: admin_route_form_decode() (sidecar/admin/admin_route.c), which
 * decodes the query string and the form body of POST /drain from any peer
 * that reaches the admin port.
 *
 * Differential: the result must equal a second, deliberately plain decoder
 * written from the contract in admin_route.h ('+' is a space, %XX a byte;
 * -1 for a bad escape, a NUL byte or a result that does not fit in cap),
 * for several buffer sizes, including the 32- and 256-byte buffers the
 * drain route decodes into. The output buffer is exactly cap bytes on the
 * heap, so a write past it is an ASan report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/admin/admin_route.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int hex(unsigned char c)
{
    const char *digits = "0123456789abcdef";
    if (c >= 'A' && c <= 'F')
        c = (unsigned char)(c - 'A' + 'a');
    const char *p = c ? strchr(digits, c) : NULL;
    return p ? (int)(p - digits) : -1;
}

/* The reference: decode everything first into a big enough buffer, then
 * judge the result against cap. */
static long reference(const uint8_t *s, size_t n, uint8_t *tmp)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = s[i];
        if (c == '%') {
            if (n - i < 3 || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
                return -1;
            c = hex(s[i + 1]) * 16 + hex(s[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return -1;
        tmp[o++] = (uint8_t)c;
    }
    return (long)o;
}

static void one(const uint8_t *data, size_t size, size_t cap, const uint8_t *want, long want_len)
{
    char *out = malloc(cap ? cap : 1);
    if (!out)
        return;
    long got = admin_route_form_decode((const char *)data, size, out, cap);
    long expect = want_len >= 0 && (size_t)want_len < cap ? want_len : -1;
    if (got != expect)
        fprintf(stderr, "cap %zu: got %ld, want %ld\n", cap, got, expect);
    CHECK(got == expect);
    if (got >= 0) {
        CHECK(out[got] == '\0');
        CHECK(memcmp(out, want, (size_t)got) == 0);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *want = malloc(size + 1);
    if (!want)
        return 0;
    long want_len = reference(data, size, want);
    const size_t caps[] = {0, 1, 2, 32, 256, size, size + 1};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        one(data, size, caps[i], want, want_len);
    if (want_len > 0)
        one(data, size, (size_t)want_len, want, want_len);
    free(want);
    return 0;
}
