/* HTTP/1.x message heads: parse a request or a response head in place
 * (pointers into the caller's buffer, nothing allocated) and write simple
 * responses. No sockets, no policy. */
#ifndef MESHREG_HTTP1_H
#define MESHREG_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP1_MAX_HEADERS 64

struct http1_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Parse outcome: > 0 head complete (its length in bytes), 0 need more data,
 * -1 malformed/refused (see error_status). */
struct http1_request {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor; /* HTTP/1.<minor> */
    struct http1_header headers[HTTP1_MAX_HEADERS];
    size_t nheaders;
    long long content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive; /* after this request, per version and Connection */
    bool has_host;
    int error_status; /* 400, 413, 431, 501, 505 on -1 */
};

/* max_head: limit of the head (else 431); max_body: limit of a declared
 * Content-Length (else 413). Chunked request bodies are refused (501): no
 * admin route needs them. */
long http1_parse_request(const char *buf, size_t len, size_t max_head, size_t max_body,
                         struct http1_request *req);

struct http1_response {
    int minor;
    int status;
    struct http1_header headers[HTTP1_MAX_HEADERS];
    size_t nheaders;
    long long content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;
};

/* Same outcomes as http1_parse_request; -1 for anything that is not a valid
 * HTTP/1.x status line and headers within max_head. */
long http1_parse_response(const char *buf, size_t len, size_t max_head, struct http1_response *res);

/* Case-insensitive header lookup; NULL if absent. */
const struct http1_header *http1_find_header(const struct http1_header *h, size_t n,
                                             const char *name);

const char *http1_reason(int status);

/* The value of one hexadecimal digit (chunk sizes, percent-encoding), or -1. */
int http1_hexval(char c);

/* Writes a complete response head ("HTTP/1.1 ...\r\n...\r\n\r\n") for a body
 * of body_len bytes into out. Returns the head length, or 0 if cap is too
 * small. */
size_t http1_write_head(char *out, size_t cap, int status, const char *content_type,
                        size_t body_len, bool keep_alive);

#endif
