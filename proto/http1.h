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

/* Decoder state of a chunked body's framing (zeroed: before the first
 * chunk-size line). The chunk data itself is the caller's: while state is
 * HTTP1_CH_DATA it takes `remaining` bytes, then sets HTTP1_CH_DATA_CR. */
enum http1_chunk_state {
    HTTP1_CH_SIZE,    /* hex digits of a chunk size */
    HTTP1_CH_EXT,     /* chunk extension, skipped up to LF */
    HTTP1_CH_SIZE_LF, /* LF after the size line's CR */
    HTTP1_CH_DATA,    /* chunk payload */
    HTTP1_CH_DATA_CR, /* CRLF after the payload */
    HTTP1_CH_DATA_LF,
    HTTP1_CH_TRAILER, /* trailer lines up to an empty line */
};

struct http1_chunked {
    enum http1_chunk_state state;
    unsigned long long remaining; /* of this chunk */
    unsigned digits;
    size_t meta; /* bytes of extensions/trailers seen, at most max_meta */
    size_t trailer_line;
};

/* One byte of chunked framing outside chunk data (every such state takes
 * exactly one byte). Returns 1 when the last chunk and trailers are in, 0
 * for more, -1 malformed or over max_meta. */
int http1_chunked_byte(struct http1_chunked *d, char ch, size_t max_meta);

/* Writes a complete response head ("HTTP/1.1 ...\r\n...\r\n\r\n") for a body
 * of body_len bytes into out. Returns the head length, or 0 if cap is too
 * small. */
size_t http1_write_head(char *out, size_t cap, int status, const char *content_type,
                        size_t body_len, bool keep_alive);

#endif
