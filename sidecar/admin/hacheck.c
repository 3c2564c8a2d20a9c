/* hacheck's routes (see hacheck.h). Parsing, the spool rule and the answers from state are
 * plain code; live checks run on the loop through proto/httpc (http, https) and
 * proto/tcpconn (tcp). hacheck's own parts this follows, by behaviour: its URL patterns
 * (service [.a-zA-Z0-9_-]+, port [0-9]+), check_spool's text, the cache keyed by port and
 * path, the X-Haproxy-Server-State port/address and X-Nerve-Check-IP headers, Pragma:
 * no-cache, SpoolServiceHandler.post's parameters. */
#include "sidecar/admin/hacheck.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/http1.h"
#include "proto/httpc.h"
#include "proto/tcpconn.h"
#include "sidecar/admin/admin_route.h"
#include "sidecar/log.h"

#define CT_TEXT "text/html; charset=UTF-8" /* what tornado sends */
#define CT_JSON "application/json; charset=UTF-8"
#define CACHE_MAX 256
#define IPS_MAX 64
#define LIVE_BODY_MAX 4096

struct seen {
    char name[128];
    double last;      /* wall clock */
    int last_code;    /* 0: none yet */
    char last_ip[64];
    double last_ts;
    struct {
        char ip[64];
        unsigned long n;
    } ips[IPS_MAX];
    size_t nips;
};

struct cached {
    char key[320];
    double expires;
    int status;
    char *body;
    size_t len;
};

struct hacheck_live {
    struct hacheck *h;
    struct hacheck_live *prev, *next;
    hacheck_done_cb done;
    void *arg;
    char key[320];
    char svc[128];
    char ip[64];
    struct httpc *http; /* http/https */
    int fd;             /* tcp, else -1 */
    ev_io io;
    ev_timer timer;
    double started;
};

