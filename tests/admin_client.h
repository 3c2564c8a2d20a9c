/* A client of the admin endpoint or the agent-check (tests/admin_fixture.h):
 * a blocking socket whose input is gathered, NUL-terminated, while the loop
 * runs; HTTP/1.1 answers split out of it, and a table of requests with what
 * their answers must hold. Shared by test_admin.c and test_agent.c.
 * Header-only, static inline. Include after admin_fixture.h. */
#ifndef MESHREG_ADMIN_CLIENT_H
#define MESHREG_ADMIN_CLIENT_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/http1.h"

struct cli {
    struct afx *f;
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
    int err; /* errno of a failed recv (ECONNRESET) */
    ev_io w;
};

struct resp {
    int status;
    const char *head;
    size_t head_len;
    const char *body;
    size_t body_len;
};

static inline void cli_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cli *c = w->data;
    if (c->len + 65536 > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        c->err = n < 0 ? errno : 0;
        ev_io_stop(loop, w);
    }
    ev_break(loop, EVBREAK_ONE);
}

static inline struct cli *cli_new_at(struct afx *f, int family, int port)
{
    struct cli *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->f = f;
    c->fd = afx_connect(family, port);
    ev_io_init(&c->w, cli_cb, c->fd, EV_READ);
    c->w.data = c;
    ev_io_start(f->loop, &c->w);
    return c;
}

static inline struct cli *cli_new(struct afx *f)
{
    return cli_new_at(f, AF_INET, f->port);
}

static inline void cli_free(struct cli *c)
{
    ev_io_stop(c->f->loop, &c->w);
    close(c->fd);
    free(c->buf);
    free(c);
}

static inline void cli_send(struct cli *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static inline void cli_sends(struct cli *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Splits the input into answers; head_only[i]: the i-th answers a HEAD. */
static inline size_t parse_resps(struct cli *c, struct resp *out, size_t max, const bool *head_only)
{
    size_t off = 0, n = 0;
    while (n < max && off < c->len) {
        struct http1_response r;
        long hl = http1_parse_response(c->buf + off, c->len - off, 64 * 1024, &r);
        assert_true(hl >= 0);
        if (hl == 0)
            break;
        bool no_body = (head_only && head_only[n]) || r.status < 200; /* HEAD, 100 */
        size_t bl = no_body ? 0 : (size_t)(r.content_length > 0 ? r.content_length : 0);
        if (r.content_length < 0 && !no_body)
            fail_msg("answer without Content-Length");
        if (c->len - off < (size_t)hl + bl)
            break;
        out[n].status = r.status;
        out[n].head = c->buf + off;
        out[n].head_len = (size_t)hl;
        out[n].body = c->buf + off + hl;
        out[n].body_len = bl;
        n++;
        off += (size_t)hl + bl;
    }
    return n;
}

/* Runs the loop until `want` answers (or EOF when want < 0) arrived on c,
 * or `timeout` seconds passed. Returns the number of answers. */
static inline size_t pump(struct cli *c, int want, double timeout, struct resp *out, size_t max,
                          const bool *head_only)
{
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, afx_timeout_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(c->f->loop, &t);
    size_t n = 0;
    for (;;) {
        n = parse_resps(c, out, max, head_only);
        if (want >= 0 ? n >= (size_t)want : c->eof)
            break;
        if (timed_out || (c->eof && want >= 0))
            break;
        ev_run(c->f->loop, EVRUN_ONCE);
    }
    ev_timer_stop(c->f->loop, &t);
    return n;
}

/* One request, one answer, on connection c (kept open). */
static inline struct resp ask(struct cli *c, const char *req)
{
    struct resp r[1];
    c->len = 0;
    cli_sends(c, req);
    size_t n = pump(c, 1, 5.0, r, 1, NULL);
    if (n != 1)
        fail_msg("no answer to: %.60s", req);
    return r[0];
}

static inline bool has(const struct resp *r, const char *needle)
{
    return memmem(r->body, r->body_len, needle, strlen(needle)) != NULL;
}

static inline bool head_has(const struct resp *r, const char *needle)
{
    return memmem(r->head, r->head_len, needle, strlen(needle)) != NULL;
}

/* One request on c and what its answer must hold. */
struct route {
    const char *req;
    int status;
    const char *head_has; /* NULL: anything */
    const char *has[2];   /* in the body, NULL: nothing asked */
    const char *lacks;    /* not in the body */
    const char *body;     /* the whole body */
};

#define GET(target) "GET " target " HTTP/1.1\r\nHost: x\r\n\r\n"
#define POST(target) "POST " target " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"

static inline void expect_routes(struct cli *c, const struct route *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct resp r = ask(c, w[i].req);
        bool ok = r.status == w[i].status && (!w[i].head_has || head_has(&r, w[i].head_has)) &&
                  (!w[i].lacks || !has(&r, w[i].lacks)) &&
                  (!w[i].body ||
                   (r.body_len == strlen(w[i].body) && memcmp(r.body, w[i].body, r.body_len) == 0));

        for (size_t k = 0; k < 2; k++)
            ok = ok && (!w[i].has[k] || has(&r, w[i].has[k]));
        if (!ok)
            fail_msg("%.*s: %d\n%.*s%.*s", (int)strcspn(w[i].req, "\r"), w[i].req, r.status,
                     (int)r.head_len, r.head, (int)r.body_len, r.body);
    }
}

#endif
