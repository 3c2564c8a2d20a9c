/* demoapp: a tiny HTTP/1.1 app for meshreg's demo and end-to-end tests.
 *
 *   demoapp --port N [--status-path /status] [--unhealthy] [--quiet]
 *
 * Listens on 127.0.0.1:N. GET <status-path> answers 200 "ok" while healthy;
 * every other non-control path answers 200 "hello" (traffic for load tests).
 * Control routes (GET or POST; the socket is loopback-only, so every peer is):
 *   /control/unhealthy   status answers 503
 *   /control/healthy     back to normal (also ends hang/garbage/slow/close)
 *   /control/hang        status requests are read but never answered until
 *                        healthy again (then answered)
 *   /control/garbage     status requests get non-HTTP bytes, then a close
 *   /control/slow?ms=N   every status/traffic answer is delayed N ms
 *   /control/close       status requests get the connection closed unanswered
 *   /control/stats       JSON counters, so a bounce test can prove nothing
 *                        was lost
 * SIGUSR1 toggles unhealthy. SIGTERM/SIGINT: exit 0. One line per request on
 * stderr unless --quiet. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "proto/http1.h"

#define IN_CAP 16384
#define MAX_BODY 65536

enum mode { MODE_OK, MODE_UNHEALTHY, MODE_HANG, MODE_GARBAGE, MODE_CLOSE };

struct app {
    struct ev_loop *loop;
    int port;
    const char *status_path;
    bool quiet;
    enum mode mode;
    int slow_ms;
    ev_io accept_w;
    ev_signal sig_term, sig_int, sig_usr1;
    struct conn *conns;
    unsigned long requests, status_ok, status_fail, traffic, control, parked_total;
    unsigned long conns_total;
};

struct conn {
    struct app *app;
    int fd;
    ev_io rd, wr;
    ev_timer delay;
    char in[IN_CAP];
    size_t in_len;
    size_t skip_body; /* body bytes of the current request still to drop */
    char *out;
    size_t out_len, out_off;
    bool parked;      /* a status request waits for the app to be healthy */
    bool delaying;    /* a response waits for its delay timer */
    bool close_after; /* close once the output is flushed */
    struct conn *prev, *next;
};

static const char *mode_name(enum mode m)
{
    switch (m) {
    case MODE_OK:
        return "ok";
    case MODE_UNHEALTHY:
        return "unhealthy";
    case MODE_HANG:
        return "hang";
    case MODE_GARBAGE:
        return "garbage";
    case MODE_CLOSE:
        return "close";
    }
    return "?";
}

static void conn_close(struct conn *c)
{
    struct app *a = c->app;
    ev_io_stop(a->loop, &c->rd);
    ev_io_stop(a->loop, &c->wr);
    ev_timer_stop(a->loop, &c->delay);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
}

static void conn_process(struct conn *c);

/* Flushes output; returns false if the connection was closed. */
static bool conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->app->loop, &c->wr);
            return true;
        }
        if (n <= 0) {
            conn_close(c);
            return false;
        }
        c->out_off += (size_t)n;
    }
    ev_io_stop(c->app->loop, &c->wr);
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after) {
        conn_close(c);
        return false;
    }
    return true;
}

static void conn_queue(struct conn *c, const char *data, size_t len)
{
    char *n = realloc(c->out, c->out_len + len);
    if (!n)
        abort();
    memcpy(n + c->out_len, data, len);
    c->out = n;
    c->out_len += len;
}