struct hacheck {
    struct ev_loop *loop;
    struct seen *seen;
    size_t nseen;
    struct cached cache[CACHE_MAX];
    struct hacheck_live *live;
    size_t nlive;
};

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void answer(struct hacheck_answer *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer(struct hacheck_answer *a, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    a->len = 0;
    int n = vasprintf(&a->body, fmt, ap);
    va_end(ap);
    a->status = n < 0 ? 500 : status;
    a->content_type = CT_TEXT;
    if (n < 0)
        a->body = NULL;
    else
        a->len = (size_t)n;
}

static void answer_json(struct hacheck_answer *a, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    a->status = s ? 200 : 500;
    a->content_type = CT_JSON;
    a->body = s;
    a->len = s ? strlen(s) : 0;
}

struct hacheck *hacheck_new(struct ev_loop *loop)
{
    struct hacheck *h = calloc(1, sizeof(*h));
    if (h)
        h->loop = loop;
    return h;
}

static void live_end(struct hacheck_live *l);

void hacheck_free(struct hacheck *h)
{
    if (!h)
        return;
    while (h->live)
        live_end(h->live);
    for (size_t i = 0; i < CACHE_MAX; i++)
        free(h->cache[i].body);
    free(h->seen);
    free(h);
}

/* ---- /recent, /status/count ---- */

static struct seen *seen_get(struct hacheck *h, const char *name)
{
    if (!h)
        return NULL;
    for (size_t i = 0; i < h->nseen; i++)
        if (strcmp(h->seen[i].name, name) == 0)
            return &h->seen[i];
    if (h->nseen >= HACHECK_MAX_SERVICES)
        return NULL; /* a bounded table: a scanner cannot grow it */
    struct seen *n = realloc(h->seen, (h->nseen + 1) * sizeof(*n));
    if (!n)
        return NULL;
    h->seen = n;
    struct seen *s = &h->seen[h->nseen++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static void peer_ip(const char *peer, char *ip, size_t len)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    snprintf(ip, len, "%.*s", (int)n, peer);
}

/* hacheck counts every request by service and client, and remembers each
 * service's last answer. */
static void note_seen(struct hacheck *h, const char *svc, const char *ip)
{
    struct seen *s = seen_get(h, svc);
    if (!s)
        return;
    s->last = wall();
    for (size_t i = 0; i < s->nips; i++) {
        if (strcmp(s->ips[i].ip, ip) == 0) {
            s->ips[i].n++;
            return;
        }
    }
    if (s->nips < IPS_MAX) {
        snprintf(s->ips[s->nips].ip, sizeof(s->ips[0].ip), "%s", ip);
        s->ips[s->nips++].n = 1;
    }
}

static void note_status(struct hacheck *h, const char *svc, const char *ip, int code)
{
    struct seen *s = seen_get(h, svc);
    if (!s)
        return;
    s->last_code = code;
    snprintf(s->last_ip, sizeof(s->last_ip), "%s", ip);
    s->last_ts = wall();
}

void hacheck_recent(struct hacheck *h, const char *query, size_t query_len,
                    struct hacheck_answer *out)
{
    double threshold = 600, now = wall();
    if (query && query_len > 10 && strncmp(query, "threshold=", 10) == 0) {
        char v[32];
        snprintf(v, sizeof(v), "%.*s", (int)(query_len - 10), query + 10);
        char *end;
        long t = strtol(v, &end, 10);
        if (*end || !*v) {
            answer(out, 400, "threshold: want an integer number of seconds");
            return;
        }
        threshold = (double)t;
    }
    json_t *list = json_array();
    for (size_t i = 0; h && i < h->nseen; i++) {
        const struct seen *s = &h->seen[i];
        if (now - s->last > threshold)
            continue;
        json_t *last = s->last_code ? json_pack("{s:i, s:s, s:f}", "code", s->last_code,
                                                "remote_ip", s->last_ip, "ts", s->last_ts)
                                    : json_null();
        json_array_append_new(list, json_pack("[s, o]", s->name, last));
    }
    /* hacheck sorts by name */
    size_t n = json_array_size(list);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(list, j - 1), *b = json_array_get(list, j);
            if (strcmp(json_string_value(json_array_get(a, 0)),
                       json_string_value(json_array_get(b, 0))) <= 0)
                break;
            json_incref(a);
            json_array_set(list, j - 1, b);
            json_array_set_new(list, j, a);
        }
    answer_json(out, json_pack("{s:o, s:i}", "seen_services", list, "threshold_seconds",
                               (int)threshold));
}

void hacheck_count(struct hacheck *h, struct hacheck_answer *out)
{
    json_t *all = json_object();
    for (size_t i = 0; h && i < h->nseen; i++) {
        json_t *ips = json_object();
        for (size_t k = 0; k < h->seen[i].nips; k++)
            json_object_set_new(ips, h->seen[i].ips[k].ip,
                                json_integer((json_int_t)h->seen[i].ips[k].n));
        json_object_set_new(all, h->seen[i].name, ips);
    }
    answer_json(out, json_pack("{s:o}", "service_access_counts", all));
}

/* ---- the request ---- */

struct target {
    char svc[128];
    int port;
    char path[1024]; /* "/" + the rest, + "?query" when there is one */
    char host[64];   /* where a live check goes */
};

static bool svc_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* hacheck's patterns: <svc>/<port>/<path> (http, https: the slash after the
 * port is required), <svc>/<port>[/<path>] (tcp, spool). */
