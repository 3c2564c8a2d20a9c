/* The admin endpoint's routes as one table: path, methods, whether the route
 * changes state (and so needs a trusted peer), handler. */
#include "sidecar/admin/admin_route.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http1.h"
#include "sidecar/log.h"
#include "sidecar/admin/metrics.h"
#include "sidecar/admin/status.h"

/* Longest accepted drain expiry: ten years is "forever" for any real use;
 * beyond that it is a typo, and huge doubles make timestamps meaningless. */
#define MAX_EXPIRES_S (10.0 * 365 * 86400)
/* Latest accepted --until: the year 2286 (10^10 s); beyond is a typo. */
#define MAX_EPOCH_S 1e10

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

struct route_ctx {
    const char *rest; /* path after the route's prefix */
    size_t rest_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;
    const char *body;
    size_t body_len;
    const struct http1_request *req;
    const char *peer;
    const char *route; /* the route's path ("/spool/") */
    bool trusted;
    hacheck_done_cb done; /* a live check may answer later (NULL: not here) */
    void *done_arg;
    struct hacheck_live **live;
    bool *deferred; /* set by a route that answers later */
};

typedef void (*route_fn)(struct admin_routes *rt, const struct route_ctx *x,
                         struct admin_reply *out);

struct route {
    const char *path;
    bool prefix;   /* path is a prefix ("/health/") rather than the whole path */
    bool changing; /* POST routes: loopback or --admin-allow peers only */
    const char *allow;
    route_fn fn;
};

static void reply_text(struct admin_reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_text(struct admin_reply *out, int status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    out->status = status;
    out->content_type = CT_TEXT;
    out->body = malloc((size_t)n + 1);
    if (!out->body) {
        out->status = 500;
        out->len = 0;
        return;
    }
    memcpy(out->body, buf, (size_t)n + 1);
    out->len = (size_t)n;
}

/* Takes over a body from status_*(). Without a body (its allocation
 * failed) the status still holds: an empty 503 is still "down". */
static void reply_body(struct admin_reply *out, int status, const char *ctype, char *body,
                       size_t len)
{
    out->status = status;
    out->content_type = ctype;
    out->body = body;
    out->len = body ? len : 0;
}

static void route_health(struct admin_routes *rt, const struct route_ctx *x,
                         struct admin_reply *out)
{
    char *body = NULL;
    size_t len = 0;
    int st = status_health(&rt->view, &rt->health, NULL, 0, &body, &len);
    struct admin_view_state vs;
    rt->view.ops->state(rt->view.owner, &vs);
    if (vs.watches_polls)
        rt->view.ops->polled(rt->view.owner, x->peer, st == 503 && vs.drain.draining);
    reply_body(out, st, CT_JSON, body, len);
}

static void reply_json(struct admin_reply *out, int status, json_t *o);

/* Every 404 of meshreg's own routes is JSON, like /health/<unknown>'s. */
static void reply_404(struct admin_reply *out, const char *error, const char *what,
                      const char *name, size_t name_len)
{
    json_t *o = json_pack("{s:s, s:s#}", "error", error, what, name, (int)name_len);
    if (!o) /* the name is not UTF-8: leave it out */
        o = json_pack("{s:s}", "error", error);
    reply_json(out, 404, o);
}

static void route_health_one(struct admin_routes *rt, const struct route_ctx *x,
                             struct admin_reply *out)
{
    char *body = NULL;
    size_t len = x->rest_len;
    if (len > 0 && x->rest[len - 1] == '/') /* /health/web.main/ is /health/web.main */
        len--;
    if (len == 0) {
        reply_404(out, "no registration named (want /health/<svc.ns>)", "name", "", 0);
        return;
    }
    size_t name_len = len;
    len = 0;
    int st = status_health(&rt->view, &rt->health, x->rest, name_len, &body, &len);
    reply_body(out, st, CT_JSON, body, len);
}

static void route_status(struct admin_routes *rt, const struct route_ctx *x,
                         struct admin_reply *out)
{
    char *body = NULL;
    size_t len = 0;
    int st = status_full(&rt->view, &body, &len);
    reply_body(out, st, CT_JSON, body, len);
}

static void route_metrics(struct admin_routes *rt, const struct route_ctx *x,
                          struct admin_reply *out)
{
    char *body = NULL;
    size_t len = 0;
    int st = metrics_render(&rt->view, &body, &len);
    reply_body(out, st, CT_PROM, body, len);
}

long admin_route_form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? http1_hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? http1_hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return (long)o;
}