static void respond(struct conn *c, int status, const char *ctype, const char *body,
                    bool keep_alive)
{
    char head[256];
    size_t blen = strlen(body);
    size_t hl = http1_write_head(head, sizeof(head), status, ctype, blen, keep_alive);
    conn_queue(c, head, hl);
    conn_queue(c, body, blen);
    if (!keep_alive)
        c->close_after = true;
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

static void log_req(struct app *a, const struct http1_request *r, size_t plen, const char *what)
{
    if (a->quiet)
        return;
    fprintf(stderr, "demoapp[%d]: %.*s %.*s -> %s\n", a->port, (int)r->method_len, r->method,
            (int)plen, r->target, what);
}

/* Handles a control route; returns true when it was one. */
static bool handle_control(struct conn *c, const struct http1_request *r, const char *path,
                           size_t plen, const char *query, size_t qlen)
{
    struct app *a = c->app;
    char body[512];
    const char *p = path + strlen("/control/");
    size_t n = plen - strlen("/control/");
    if (plen < strlen("/control/") || memcmp(path, "/control/", strlen("/control/")) != 0)
        return false;
    a->control++;
    body[0] = 0;
    if (path_is(p, n, "unhealthy")) {
        a->mode = MODE_UNHEALTHY;
    } else if (path_is(p, n, "healthy")) {
        a->mode = MODE_OK;
        a->slow_ms = 0;
    } else if (path_is(p, n, "hang")) {
        a->mode = MODE_HANG;
    } else if (path_is(p, n, "garbage")) {
        a->mode = MODE_GARBAGE;
    } else if (path_is(p, n, "close")) {
        a->mode = MODE_CLOSE;
    } else if (path_is(p, n, "slow")) {
        const char *ms = query ? memmem(query, qlen, "ms=", 3) : NULL;
        a->slow_ms = ms ? atoi(ms + 3) : 1000;
    } else if (path_is(p, n, "stats")) {
        snprintf(body, sizeof(body),
                 "{\"port\":%d,\"mode\":\"%s\",\"slow_ms\":%d,\"requests\":%lu,"
                 "\"status_ok\":%lu,\"status_fail\":%lu,\"traffic\":%lu,\"control\":%lu,"
                 "\"parked\":%lu,\"connections\":%lu}\n",
                 a->port, mode_name(a->mode), a->slow_ms, a->requests, a->status_ok, a->status_fail,
                 a->traffic, a->control, a->parked_total, a->conns_total);
        log_req(a, r, plen, "stats");
        respond(c, 200, "application/json", body, r->keep_alive);
        return true;
    } else {
        log_req(a, r, plen, "404");
        respond(c, 404, "text/plain", "unknown control\n", r->keep_alive);
        return true;
    }
    snprintf(body, sizeof(body), "mode %s slow_ms %d\n", mode_name(a->mode), a->slow_ms);
    log_req(a, r, plen, body);
    respond(c, 200, "text/plain", body, r->keep_alive);
    if (a->mode == MODE_OK) {
        /* Answer the status requests that hung while the app was "hung". */
        for (struct conn *o = a->conns, *next; o; o = next) {
            next = o->next;
            if (o->parked) {
                o->parked = false;
                conn_process(o);
            }
        }
    }
    return true;
}

static void delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    c->delaying = false;
    if (conn_flush(c))
        conn_process(c);
}

enum step { STEP_NEXT, STEP_PARKED, STEP_DELAYED, STEP_CLOSED };

/* Handles one complete request head at c->in. */
static enum step handle_request(struct conn *c, const struct http1_request *r)
{
    static const char garbage[] = "\x01\x02 this is not HTTP \xff\xfe\r\n\r\n";
    struct app *a = c->app;
    const char *q = memchr(r->target, '?', r->target_len);
    size_t plen = q ? (size_t)(q - r->target) : r->target_len;
    size_t qlen = q ? r->target_len - plen - 1 : 0;

    if (handle_control(c, r, r->target, plen, q ? q + 1 : NULL, qlen)) {
        a->requests++;
        return STEP_NEXT;
    }
    if (path_is(r->target, plen, a->status_path)) {
        switch (a->mode) {
        case MODE_HANG:
            if (!c->parked)
                a->parked_total++;
            c->parked = true;
            log_req(a, r, plen, "hang");
            return STEP_PARKED;
        case MODE_GARBAGE:
            a->requests++;
            a->status_fail++;
            log_req(a, r, plen, "garbage");
            conn_queue(c, garbage, sizeof(garbage) - 1);
            c->close_after = true;
            return STEP_NEXT;
        case MODE_CLOSE:
            a->requests++;
            a->status_fail++;
            log_req(a, r, plen, "close");
            conn_close(c);
            return STEP_CLOSED;
        case MODE_UNHEALTHY:
            a->requests++;
            a->status_fail++;
            log_req(a, r, plen, "503");
            respond(c, 503, "text/plain", "unhealthy\n", r->keep_alive);
            break;
        case MODE_OK:
            a->requests++;
            a->status_ok++;
            log_req(a, r, plen, "200");
            respond(c, 200, "text/plain", "ok", r->keep_alive);
            break;
        }
    } else {
        a->requests++;
        a->traffic++;
        log_req(a, r, plen, "200");
        respond(c, 200, "text/plain", "hello\n", r->keep_alive);
    }
    if (a->slow_ms > 0) {
        c->delaying = true;
        ev_timer_set(&c->delay, a->slow_ms / 1000.0, 0.);
        ev_timer_start(a->loop, &c->delay);
        return STEP_DELAYED;
    }
    return STEP_NEXT;
}

