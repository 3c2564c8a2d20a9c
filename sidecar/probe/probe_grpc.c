/* The grpc probe (README "Probes"): grpc.health.v1.Health/Check over h2c (HTTP/2 with
 * prior knowledge, cleartext) on the app's health port, for the service
 * named by spec->probe_uri ("" asks about the whole server). Only a
 * completed call with grpc-status 0 and status SERVING passes; a gRPC
 * error (NOT_FOUND for an unknown service, UNIMPLEMENTED for a server
 * without the health service), NOT_SERVING, a broken or garbage answer,
 * RST_STREAM, GOAWAY or a hang (the probe's deadline) fail. The transport
 * is proto/h2c_client, the messages proto/grpc_health. */
#include "sidecar/probe/probe.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/grpc_health.h"
#include "proto/h2c_client.h"

/* A health answer is a few bytes; more is not one. */
#define PROBE_GRPC_MAX_BODY 4096
/* h2c_client's own deadline is only a backstop behind the probe's. */
#define PROBE_GRPC_BACKSTOP_MS 1000
/* Fixed request fields, then the extra headers. */
#define PROBE_GRPC_FIXED_HEADERS 4

struct probe_grpc {
    struct h2c_client *req; /* in flight, or NULL */
    unsigned char *msg;     /* the framed HealthCheckRequest */
    size_t msg_len;
    struct h2c_header *headers; /* fixed + extra, built once */
    size_t nheaders;
    /* Copies of the extra headers' names (lower-cased) and values, and of
     * a Host given among them: on a reload that keeps this probe, its spec
     * is swapped for an equal one and the old one freed, so nothing here
     * may point into the spec. */
    char **owned;
    size_t nowned;
    char *authority;
    char timeout[24]; /* grpc-timeout value */
};

/* Extra headers (extra_healthcheck_headers) go along as gRPC metadata,
 * lower-cased as HTTP/2 requires. Names that would break the call are
 * dropped: HTTP/1 connection headers (forbidden in HTTP/2), those the
 * probe sets itself, gRPC's reserved grpc-*, and anything not a token.
 * Host becomes :authority, as the http probe lets it replace Host. */