static bool parse_target(const struct hacheck_request *q, struct target *t)
{
    const char *p = q->rest, *end = q->rest + q->rest_len;
    size_t n = 0;
    while (p + n < end && svc_char(p[n]))
        n++;
    if (n == 0 || n >= sizeof(t->svc) || p + n >= end || p[n] != '/')
        return false;
    snprintf(t->svc, sizeof(t->svc), "%.*s", (int)n, p);
    p += n + 1;
    long port = 0;
    size_t digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 6) {
        port = port * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || (p < end && *p != '/'))
        return false;
    bool slash = p < end;
    if (!slash && (strcmp(q->kind, "http") == 0 || strcmp(q->kind, "https") == 0))
        return false;
    t->port = (int)port;
    const char *path = slash ? p + 1 : end;
    int pl = snprintf(t->path, sizeof(t->path), "/%.*s%s%.*s", (int)(end - path), path,
                      q->query ? "?" : "", q->query ? (int)q->query_len : 0, q->query ? q->query : "");
    snprintf(t->host, sizeof(t->host), "127.0.0.1");
    return pl > 0 && (size_t)pl < sizeof(t->path);
}

static bool header_is(const struct http1_request *req, const char *name, const char *value)
{
    const struct http1_header *h = http1_find_header(req->headers, req->nheaders, name);
    return h && h->value_len == strlen(value) && strncasecmp(h->value, value, h->value_len) == 0;
}

/* X-Haproxy-Server-State "...; address=A; port=P; ..." and X-Nerve-Check-IP,
 * as hacheck reads them. A header address is used only when it is an
 * address of this host: meshreg never probes another machine. Returns -1
 * (answer filled) for a foreign address. */
static int apply_headers(const struct http1_request *req, struct target *t,
                         struct hacheck_answer *out)
{
    char addr[64] = "", port[16] = "";
    const struct http1_header *st =
        http1_find_header(req->headers, req->nheaders, "x-haproxy-server-state");
    for (size_t i = 0; st && i < st->value_len;) {
        const char *part = st->value + i, *semi = memchr(part, ';', st->value_len - i);
        size_t plen = semi ? (size_t)(semi - part) : st->value_len - i;
        i += plen + 1;
        while (plen && *part == ' ')
            part++, plen--;
        while (plen && part[plen - 1] == ' ')
            plen--;
        const char *eq = memchr(part, '=', plen);
        if (!eq || memchr(eq + 1, '=', plen - (size_t)(eq + 1 - part)))
            continue;
        size_t kl = (size_t)(eq - part), vl = plen - kl - 1;
        if (kl == 4 && memcmp(part, "port", 4) == 0)
            snprintf(port, sizeof(port), "%.*s", (int)vl, eq + 1);
        else if (kl == 7 && memcmp(part, "address", 7) == 0)
            snprintf(addr, sizeof(addr), "%.*s", (int)vl, eq + 1);
    }
    const struct http1_header *ip =
        http1_find_header(req->headers, req->nheaders, "x-nerve-check-ip");
    if (!addr[0] && ip)
        snprintf(addr, sizeof(addr), "%.*s", (int)ip->value_len, ip->value);
    if (port[0]) {
        char *end;
        long p = strtol(port, &end, 10);
        if (!*end && p > 0 && p < 65536)
            t->port = (int)p;
    }
    if (!addr[0])
        return 0;
    struct sockaddr_storage ss;
    socklen_t len = tcpconn_addr(addr, 1, &ss);
    int fd = len ? socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (fd >= 0) {
        ((struct sockaddr_in *)&ss)->sin_port = 0; /* same offset for sin6_port */
        bool local = bind(fd, (struct sockaddr *)&ss, len) == 0;
        close(fd);
        if (local) {
            snprintf(t->host, sizeof(t->host), "%s", addr);
            return 0;
        }
    }
    answer(out, 400, "check address %s: not an address of this host (meshreg checks only this host)",
           addr);
    return -1;
}

/* The drain that covers svc, hacheck's spool rule: `all` first, then svc's own. */
static bool spool_down(const struct admin_view *v, const char *svc, struct admin_view_spool *d)
{
    struct admin_view_state st;
    v->ops->state(v->owner, &st);
    bool found = false;
    for (size_t i = 0; i < st.drain.drains; i++) {
        struct admin_view_spool s;
        v->ops->drain_at(v->owner, i, &s);
        if (strcmp(s.scope, ADMIN_VIEW_ALL) == 0) {
            *d = s;
            return true;
        }
        if (strcmp(s.scope, svc) == 0) {
            *d = s;
            found = true;
        }
    }
    return found;
}

