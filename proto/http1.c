/* HTTP/1.x head parsing in place (RFC 9112), strict enough to refuse
 * smuggling-prone input (bare CR, obs-fold, conflicting framing) and lenient
 * where real clients differ (bare LF line ends, HTTP/1.0 without Host). */
#include "proto/http1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Finds the end of the head: the empty line. Returns its total length
 * including the final line break, 0 if not yet there. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Splits one line at p (up to end); returns the start of the next line, or
 * NULL on a bare CR. *line_len excludes the line break. */
static const char *next_line(const char *p, const char *end, size_t *line_len)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    size_t n = (size_t)(nl - p);
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (memchr(p, '\r', n))
        return NULL;
    *line_len = n;
    return nl + 1;
}

static bool eq_ci(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, blen) == 0;
}

/* Does a comma-separated header value contain the token (case-insensitive)? */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

static int parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
        return -1;
    if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return -1;
    if (p[5] != '1')
        return -2; /* a version we do not speak */
    *minor = p[7] - '0';
    return 0;
}

/* Parses header lines from p to end (the head after the start line). */
static int parse_headers(const char *p, const char *end, struct http1_header *h, size_t *nh,
                         long long *content_length, bool *chunked, int *conn_close, int *conn_keep,
                         bool *has_host)
{
    *nh = 0;
    *content_length = -1;
    *chunked = false;
    *conn_close = 0;
    *conn_keep = 0;
    *has_host = false;
    for (;;) {
        size_t n;
        const char *next = next_line(p, end, &n);
        if (!next)
            return -1;
        if (n == 0)
            return 0;
        if (p[0] == ' ' || p[0] == '\t')
            return -1; /* obs-fold: refused (RFC 9112 5.2) */
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p)
            return -1;
        for (const char *c = p; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return -1;
        if (*nh >= HTTP1_MAX_HEADERS)
            return -3;
        const char *v = colon + 1, *ve = p + n;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return -1;
        struct http1_header *hd = &h[(*nh)++];
        hd->name = p;
        hd->name_len = (size_t)(colon - p);
        hd->value = v;
        hd->value_len = (size_t)(ve - v);
        if (eq_ci(hd->name, hd->name_len, "content-length")) {
            long long cl = 0;
            if (hd->value_len == 0 || hd->value_len > 18)
                return -1;
            for (size_t i = 0; i < hd->value_len; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                cl = cl * 10 + (v[i] - '0');
            }
            if (*content_length >= 0 && *content_length != cl)
                return -1;
            *content_length = cl;
        } else if (eq_ci(hd->name, hd->name_len, "transfer-encoding")) {
            if (has_token(v, hd->value_len, "chunked"))
                *chunked = true;
            else
                return -2;
        } else if (eq_ci(hd->name, hd->name_len, "connection")) {
            if (has_token(v, hd->value_len, "close"))
                *conn_close = 1;
            if (has_token(v, hd->value_len, "keep-alive"))
                *conn_keep = 1;
        } else if (eq_ci(hd->name, hd->name_len, "host")) {
            if (*has_host)
                return -1; /* two Host headers: ambiguous target */
            *has_host = true;
        }
        p = next;
    }
}