struct drain_params {
    char service[ADMIN_VIEW_SCOPE_MAX + 1];
    char reason[ADMIN_VIEW_REASON_MAX + 1];
    double expires, until, since;
    bool undrain; /* only service= is accepted */
};

/* A Unix time or a number of seconds: finite, >= 0, at most max. */
static int parse_seconds(const char *key, const char *val, long vl, double max, double *out,
                         char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double e = strtod(val, &end);
    if (vl == 0 || *end != '\0' || errno != 0 || !isfinite(e) || e < 0 || e > max) {
        snprintf(err, errlen, "%s: want a number of seconds from 0 to %.0f, got '%.40s'", key, max,
                 val);
        return -1;
    }
    *out = e;
    return 0;
}

static int check_text(const char *key, const char *val, long vl, size_t cap, char *err,
                      size_t errlen)
{
    if ((size_t)vl >= cap) {
        snprintf(err, errlen, "%s: longer than %zu bytes", key, cap - 1);
        return -1;
    }
    for (long k = 0; k < vl; k++) {
        if ((unsigned char)val[k] < 0x20 || val[k] == 0x7f) {
            snprintf(err, errlen, "%s: control characters are not allowed", key);
            return -1;
        }
    }
    return 0;
}

/* One key=value of a drain request into p. */
static int drain_param(const char *key, const char *val, long vl, struct drain_params *p,
                       char *err, size_t errlen)
{
    if (strcmp(key, "service") == 0) {
        if (check_text(key, val, vl, sizeof(p->service), err, errlen) < 0)
            return -1;
        if (vl == 0) {
            snprintf(err, errlen, "service: want \"all\" or a registration's svc.ns");
            return -1;
        }
        memcpy(p->service, val, (size_t)vl + 1);
        return 0;
    }
    if (p->undrain) {
        snprintf(err, errlen, "unknown parameter '%.31s' (want service)", key);
        return -1;
    }
    if (strcmp(key, "reason") == 0) {
        if (check_text(key, val, vl, sizeof(p->reason), err, errlen) < 0)
            return -1;
        memcpy(p->reason, val, (size_t)vl + 1);
        return 0;
    }
    if (strcmp(key, "expires") == 0)
        return parse_seconds(key, val, vl, MAX_EXPIRES_S, &p->expires, err, errlen);
    if (strcmp(key, "until") == 0)
        return parse_seconds(key, val, vl, MAX_EPOCH_S, &p->until, err, errlen);
    snprintf(err, errlen, "unknown parameter '%.31s' (want service, reason, expires, until)", key);
    return -1;
}

/* Parses "reason=R&expires=S" (either order, either optional). Unknown keys
 * are refused: a misspelt "expire=60" must not turn into a drain forever. */