/* check_spool's answer for a drained service. */
static void answer_down(struct hacheck_answer *out, const char *svc,
                        const struct admin_view_spool *d)
{
    char until[48] = "";
    if (d->until > 0)
        snprintf(until, sizeof(until), " until %f", d->until);
    answer(out, 503, "Service %s in down state since %f%s%s%s", svc, d->since, until,
           d->reason[0] ? ": " : "", d->reason);
}

/* A check meshreg probes at that kind, port and path on loopback: its
 * number, or false. */
static bool probed(const struct admin_view *v, const char *kind, const struct target *t, size_t *i)
{
    if (strcmp(t->host, "127.0.0.1") != 0)
        return false;
    size_t n = v->ops->count(v->owner);
    for (size_t k = 0; k < n; k++) {
        struct admin_view_reg r;
        v->ops->reg(v->owner, k, &r);
        if (strcmp(r.probe, kind) != 0 || r.probe_port != t->port)
            continue;
        if (strcmp(kind, "tcp") == 0 || (r.probe_path && strcmp(r.probe_path, t->path) == 0)) {
            *i = k;
            return true;
        }
    }
    return false;
}

/* ---- the result cache (hacheck's: keyed by kind, host, port and path, not by service) ---- */

static struct cached *cache_find(struct hacheck *h, const char *key, double now)
{
    if (!h)
        return NULL;
    for (size_t i = 0; i < CACHE_MAX; i++)
        if (h->cache[i].body && h->cache[i].expires > now && strcmp(h->cache[i].key, key) == 0)
            return &h->cache[i];
    return NULL;
}

static void cache_put(struct hacheck *h, const char *key, const struct hacheck_answer *a, double now)
{
    struct cached *slot = &h->cache[0];
    for (size_t i = 0; i < CACHE_MAX; i++) {
        struct cached *c = &h->cache[i];
        if (!c->body || c->expires <= now || strcmp(c->key, key) == 0) {
            slot = c;
            break;
        }
        if (c->expires < slot->expires)
            slot = c; /* full: the one that expires first goes */
    }
    free(slot->body);
    slot->body = malloc(a->len + 1);
    if (!slot->body)
        return;
    memcpy(slot->body, a->body ? a->body : "", a->len);
    slot->body[a->len] = '\0';
    slot->len = a->len;
    slot->status = a->status;
    slot->expires = now + HACHECK_CACHE_S;
    snprintf(slot->key, sizeof(slot->key), "%s", key);
}

static void answer_copy(struct hacheck_answer *out, int status, const char *body, size_t len)
{
    out->status = status;
    out->content_type = CT_TEXT;
    out->body = malloc(len + 1);
    out->len = out->body ? len : 0;
    if (out->body) {
        memcpy(out->body, body, len);
        out->body[len] = '\0';
    } else {
        out->status = 500;
    }
}

/* ---- live checks ---- */

static void live_end(struct hacheck_live *l)
{
    struct hacheck *h = l->h;
    if (l->http)
        httpc_cancel(l->http);
    if (l->fd >= 0) {
        ev_io_stop(h->loop, &l->io);
        close(l->fd);
    }
    ev_timer_stop(h->loop, &l->timer);
    if (l->prev)
        l->prev->next = l->next;
    else
        h->live = l->next;
    if (l->next)
        l->next->prev = l->prev;
    h->nlive--;
    free(l);
}

void hacheck_cancel(struct hacheck_live *l)
{
    if (l)
        live_end(l);
}