long http1_parse_request(const char *buf, size_t len, size_t max_head, size_t max_body,
                         struct http1_request *req)
{
    memset(req, 0, sizeof(*req));
    req->content_length = -1;
    /* Tolerate empty lines before a request (RFC 9112 2.2). */
    size_t skip = 0;
    while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++;
    size_t hl = head_end(buf + skip, len - skip);
    if (hl == 0) {
        if (len > max_head) {
            req->error_status = 431;
            return -1;
        }
        return 0;
    }
    hl += skip;
    if (hl > max_head) {
        req->error_status = 431;
        return -1;
    }
    const char *p = buf + skip, *end = buf + hl;
    size_t n;
    const char *next = next_line(p, end, &n);
    req->error_status = 400;
    if (!next || n == 0)
        return -1;
    /* method SP target SP version */
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return -1;
    for (const char *c = p; c < sp1; c++)
        if (!is_tchar((unsigned char)*c))
            return -1;
    const char *rest = sp1 + 1, *le = p + n;
    const char *sp2 = memchr(rest, ' ', (size_t)(le - rest));
    if (!sp2 || sp2 == rest)
        return -1;
    for (const char *c = rest; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
            return -1;
    int vr = parse_version(sp2 + 1, (size_t)(le - sp2 - 1), &req->minor);
    if (vr == -2) {
        req->error_status = 505;
        return -1;
    }
    if (vr < 0)
        return -1;
    req->method = p;
    req->method_len = (size_t)(sp1 - p);
    req->target = rest;
    req->target_len = (size_t)(sp2 - rest);

    int conn_close, conn_keep;
    int hr = parse_headers(next, end, req->headers, &req->nheaders, &req->content_length,
                           &req->chunked, &conn_close, &conn_keep, &req->has_host);
    if (hr == -3) {
        req->error_status = 431;
        return -1;
    }
    if (hr == -2) {
        req->error_status = 501;
        return -1;
    }
    if (hr < 0)
        return -1;
    if (req->chunked) {
        /* Both framings at once is a smuggling vector; chunked alone is a
         * feature no admin route needs. */
        req->error_status = req->content_length >= 0 ? 400 : 501;
        return -1;
    }
    if (req->minor >= 1 && !req->has_host)
        return -1;
    if (req->content_length > 0 && (unsigned long long)req->content_length > max_body) {
        req->error_status = 413;
        return -1;
    }
    req->keep_alive = req->minor >= 1 ? !conn_close : conn_keep && !conn_close;
    req->error_status = 0;
    return (long)hl;
}

long http1_parse_response(const char *buf, size_t len, size_t max_head, struct http1_response *res)
{
    memset(res, 0, sizeof(*res));
    res->content_length = -1;
    size_t hl = head_end(buf, len);
    if (hl == 0) {
        /* Refuse early what cannot become a status line, so a garbage-talking
         * peer fails at once instead of at the deadline. */
        size_t k = len < 5 ? len : 5;
        if (memcmp(buf, "HTTP/", k) != 0)
            return -1;
        return len > max_head ? -1 : 0;
    }
    if (hl > max_head)
        return -1;
    const char *p = buf, *end = buf + hl;
    size_t n;
    const char *next = next_line(p, end, &n);
    if (!next || n < 12)
        return -1;
    if (parse_version(p, 8, &res->minor) != 0 || p[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100 || (n > 12 && p[12] != ' '))
        return -1;
    res->status = st;
    int conn_close, conn_keep;
    bool has_host;
    if (parse_headers(next, end, res->headers, &res->nheaders, &res->content_length, &res->chunked,
                      &conn_close, &conn_keep, &has_host) != 0)
        return -1;
    res->keep_alive = res->minor >= 1 ? !conn_close : conn_keep && !conn_close;
    return (long)hl;
}

const struct http1_header *http1_find_header(const struct http1_header *h, size_t n,
                                             const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (eq_ci(h[i].name, h[i].name_len, name))
            return &h[i];
    return NULL;
}

const char *http1_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* Appends n bytes at *off if they fit (cap keeps one byte for the NUL). */
static bool put(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
    if (*off + n >= cap)
        return false;
    memcpy(out + *off, s, n);
    *off += n;
    return true;
}

/* This runs once per answer on the health endpoint's hot path: plain
 * copies instead of snprintf's format interpretation (about 4% of the
 * endpoint's CPU per keep-alive request, BENCHMARKS.md). */
size_t http1_write_head(char *out, size_t cap, int status, const char *content_type,
                        size_t body_len, bool keep_alive)
{
    char num[24];
    size_t off = 0, nl = 0;
    const char *reason = http1_reason(status);
    const char *ctype = content_type ? content_type : "text/plain";

    if (status < 100 || status > 999)
        return 0;
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};
    do {
        num[sizeof(num) - 1 - nl++] = (char)('0' + body_len % 10);
        body_len /= 10;
    } while (body_len);
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        if (!put(out, cap, &off, (s), (n)))                                                        \
            return 0;                                                                              \
    } while (0)
    PUT("HTTP/1.1 ", 9);
    PUT(code, 4);
    PUT(reason, strlen(reason));
    PUT("\r\nContent-Type: ", 16);
    PUT(ctype, strlen(ctype));
    PUT("\r\nContent-Length: ", 18);
    PUT(num + sizeof(num) - nl, nl);
    PUT("\r\n", 2);
    if (!keep_alive)
        PUT("Connection: close\r\n", 19);
    PUT("\r\n", 2);
#undef PUT
    out[off] = '\0';
    return off;
}

int http1_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The end of a chunk's size line: its data, or the trailers after the
 * last (zero-size) chunk. */
static void chunk_size_line_done(struct http1_chunked *d)
{
    if (d->remaining == 0) {
        d->state = HTTP1_CH_TRAILER;
        d->trailer_line = 0;
    } else {
        d->state = HTTP1_CH_DATA;
    }
}

int http1_chunked_byte(struct http1_chunked *d, char ch, size_t max_meta)
{
    switch (d->state) {
    case HTTP1_CH_SIZE: {
        int v = http1_hexval(ch);
        if (v >= 0) {
            if (d->remaining > (~0ULL >> 4))
                return -1;
            d->remaining = d->remaining * 16 + (unsigned)v;
            d->digits++;
            return 0;
        }
        if (d->digits == 0)
            return -1;
        if (ch == ';' || ch == ' ' || ch == '\t') {
            d->state = HTTP1_CH_EXT;
            return 0;
        }
        if (ch == '\r') {
            d->state = HTTP1_CH_SIZE_LF;
            return 0;
        }
        if (ch != '\n')
            return -1;
        /* bare LF ends the size line too */
        chunk_size_line_done(d);
        return 0;
    }
    case HTTP1_CH_SIZE_LF:
        if (ch != '\n')
            return -1;
        chunk_size_line_done(d);
        return 0;
    case HTTP1_CH_EXT:
        if (++d->meta > max_meta)
            return -1;
        if (ch == '\n')
            chunk_size_line_done(d);
        return 0;
    case HTTP1_CH_DATA_CR:
    case HTTP1_CH_DATA_LF:
        if (ch == '\r' && d->state == HTTP1_CH_DATA_CR) {
            d->state = HTTP1_CH_DATA_LF;
            return 0;
        }
        if (ch != '\n')
            return -1;
        d->state = HTTP1_CH_SIZE;
        d->digits = 0;
        return 0;
    case HTTP1_CH_TRAILER:
        if (++d->meta > max_meta)
            return -1;
        if (ch == '\r')
            return 0;
        if (ch == '\n') {
            if (d->trailer_line == 0)
                return 1;
            d->trailer_line = 0;
            return 0;
        }
        d->trailer_line++;
        return 0;
    case HTTP1_CH_DATA:
        break; /* the caller's */
    }
    return -1;
}