static bool metadata_ok(const char *name, const char *value)
{
    static const char *const reserved[] = {"connection",        "keep-alive", "proxy-connection",
                                           "transfer-encoding", "upgrade",    "te",
                                           "content-type",      "user-agent", "content-length"};

    if (!name || !name[0] || !value || strpbrk(value, "\r\n") || strncasecmp(name, "grpc-", 5) == 0)
        return false;
    for (const char *s = name; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return false;
    return true;
}

static void grpc_state_free(struct probe_grpc *st)
{
    if (!st)
        return;
    h2c_client_cancel(st->req);
    for (size_t i = 0; i < st->nowned; i++)
        free(st->owned[i]);
    free(st->owned);
    free(st->authority);
    free(st->headers);
    free(st->msg);
    free(st);
}

static struct probe_grpc *grpc_state_new(const struct check_spec *spec)
{
    struct probe_grpc *st = calloc(1, sizeof(*st));
    const char *service = spec->probe_uri ? spec->probe_uri : "";

    if (!st)
        return NULL;
    st->msg_len = grpc_health_request_len(service);
    st->msg = malloc(st->msg_len);
    st->headers = calloc(PROBE_GRPC_FIXED_HEADERS + spec->nheaders, sizeof(*st->headers));
    st->owned = calloc(2 * spec->nheaders + 1, sizeof(*st->owned));
    if (!st->msg || !st->headers || !st->owned ||
        grpc_health_encode_request(service, st->msg, st->msg_len) != st->msg_len)
        goto fail;
    /* grpc-timeout lets the server give up when we do ("m" = ms). */
    snprintf(st->timeout, sizeof(st->timeout), "%dm", spec->timeout_ms);
    st->headers[0] = (struct h2c_header){"content-type", "application/grpc"};
    st->headers[1] = (struct h2c_header){"te", "trailers"};
    st->headers[2] = (struct h2c_header){"user-agent", "meshreg-probe"};
    st->headers[3] = (struct h2c_header){"grpc-timeout", st->timeout};
    st->nheaders = PROBE_GRPC_FIXED_HEADERS;
    for (size_t i = 0; i < spec->nheaders; i++) {
        const struct kv *h = &spec->headers[i];
        char *name, *value;

        if (!metadata_ok(h->key, h->value))
            continue;
        if (strcasecmp(h->key, "host") == 0) {
            free(st->authority);
            st->authority = strdup(h->value);
            if (!st->authority)
                goto fail;
            continue;
        }
        name = st->owned[st->nowned++] = strdup(h->key);
        value = st->owned[st->nowned++] = strdup(h->value);
        if (!name || !value)
            goto fail;
        for (char *s = name; *s; s++)
            *s = (char)tolower((unsigned char)*s);
        st->headers[st->nheaders++] = (struct h2c_header){name, value};
    }
    return st;
fail:
    grpc_state_free(st);
    return NULL;
}

static void grpc_done(void *arg, const struct h2c_client_result *res)
{
    struct probe *p = arg;
    struct probe_grpc *st = p->state;
    const char *gs, *gm, *name;
    char msg[128], err[96];
    int code, status;

    st->req = NULL;
    if (res->error) {
        probe_finish(p, false, "%s", res->error);
        return;
    }
    if (res->status != 200) {
        probe_finish(p, false, "HTTP/2 status %d, not a gRPC answer", res->status);
        return;
    }
    gs = h2c_client_result_header(res, "grpc-status");
    if (!gs) {
        probe_finish(p, false, "no grpc-status in the answer");
        return;
    }
    if (!gs[0] || strlen(gs) > 3 || strspn(gs, "0123456789") != strlen(gs)) {
        probe_finish(p, false, "bad grpc-status \"%.16s\"", gs);
        return;
    }
    code = atoi(gs);
    if (code != 0) {
        gm = h2c_client_result_header(res, "grpc-message");
        grpc_message_decode(gm, msg, sizeof(msg));
        name = grpc_status_code_name(code);
        probe_finish(p, false, "grpc-status %d%s%s%s%s%s", code, name ? " (" : "", name ? name : "",
                     name ? ")" : "", msg[0] ? ": " : "", msg);
        return;
    }
    if (res->body_truncated) {
        probe_finish(p, false, "grpc: answer larger than %d bytes", PROBE_GRPC_MAX_BODY);
        return;
    }
    if (grpc_health_decode_response(res->body, res->body_len, &status, err, sizeof(err)) < 0) {
        probe_finish(p, false, "grpc: bad HealthCheckResponse: %s", err);
        return;
    }
    name = grpc_health_status_name(status);
    if (status != GRPC_HEALTH_SERVING) {
        if (name)
            probe_finish(p, false, "grpc %s", name);
        else
            probe_finish(p, false, "grpc status %d", status);
        return;
    }
    probe_finish(p, true, "grpc SERVING in %.0f ms", res->elapsed_ms);
}

static int grpc_start(struct probe *p)
{
    const struct check_spec *spec = p->spec;
    struct probe_grpc *st = p->state;
    struct h2c_client_request r;

    if (!st) {
        st = grpc_state_new(spec);
        if (!st) {
            probe_finish(p, false, "out of memory");
            return -1;
        }
        p->state = st;
    }
    memset(&r, 0, sizeof(r));
    r.host = probe_host(p);
    r.port = spec->probe_port;
    r.method = "POST";
    r.path = GRPC_HEALTH_PATH;
    r.authority = st->authority;
    r.headers = st->headers;
    r.nheaders = st->nheaders;
    r.body = st->msg;
    r.body_len = st->msg_len;
    r.timeout_ms = spec->timeout_ms + PROBE_GRPC_BACKSTOP_MS;
    r.max_body = PROBE_GRPC_MAX_BODY;
    st->req = h2c_client_start(p->loop, &r, grpc_done, p);
    if (!st->req) {
        probe_finish(p, false, "out of memory");
        return -1;
    }
    return 0;
}

static void grpc_cancel(struct probe *p)
{
    struct probe_grpc *st = p->state;

    if (st && st->req) {
        h2c_client_cancel(st->req);
        st->req = NULL;
    }
}

/* An answer that arrived while the loop was busy passes; the deadline
 * counts from the send (README "Probes under load"). */
static int grpc_poke(struct probe *p, ev_tstamp *sent)
{
    struct probe_grpc *st = p->state;
    struct h2c_client *req = st ? st->req : NULL;

    *sent = 0;
    if (!req)
        return 0;
    if (h2c_client_poke(req))
        return 1; /* grpc_done ran: p may be gone */
    *sent = h2c_client_sent_at(req);
    return 0;
}

static void grpc_free(struct probe *p)
{
    grpc_state_free(p->state);
    p->state = NULL;
}

const struct probe_ops probe_grpc_ops = {
    .name = "grpc",
    .start = grpc_start,
    .cancel = grpc_cancel,
    .free = grpc_free,
    .poke = grpc_poke,
};