/* Caches the result, tells the client, frees the check. */
static void live_finish(struct hacheck_live *l, struct hacheck_answer *a)
{
    struct hacheck *h = l->h;
    double now = wall();
    cache_put(h, l->key, a, now);
    note_status(h, l->svc, l->ip, a->status);
    hacheck_done_cb done = l->done;
    void *arg = l->arg;
    l->http = NULL; /* httpc frees itself after its callback */
    live_end(l);
    done(arg, a);
}

static void http_done(void *arg, const struct httpc_result *res)
{
    struct hacheck_live *l = arg;
    struct hacheck_answer a;
    l->http = NULL;
    /* hacheck: no answer is tornado's 599, which is no HTTP status it
     * knows, so the client gets 503; a code outside the standard ones too. */
    if (res->status == 0)
        answer(&a, 503, "Unhandled exception %s", res->error ? res->error : "?");
    else
        answer_copy(&a, res->status >= 100 && res->status <= 511 ? res->status : 503, res->body,
                    res->body_len);
    live_finish(l, &a);
}

static void tcp_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hacheck_live *l = w->data;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    struct hacheck_answer a;
    double took = ev_now(loop) - l->started;
    if (soerr)
        answer(&a, 503, "Unexpected error %s after %2fs", strerror(soerr), took);
    else
        answer(&a, 200, "Connected in %.2fs", took);
    live_finish(l, &a);
}

static void tcp_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct hacheck_live *l = w->data;
    struct hacheck_answer a;
    answer(&a, 503, "Connection timed out after %.2fs", ev_now(loop) - l->started);
    live_finish(l, &a);
}

static int live_start(struct hacheck *h, const char *kind, const struct target *t,
                      const struct hacheck_request *q, const char *key, const char *ip,
                      hacheck_done_cb done, void *arg, struct hacheck_live **out,
                      struct hacheck_answer *now_answer)
{
    struct hacheck_live *l = calloc(1, sizeof(*l));
    if (!l) {
        answer(now_answer, 500, "out of memory");
        return 0;
    }
    l->h = h;
    l->fd = -1;
    l->done = done;
    l->arg = arg;
    l->started = ev_now(h->loop);
    snprintf(l->key, sizeof(l->key), "%s", key);
    snprintf(l->svc, sizeof(l->svc), "%s", t->svc);
    snprintf(l->ip, sizeof(l->ip), "%s", ip);
    if (strcmp(kind, "tcp") == 0) {
        struct sockaddr_storage ss;
        char err[160] = "bad address";
        socklen_t len = tcpconn_addr(t->host, t->port, &ss);
        l->fd = len ? tcpconn_start(&ss, len, err, sizeof(err)) : -1;
        if (l->fd < 0) {
            answer(now_answer, 503, "Unexpected error %s after %2fs", err, 0.0);
            free(l);
            return 0;
        }
        ev_io_init(&l->io, tcp_io, l->fd, EV_WRITE);
        l->io.data = l;
        ev_io_start(h->loop, &l->io);
        ev_timer_init(&l->timer, tcp_timeout, HACHECK_TIMEOUT_MS / 1000.0, 0.);
        l->timer.data = l;
        ev_timer_start(h->loop, &l->timer);
    } else {
        char host_hdr[256] = "";
        const struct http1_header *hh =
            http1_find_header(q->req->headers, q->req->nheaders, "host");
        if (hh) /* hacheck's http_headers_to_copy: Host */
            snprintf(host_hdr, sizeof(host_hdr), "%.*s", (int)hh->value_len, hh->value);
        struct httpc_request r = {.host = t->host,
                                  .port = t->port,
                                  .method = "GET",
                                  .target = t->path,
                                  .host_header = hh ? host_hdr : NULL,
                                  .extra_headers = "User-Agent: hastate meshreg\r\n",
                                  .timeout_ms = HACHECK_TIMEOUT_MS,
                                  .max_body = LIVE_BODY_MAX,
                                  .tls = strcmp(kind, "https") == 0};
        if (!(l->http = httpc_start(h->loop, &r, http_done, l))) {
            answer(now_answer, 500, "out of memory");
            free(l);
            return 0;
        }
    }
    l->next = h->live;
    if (h->live)
        h->live->prev = l;
    h->live = l;
    h->nlive++;
    *out = l;
    return 1;
}