static int parse_drain_params(const char *s, size_t n, struct drain_params *p, char *err,
                              size_t errlen)
{
    size_t i = 0;
    while (i < n) {
        const char *pair = s + i;
        const char *amp = memchr(pair, '&', n - i);
        size_t plen = amp ? (size_t)(amp - pair) : n - i;
        i += plen + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        const char *v = eq ? eq + 1 : pair + plen;
        size_t vlen = eq ? plen - klen - 1 : 0;
        char key[32], val[256];
        if (admin_route_form_decode(pair, klen, key, sizeof(key)) < 0) {
            snprintf(err, errlen, "bad parameter name");
            return -1;
        }
        long vl = admin_route_form_decode(v, vlen, val, sizeof(val));
        if (vl < 0) {
            snprintf(err, errlen, "%s: bad percent-encoding or value too long", key);
            return -1;
        }
        if (drain_param(key, val, vl, p, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static bool body_is_form(const struct http1_request *req)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const struct http1_header *ct = http1_find_header(req->headers, req->nheaders, "content-type");
    if (!ct)
        return true; /* `curl -X POST --data-binary` without a type: be lenient */
    return ct->value_len >= sizeof(form) - 1 &&
           strncasecmp(ct->value, form, sizeof(form) - 1) == 0 &&
           (ct->value_len == sizeof(form) - 1 || ct->value[sizeof(form) - 1] == ';' ||
            ct->value[sizeof(form) - 1] == ' ');
}

static json_t *info_json(const struct admin_drain_info *d)
{
    json_t *o = json_pack("{s:s, s:s, s:f}", "service", d->scope, "reason", d->reason, "since",
                          d->since);
    if (o)
        json_object_set_new(o, "until", d->until > 0 ? json_real(d->until) : json_null());
    return o;
}

static void reply_json(struct admin_reply *out, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    out->status = s ? status : 500;
    out->content_type = CT_JSON;
    out->body = s ? realloc(s, strlen(s) + 2) : NULL;
    if (!out->body) {
        free(s);
        out->status = 500;
        return;
    }
    out->len = strlen(out->body);
    out->body[out->len++] = '\n';
    out->body[out->len] = '\0';
}

/* The drain's own end (until, expires_in_ms) and the drain window are
 * separate fields: one is when the drain stops by itself, the other how long
 * a load balancer needs to notice it (README "Drains"). */
static void reply_drain_result(const struct admin_view *v, const char *scope,
                               const struct admin_drain_result *r, bool drain,
                               struct admin_reply *out)
{
    struct admin_view_state vs;
    v->ops->state(v->owner, &vs);
    if (r->status == 404) {
        reply_404(out, "unknown registration (want \"all\" or a svc.ns)", "name", scope,
                  strlen(scope));
        return;
    }
    if (r->status != 200) {
        reply_text(out, 500, "out of memory\n");
        return;
    }
    json_t *o = json_pack("{s:s, s:b}", "service", scope, "draining", vs.drain.draining);
    if (o && drain) {
        json_object_set_new(o, "reason", json_string(r->now.reason));
        json_object_set_new(o, "since", json_real(r->now.since));
        json_object_set_new(o, "until", r->now.until > 0 ? json_real(r->now.until) : json_null());
        json_object_set_new(o, "expires_in_ms",
                            r->now.until > 0
                                ? json_integer((json_int_t)llround((r->now.until - vs.now) * 1000))
                                : json_null());
        json_object_set_new(o, "window_remaining_ms",
                            json_integer((json_int_t)llround(r->now.window_remaining * 1000)));
        json_object_set_new(o, "replaced", r->replaced ? info_json(&r->old) : json_null());
    } else if (o) {
        json_object_set_new(o, "ended", r->replaced ? info_json(&r->old) : json_null());
        json_object_set_new(o, "window_remaining_ms", json_integer((json_int_t)llround(
                                                          vs.drain.window_remaining * 1000)));
    }
    reply_json(out, 200, o);
}

/* The query string, then a form body: parameters of POST /drain and /undrain. */
static int drain_request_params(const struct route_ctx *x, struct drain_params *p,
                                struct admin_reply *out)
{
    char err[200];
    if (x->query && parse_drain_params(x->query, x->query_len, p, err, sizeof(err)) < 0) {
        reply_text(out, 400, "%s\n", err);
        return -1;
    }
    if (x->body_len > 0) {
        if (!body_is_form(x->req)) {
            reply_text(out, 400, "body: want application/x-www-form-urlencoded\n");
            return -1;
        }
        if (parse_drain_params(x->body, x->body_len, p, err, sizeof(err)) < 0) {
            reply_text(out, 400, "%s\n", err);
            return -1;
        }
    }
    return 0;
}

static void route_drain(struct admin_routes *rt, const struct route_ctx *x, struct admin_reply *out)
{
    struct drain_params p = {.service = ADMIN_VIEW_ALL};
    struct admin_drain_result res;
    if (drain_request_params(x, &p, out) < 0)
        return;
    log_info(NULL, "admin: drain of %s requested by %s", p.service, x->peer);
    struct admin_drain_request r = {p.service, p.reason, p.expires, p.until, 0};
    rt->view.ops->drain(rt->view.owner, &r, &res);
    reply_drain_result(&rt->view, p.service, &res, true, out);
}

static void route_undrain(struct admin_routes *rt, const struct route_ctx *x,
                          struct admin_reply *out)
{
    struct drain_params p = {.service = ADMIN_VIEW_ALL, .undrain = true};
    struct admin_drain_result res;
    if (drain_request_params(x, &p, out) < 0)
        return;
    log_info(NULL, "admin: undrain of %s requested by %s", p.service, x->peer);
    rt->view.ops->undrain(rt->view.owner, p.service, &res);
    reply_drain_result(&rt->view, p.service, &res, false, out);
}

static bool method_is(const struct http1_request *req, const char *m);

static void reply_answer(struct admin_reply *out, struct hacheck_answer *a)
{
    out->status = a->status;
    out->content_type = a->content_type;
    out->body = a->body;
    out->len = a->body ? a->len : 0;
}

/* hacheck's /http/, /https/, /tcp/, /spool/ (sidecar/admin/hacheck.c). */
static void route_hacheck(struct admin_routes *rt, const struct route_ctx *x,
                          struct admin_reply *out)
{
    char kind[8];
    snprintf(kind, sizeof(kind), "%.*s", (int)strlen(x->route) - 2, x->route + 1);
    bool post = method_is(x->req, "POST");
    struct hacheck_request q = {kind,      x->rest,     x->rest_len, x->query, x->query_len,
                                x->req,    x->peer,     post,        x->trusted, x->body,
                                x->body_len};
    struct hacheck_answer a;
    if (post && !x->trusted)
        log_warn(NULL, "admin: refused POST %s from %s (not loopback, not in --admin-allow)",
                 x->route, x->peer);
    if (hacheck_route(rt->hacheck, &rt->view, &q, &a, x->done, x->done_arg, x->live) == 1) {
        *x->deferred = true;
        return;
    }
    reply_answer(out, &a);
}

static void route_recent(struct admin_routes *rt, const struct route_ctx *x,
                         struct admin_reply *out)
{
    struct hacheck_answer a;
    hacheck_recent(rt->hacheck, x->query, x->query_len, &a);
    reply_answer(out, &a);
}

static void route_count(struct admin_routes *rt, const struct route_ctx *x,
                        struct admin_reply *out)
{
    struct hacheck_answer a;
    hacheck_count(rt->hacheck, &a);
    reply_answer(out, &a);
}

#define GET_HEAD "GET, HEAD"

static const struct route routes[] = {
    {"/health", false, false, GET_HEAD, route_health},
    {"/health/", true, false, GET_HEAD, route_health_one},
    {"/status", false, false, GET_HEAD, route_status},
    {"/metrics", false, false, GET_HEAD, route_metrics},
    {"/drain", false, true, "POST", route_drain},
    {"/undrain", false, true, "POST", route_undrain},
    {"/http/", true, false, GET_HEAD, route_hacheck},
    {"/https/", true, false, GET_HEAD, route_hacheck},
    {"/tcp/", true, false, GET_HEAD, route_hacheck},
    /* POST here is hacheck's remote spool change: the handler checks the peer */
    {"/spool/", true, false, "GET, HEAD, POST", route_hacheck},
    {"/recent", false, false, GET_HEAD, route_recent},
    {"/status/count", false, false, GET_HEAD, route_count},
};

static bool method_is(const struct http1_request *req, const char *m)
{
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

static bool method_allowed(const struct route *r, const struct http1_request *req)
{
    if (strcmp(r->allow, "POST") == 0)
        return method_is(req, "POST");
    return method_is(req, "GET") || method_is(req, "HEAD") ||
           (strstr(r->allow, "POST") && method_is(req, "POST"));
}

void admin_route(struct admin_routes *rt, const struct http1_request *req, const char *body,
                 bool trusted, const char *peer, struct admin_reply *out)
{
    admin_route_async(rt, req, body, trusted, peer, out, NULL, NULL, NULL);
}

bool admin_route_async(struct admin_routes *rt, const struct http1_request *req, const char *body,
                       bool trusted, const char *peer, struct admin_reply *out,
                       hacheck_done_cb done, void *arg, struct hacheck_live **live)
{
    struct route_ctx x = {.body = body,
                          .req = req,
                          .peer = peer,
                          .trusted = trusted,
                          .done = done,
                          .done_arg = arg,
                          .live = live};
    bool deferred = false;
    x.deferred = &deferred;
    const char *path = req->target;
    size_t plen = req->target_len;
    const char *q = memchr(path, '?', plen);

    memset(out, 0, sizeof(*out));
    if (q) {
        x.query = q + 1;
        x.query_len = plen - (size_t)(q - path) - 1;
        plen = (size_t)(q - path);
    }
    x.body_len = req->content_length > 0 ? (size_t)req->content_length : 0;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        size_t rl = strlen(r->path);
        if (r->prefix ? plen < rl || memcmp(path, r->path, rl) != 0
                      : plen != rl || memcmp(path, r->path, rl) != 0)
            continue;
        if (!method_allowed(r, req)) {
            reply_text(out, 405, "method %.*s not allowed here (allowed: %s)\n",
                       (int)(req->method_len > 16 ? 16 : req->method_len), req->method, r->allow);
            out->allow = r->allow;
            return false;
        }
        if (r->changing && !trusted) {
            log_warn(NULL, "admin: refused %s %s from %s (not loopback, not in --admin-allow)",
                     r->allow, r->path, peer);
            reply_text(out, 403,
                       "changing routes are accepted from loopback or --admin-allow only\n");
            return false;
        }
        x.route = r->path;
        x.rest = path + rl;
        x.rest_len = plen - rl;
        r->fn(rt, &x, out);
        return deferred;
    }
    reply_404(out, "not found", "path", path, plen);
    return false;
}