/* Parses and answers as many buffered requests as possible (pipelining). */
static void conn_process(struct conn *c)
{
    while (!c->parked && !c->delaying && c->out_len == 0) {
        if (c->skip_body > 0) {
            size_t k = c->skip_body < c->in_len ? c->skip_body : c->in_len;
            memmove(c->in, c->in + k, c->in_len - k);
            c->in_len -= k;
            c->skip_body -= k;
            if (c->skip_body > 0)
                break;
        }
        struct http1_request r;
        long hl = http1_parse_request(c->in, c->in_len, IN_CAP, MAX_BODY, &r);
        if (hl == 0)
            break;
        if (hl < 0) {
            respond(c, r.error_status ? r.error_status : 400, "text/plain", "bad request\n", false);
            conn_flush(c);
            return;
        }
        enum step st = handle_request(c, &r);
        if (st == STEP_CLOSED)
            return;
        if (st == STEP_PARKED)
            break; /* the request stays buffered, re-parsed when healthy */
        memmove(c->in, c->in + hl, c->in_len - (size_t)hl);
        c->in_len -= (size_t)hl;
        c->skip_body = r.content_length > 0 ? (size_t)r.content_length : 0;
        if (st == STEP_DELAYED)
            return; /* delay_cb flushes and carries on */
        if (!conn_flush(c))
            return;
    }
    if (c->in_len < IN_CAP)
        ev_io_start(c->app->loop, &c->rd);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (c->in_len == IN_CAP) {
        /* A parked or slow connection with a full buffer: stop reading. */
        ev_io_stop(loop, &c->rd);
        return;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    conn_process(c);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (conn_flush(c))
        conn_process(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct app *a = w->data;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->app = a;
        c->fd = fd;
        ev_io_init(&c->rd, read_cb, fd, EV_READ);
        ev_io_init(&c->wr, write_cb, fd, EV_WRITE);
        ev_timer_init(&c->delay, delay_cb, 0., 0.);
        c->rd.data = c->wr.data = c->delay.data = c;
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->conns_total++;
        ev_io_start(loop, &c->rd);
    }
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct app *a = w->data;
    a->mode = a->mode == MODE_UNHEALTHY ? MODE_OK : MODE_UNHEALTHY;
    if (!a->quiet)
        fprintf(stderr, "demoapp[%d]: SIGUSR1 -> %s\n", a->port, mode_name(a->mode));
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: demoapp --port N [--status-path /status] [--unhealthy] [--quiet]\n");
}

int main(int argc, char **argv)
{
    struct app a = {.status_path = "/status"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            a.port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--status-path") == 0 && i + 1 < argc) {
            a.status_path = argv[++i];
        } else if (strcmp(argv[i], "--unhealthy") == 0) {
            a.mode = MODE_UNHEALTHY;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            a.quiet = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (a.port <= 0 || a.port > 65535) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = listen_on(a.port);
    if (fd < 0) {
        fprintf(stderr, "demoapp: listen on 127.0.0.1:%d: %s\n", a.port, strerror(errno));
        return 1;
    }
    a.loop = ev_default_loop(0);
    ev_io_init(&a.accept_w, accept_cb, fd, EV_READ);
    a.accept_w.data = &a;
    ev_io_start(a.loop, &a.accept_w);
    ev_signal_init(&a.sig_term, stop_cb, SIGTERM);
    ev_signal_init(&a.sig_int, stop_cb, SIGINT);
    ev_signal_init(&a.sig_usr1, usr1_cb, SIGUSR1);
    a.sig_usr1.data = &a;
    ev_signal_start(a.loop, &a.sig_term);
    ev_signal_start(a.loop, &a.sig_int);
    ev_signal_start(a.loop, &a.sig_usr1);
    if (!a.quiet)
        fprintf(stderr, "demoapp: listening on 127.0.0.1:%d, status %s\n", a.port, a.status_path);
    ev_run(a.loop, 0);
    while (a.conns)
        conn_close(a.conns);
    ev_io_stop(a.loop, &a.accept_w);
    close(fd);
    if (!a.quiet)
        fprintf(stderr, "demoapp: stopped after %lu requests, traffic %lu\n", a.requests,
                a.traffic);
    ev_loop_destroy(a.loop);
    return 0;
}