/* ---- POST /spool/<svc>/<port>/... (SpoolServiceHandler.post) ---- */

struct spool_form {
    char status[8], reason[ADMIN_VIEW_REASON_MAX + 1];
    double expiration, creation;
    bool has_status, has_reason;
};

static int form_field(const char *key, const char *val, long vl, struct spool_form *f,
                      char *err, size_t errlen)
{
    if (strcmp(key, "status") == 0) {
        snprintf(f->status, sizeof(f->status), "%s", val);
        f->has_status = true;
    } else if (strcmp(key, "reason") == 0) {
        if ((size_t)vl >= sizeof(f->reason)) {
            snprintf(err, errlen, "reason: longer than %zu bytes", sizeof(f->reason) - 1);
            return -1;
        }
        for (long k = 0; k < vl; k++)
            if ((unsigned char)val[k] < 0x20 || val[k] == 0x7f) {
                snprintf(err, errlen, "reason: control characters are not allowed");
                return -1;
            }
        memcpy(f->reason, val, (size_t)vl + 1);
        f->has_reason = true;
    } else if (strcmp(key, "expiration") == 0 || strcmp(key, "creation") == 0) {
        char *end;
        double d = strtod(val, &end);
        if (!*val || *end || !isfinite(d) || d < 0 || d > 1e10) {
            snprintf(err, errlen, "%s: want a Unix time", key);
            return -1;
        }
        *(key[0] == 'e' ? &f->expiration : &f->creation) = d;
    } /* anything else: tornado ignores unknown arguments, so do we */
    return 0;
}

