/* The http probe (README "Probes"): GET healthcheck_uri on the app's health port with the
 * extra headers; 2xx and 3xx pass; with body_expect the body must contain it.
 * The exchange itself is proto/httpc; the probe's deadline bounds it. */
#include "sidecar/probe/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/httpc.h"

/* Body kept for the body_expect check; larger bodies are read and dropped. */
#define PROBE_HTTP_MAX_BODY (64 * 1024)
/* httpc's own deadline is only a backstop behind the probe's. */
#define PROBE_HTTP_BACKSTOP_MS 1000

struct probe_http {
    struct httpc *req; /* in flight, or NULL */
    char *extra;       /* "Name: value\r\n" lines from spec->headers */
    char *host_header; /* a copy of a Host given in spec->headers, or NULL */
};

static bool header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

/* Formats spec->headers once. A Host among them replaces the default one
 * instead of being sent twice. Headers with CR/LF are dropped: they would
 * let a config value inject lines into the request. */
static struct probe_http *http_state_new(const struct check_spec *spec)
{
    struct probe_http *st = calloc(1, sizeof(*st));
    size_t len = 1;

    if (!st)
        return NULL;
    for (size_t i = 0; i < spec->nheaders; i++)
        if (header_safe(spec->headers[i].key) && header_safe(spec->headers[i].value))
            len += strlen(spec->headers[i].key) + strlen(spec->headers[i].value) + 4;
    st->extra = malloc(len);
    if (!st->extra) {
        free(st);
        return NULL;
    }
    st->extra[0] = '\0';
    for (size_t i = 0, off = 0; i < spec->nheaders; i++) {
        const struct kv *h = &spec->headers[i];

        if (!header_safe(h->key) || !header_safe(h->value))
            continue;
        if (strcasecmp(h->key, "Host") == 0) {
            /* A copy: a reload swaps the spec under a running probe. */
            free(st->host_header);
            if (!(st->host_header = strdup(h->value))) {
                free(st->extra);
                free(st);
                return NULL;
            }
            continue;
        }
        off += (size_t)snprintf(st->extra + off, len - off, "%s: %s\r\n", h->key, h->value);
    }
    return st;
}

static void http_done(void *arg, const struct httpc_result *res)
{
    struct probe *p = arg;
    struct probe_http *st = p->state;
    const char *expect = p->spec->body_expect;

    st->req = NULL;
    if (res->status == 0) {
        probe_finish(p, false, "%s", res->error);
        return;
    }
    if (res->status < 200 || res->status >= 400) {
        probe_finish(p, false, "HTTP %d", res->status);
        return;
    }
    if (expect && expect[0] && !memmem(res->body, res->body_len, expect, strlen(expect))) {
        probe_finish(p, false, "HTTP %d, body does not contain \"%.64s\"", res->status, expect);
        return;
    }
    probe_finish(p, true, "HTTP %d in %.0f ms", res->status, res->elapsed_ms);
}

static int http_start(struct probe *p)
{
    const struct check_spec *spec = p->spec;
    struct probe_http *st = p->state;
    struct httpc_request r;

    if (!st) {
        st = http_state_new(spec);
        if (!st) {
            probe_finish(p, false, "out of memory");
            return -1;
        }
        p->state = st;
    }
    memset(&r, 0, sizeof(r));
    r.host = probe_host(p);
    r.port = spec->probe_port;
    r.method = "GET";
    r.target = spec->probe_uri && spec->probe_uri[0] ? spec->probe_uri : "/status";
    r.host_header = st->host_header;
    r.extra_headers = st->extra;
    r.timeout_ms = spec->timeout_ms + PROBE_HTTP_BACKSTOP_MS;
    r.max_body = PROBE_HTTP_MAX_BODY;
    r.tls = spec->probe == PROBE_HTTPS; /* the https probe is this one over TLS */
    st->req = httpc_start(p->loop, &r, http_done, p);
    if (!st->req) {
        probe_finish(p, false, "out of memory");
        return -1;
    }
    return 0;
}

static void http_cancel(struct probe *p)
{
    struct probe_http *st = p->state;

    if (st && st->req) {
        httpc_cancel(st->req);
        st->req = NULL;
    }
}

/* An answer that arrived while the loop was busy passes; the deadline
 * counts from the send (README "Probes under load"). */
static int http_poke(struct probe *p, ev_tstamp *sent)
{
    struct probe_http *st = p->state;
    struct httpc *req = st ? st->req : NULL;

    *sent = 0;
    if (!req)
        return 0;
    if (httpc_poke(req))
        return 1; /* http_done ran: p may be gone */
    *sent = httpc_sent_at(req);
    return 0;
}

static void http_free(struct probe *p)
{
    struct probe_http *st = p->state;

    if (!st)
        return;
    httpc_cancel(st->req);
    free(st->extra);
    free(st->host_header);
    free(st);
    p->state = NULL;
}

const struct probe_ops probe_http_ops = {
    .name = "http",
    .start = http_start,
    .cancel = http_cancel,
    .free = http_free,
    .poke = http_poke,
};