static int parse_form(const char *s, size_t n, struct spool_form *f, char *err, size_t errlen)
{
    for (size_t i = 0; s && i < n;) {
        const char *pair = s + i, *amp = memchr(pair, '&', n - i);
        size_t plen = amp ? (size_t)(amp - pair) : n - i;
        i += plen + 1;
        const char *eq = memchr(pair, '=', plen);
        size_t kl = eq ? (size_t)(eq - pair) : plen;
        char key[32], val[512];
        long vl = eq ? admin_route_form_decode(eq + 1, plen - kl - 1, val, sizeof(val))
                     : (val[0] = '\0', 0);
        if (plen == 0)
            continue;
        if (admin_route_form_decode(pair, kl, key, sizeof(key)) < 0 || vl < 0) {
            snprintf(err, errlen, "bad form encoding");
            return -1;
        }
        if (form_field(key, val, vl, f, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void spool_post(const struct admin_view *v, const struct hacheck_request *q,
                       const struct target *t, struct hacheck_answer *out)
{
    struct spool_form f = {.status = ""};
    char err[160];
    if (!q->trusted) {
        answer(out, 403, "remote spool changes are not enabled");
        return;
    }
    if (parse_form(q->query, q->query_len, &f, err, sizeof(err)) < 0 ||
        parse_form(q->body, q->body_len, &f, err, sizeof(err)) < 0) {
        answer(out, 400, "%s", err);
        return;
    }
    if (!f.has_status) {
        answer(out, 400, "Missing argument status");
        return;
    }
    bool down = strcmp(f.status, "down") == 0;
    if (!down && strcmp(f.status, "up") != 0) {
        answer(out, 400, "status must be up or down");
        return;
    }
    if (down && !f.has_reason) {
        answer(out, 400, "Missing argument reason");
        return;
    }
    size_t i;
    if (strcmp(t->svc, ADMIN_VIEW_ALL) != 0 && t->port != 0 &&
        v->ops->find(v->owner, t->svc, strlen(t->svc), &i)) {
        struct admin_view_reg r;
        v->ops->reg(v->owner, i, &r);
        if (r.registration && r.port != t->port) {
            answer(out, 400, "%s registers port %d, not %d (meshreg drains a registration "
                             "as a whole: use port 0)", t->svc, r.port, t->port);
            return;
        }
    }
    struct admin_drain_result res;
    log_info(NULL, "admin: spool %s of %s requested by %s (hacheck route)", f.status, t->svc,
             q->peer);
    if (down) {
        struct admin_drain_request dr = {t->svc, f.reason, 0, f.expiration, f.creation};
        v->ops->drain(v->owner, &dr, &res);
    } else {
        v->ops->undrain(v->owner, t->svc, &res);
    }
    if (res.status == 404)
        answer(out, 404, "no registration named %s", t->svc);
    else
        answer(out, res.status == 200 ? 200 : 500, "%s", "");
}

/* ---- the routes ---- */

/* A check meshreg probes, answered from its state. */
static void answer_probed(const struct admin_view *v, size_t i, const char *kind,
                          struct hacheck_answer *out)
{
    struct admin_view_reg r;
    v->ops->reg(v->owner, i, &r);
    if (!r.probed)
        answer(out, 503, "Service %s not probed yet", r.name);
    else if (r.healthy)
        answer(out, 200, "%s", strcmp(kind, "tcp") == 0 ? r.last_result : "OK");
    else
        answer(out, 503, "Service %s failing its health check: %s", r.name, r.last_result);
}

int hacheck_route(struct hacheck *h, const struct admin_view *v, const struct hacheck_request *q,
                  struct hacheck_answer *out, hacheck_done_cb done, void *arg,
                  struct hacheck_live **live)
{
    struct target t;
    struct admin_view_spool d;
    struct admin_view_state st;
    char ip[64], key[320];
    memset(out, 0, sizeof(*out));
    if (!parse_target(q, &t)) {
        answer(out, 404, "<html><title>404: Not Found</title><body>404: Not Found</body></html>");
        return 0;
    }
    if (q->post) {
        spool_post(v, q, &t, out);
        return 0;
    }
    peer_ip(q->peer, ip, sizeof(ip));
    note_seen(h, t.svc, ip);
    if (apply_headers(q->req, &t, out) < 0)
        return 0;
    v->ops->state(v->owner, &st);
    size_t i;
    if (spool_down(v, t.svc, &d))
        answer_down(out, t.svc, &d);
    else if (st.drain.shutting_down)
        answer(out, 503, "Service %s in down state: shutting down", t.svc);
    else if (strcmp(q->kind, "spool") == 0)
        answer(out, 200, "%s", "");
    else if (probed(v, q->kind, &t, &i))
        answer_probed(v, i, q->kind, out);
    else if (!st.hacheck_live)
        answer(out, 503, "Service %s: port %d%s is not probed by meshreg and live checks are off",
               t.svc, t.port, strcmp(q->kind, "tcp") == 0 ? "" : t.path);
    else {
        snprintf(key, sizeof(key), "%s %s %d %s", q->kind, t.host, t.port,
                 strcmp(q->kind, "tcp") == 0 ? "" : t.path);
        const struct cached *c = cache_find(h, key, wall());
        if (c && !header_is(q->req, "pragma", "no-cache")) {
            answer_copy(out, c->status, c->body, c->len);
        } else if (!done || !h) {
            answer(out, 503, "live checks are answered over HTTP/1.1 only");
        } else if (h->nlive >= HACHECK_LIVE_MAX) {
            answer(out, 503, "too many live checks in flight (%d)", HACHECK_LIVE_MAX);
        } else {
            int rc = live_start(h, q->kind, &t, q, key, ip, done, arg, live, out);
            if (rc == 1)
                return 1;
        }
    }
    note_status(h, t.svc, ip, out->status);
    return 0;
}
