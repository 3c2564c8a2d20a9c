/* The `etcd://H:P[,H:P...]/PREFIX` backend (etcd v3 through its JSON
 * gateway over HTTP/1.1; proto/etcd.c encodes, proto/httpc.c carries).
 *
 * One lease per process, granted with reg->ttl_seconds and kept alive every
 * TTL/3. Each up registration is the key PREFIX/<svc.ns>/<node> whose value
 * is the record JSON, attached to that lease, so that after SIGKILL the keys
 * vanish when the lease expires. Default PREFIX: /smartstack/global (the
 * same tree nerve uses in ZooKeeper).
 *
 * The "session" is the lease plus a working endpoint. We report CONNECTED
 * only while both are good; anything that casts doubt on either (a transport
 * failure, etcd answering "unavailable", a keepalive that finds the lease
 * gone, a put refused for an unknown lease) reports DISCONNECTED, which holds
 * the core's operations, and starts one session check: a keepalive (or a
 * grant when there is no lease) on the current endpoint, retried with capped
 * backoff, rotating to the next endpoint after each transport failure. A
 * lease found gone is re-granted and reg_resync() makes the core put every
 * wanted key again; since the key names are fixed, that never duplicates.
 *
 * Every request has a deadline; nothing here waits on etcd. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "proto/etcd.h"
#include "proto/httpc.h"
#include "proto/httpc_pool.h"
#include "proto/tls.h"
#include "sidecar/log.h"
#include "sidecar/backend/backoff.h"
#include "sidecar/backend/reg.h"

#define ETCD_DEFAULT_PREFIX "/smartstack/global"
#define ETCD_DEFAULT_PORT 2379
#define ETCD_MAX_ENDPOINTS 16
#define REQ_TIMEOUT_MS 2000
/* Deadline of the lease revoke at stop. */
#define REVOKE_TIMEOUT_MS 500
/* Session retry backoff, jittered (backoff.h): 25-50 ms for the first retry
 * (usually on the next endpoint, so a lost leader or member costs little),
 * doubling to a cap of 0.25-0.5 s. The cap is the tradeoff: once etcd
 * answers again a sidecar is back within half a second, but while etcd is
 * unreachable each sidecar tries about 2.7 times a second (a new connection
 * each): 500 sidecars make ~1,300 attempts/s, 50,000 would make ~130,000/s.
 * A fleet that large against one cluster wants a higher cap (it costs the
 * same in convergence time after the outage). The jitter keeps the attempts
 * spread over the window rather than in bursts. */
#define RETRY_MIN 0.025
#define RETRY_MAX 0.5
/* Retry after a refused password or a missing role: at least this long
 * plus the jittered backoff (the cluster answered; asking again at once
 * cannot help, a SIGHUP with new credentials retries at once). */
#define AUTH_RETRY_MIN 1.0
#define MAX_REPLY (256 * 1024)
/* Keep-alive (README "Backend credentials"): idle connections kept per
 * endpoint. The session's call (keepalive, grant, authenticate) and a
 * registration's put or delete may overlap; more at once (a resync of many
 * records) opens more, closed after. */
#define POOL_IDLE 2
/* Closed after this long idle: etcd itself never closes an idle client
 * connection, but proxies and load balancers in front of it commonly do
 * after 60 s, and a stale connection costs a retry. Keepalives (every
 * TTL/3) keep it busy for any TTL up to 120 s. */
#define POOL_IDLE_S 45.0

struct etcd_endpoint {
    char name[256]; /* as written in the URI: what etcds:// verifies the certificate against */
    char host[INET6_ADDRSTRLEN];
    int port;
};

enum call_kind { CALL_GRANT, CALL_KEEPALIVE, CALL_PUT, CALL_DEL, CALL_REVOKE, CALL_AUTH };

/* One request in flight. Entry calls hang off e->impl, so that forget() can
 * cancel them; session and revoke calls hang off struct reg_etcd. */
struct etcd_call {
    struct reg *r;
    struct reg_entry *e;
    struct httpc *h;
    enum call_kind kind;
    int ep;        /* endpoint index used */
    int64_t lease; /* lease the request was made with */
};

struct reg_etcd {
    struct etcd_endpoint ep[ETCD_MAX_ENDPOINTS];
    int n_ep, cur;
    char *prefix; /* no trailing slash; may be "" for the key space root */
    int64_t lease;
    int64_t ttl;
    bool ever_leased; /* a later grant means records were lost: resync */
    bool stopped;
    struct etcd_call *session; /* grant or keepalive in flight */
    struct etcd_call *revoke;
    ev_timer timer;         /* next keepalive, or next session retry */
    struct backoff backoff; /* of the session retries */
    /* README "Backend credentials": with --backend-user, every request
     * carries the token /v3/auth/authenticate gave; NULL = authenticate
     * first. auth_off: the cluster said auth is not enabled. */
    char *token;
    bool auth_off;
    bool started;
    bool tls;            /* etcds:// */
    struct tls_ctx *ctx; /* its verifying context, made at start and on SIGHUP */
    struct httpc_pool *pool; /* kept-alive connections; NULL: one per request */
};

static bool want_auth(const struct reg *r)
{
    const struct reg_etcd *x = r->impl;
    return r->auth_user && r->auth_password && !x->auth_off;
}

/* "Content-Type: ...\r\nAuthorization: TOKEN\r\n", malloc'd. */
static char *request_headers(const struct reg_etcd *x)
{
    char *h = NULL;
    if (asprintf(&h, "Content-Type: application/json\r\n%s%s%s", x->token ? "Authorization: " : "",
                 x->token ? x->token : "", x->token ? "\r\n" : "") < 0)
        return NULL;
    return h;
}

static const char *kind_name(enum call_kind k)
{
    switch (k) {
    case CALL_GRANT:
        return "lease grant";
    case CALL_KEEPALIVE:
        return "lease keepalive";
    case CALL_PUT:
        return "put";
    case CALL_DEL:
        return "delete";
    case CALL_REVOKE:
        return "lease revoke";
    case CALL_AUTH:
        return "authenticate";
    }
    return "?";
}

/* ---- URI ---- */

/* Parses one H:P into ep[0]. A name with several addresses (localhost:
 * ::1 and 127.0.0.1) adds one endpoint per address, up to room, so a server
 * listening on only one of them is found by the usual move to the next
 * endpoint. Returns how many were added, or -1. */
static int parse_endpoint(struct etcd_endpoint *ep, size_t room, const char *s, size_t len,
                          char *err, size_t errlen)
{
    char buf[300], host[256];
    const char *port = NULL;
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "empty or overlong endpoint");
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "endpoint \"%s\": bad [IPv6]:PORT", buf);
            return -1;
        }
        *close = '\0';
        snprintf(host, sizeof host, "%s", buf + 1);
        port = close[1] ? close + 2 : NULL;
    } else {
        char *colon = strrchr(buf, ':');
        if (colon && strchr(buf, ':') != colon) {
            snprintf(err, errlen, "endpoint \"%s\": write IPv6 addresses as [ADDR]:PORT", buf);
            return -1;
        }
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        snprintf(host, sizeof host, "%s", buf);
    }
    ep->port = ETCD_DEFAULT_PORT;
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (!*port || *end || p < 1 || p > 65535) {
            snprintf(err, errlen, "endpoint \"%s\": bad port", s);
            return -1;
        }
        ep->port = (int)p;
    }
    if (!host[0]) {
        snprintf(err, errlen, "endpoint \"%.*s\": empty host", (int)len, s);
        return -1;
    }
    snprintf(ep->name, sizeof ep->name, "%s", host);
    /* httpc wants a numeric address. Names are resolved once, here, at
     * start-up before the loop runs (like the ZooKeeper client does). */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0) {
        hints.ai_flags = AI_ADDRCONFIG;
        rc = getaddrinfo(host, NULL, &hints, &ai);
    }
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "endpoint \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    int n = 0;
    for (const struct addrinfo *a = ai; a && (size_t)n < room; a = a->ai_next) {
        char num[INET6_ADDRSTRLEN];
        const void *addr = a->ai_family == AF_INET6
                               ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                               : (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (!inet_ntop(a->ai_family, addr, num, sizeof num))
            continue;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = strcmp(ep[i].host, num) == 0;
        if (seen)
            continue;
        if (n > 0) {
            ep[n] = ep[0];
            ep[n].host[0] = '\0';
        }
        snprintf(ep[n].host, sizeof ep[n].host, "%s", num);
        n++;
    }
    freeaddrinfo(ai);
    if (n == 0) {
        snprintf(err, errlen, "endpoint \"%s\": no usable address", host);
        return -1;
    }
    return n;
}

static int etcd_init(struct reg *r, const char *uri, char *err, size_t errlen)
{
    char why[300];
    bool tls = strncmp(uri, "etcds:", 6) == 0;
    const char *p = uri + (tls ? strlen("etcds:") : strlen("etcd:"));
    if (strncmp(p, "//", 2) != 0) {
        snprintf(err, errlen, "backend \"%s\": use etcd[s]://H:P[,H:P...]/PREFIX", uri);
        return -1;
    }
    p += 2;
    struct reg_etcd *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *hosts_end = strchr(p, '/');
    if (!hosts_end)
        hosts_end = p + strlen(p);
    while (p < hosts_end) {
        const char *comma = memchr(p, ',', (size_t)(hosts_end - p));
        const char *end = comma ? comma : hosts_end;
        if (x->n_ep == ETCD_MAX_ENDPOINTS) {
            snprintf(err, errlen, "backend \"%s\": at most %d endpoints", uri, ETCD_MAX_ENDPOINTS);
            goto fail;
        }
        int added = parse_endpoint(&x->ep[x->n_ep], (size_t)(ETCD_MAX_ENDPOINTS - x->n_ep), p,
                                   (size_t)(end - p), why, sizeof why);
        if (added < 0) {
            snprintf(err, errlen, "backend \"%s\": %s", uri, why);
            goto fail;
        }
        x->n_ep += added;
        p = comma ? comma + 1 : end;
        if (comma && p == hosts_end) {
            snprintf(err, errlen, "backend \"%s\": empty endpoint after ','", uri);
            goto fail;
        }
    }
    if (x->n_ep == 0) {
        snprintf(err, errlen, "backend \"%s\": no endpoint (etcd://H:P/PREFIX)", uri);
        goto fail;
    }
    /* "/" or nothing: the default prefix. Trailing slashes are dropped so
     * that keys are PREFIX/<svc>/<node> with single slashes. */
    const char *prefix = *hosts_end ? hosts_end : "";
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    x->prefix = plen ? strndup(prefix, plen) : strdup(ETCD_DEFAULT_PREFIX);
    if (!x->prefix) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    backoff_init(&x->backoff, RETRY_MIN, RETRY_MAX);
    /* Where to start: a fleet shares one URI, and if every sidecar began
     * with its first endpoint, one member would hold every connection and
     * serve every request (BENCHMARKS.md "Fleet"). Pids differ between the
     * sidecars of a host and are spread across hosts. */
    x->cur = (int)((unsigned)getpid() % (unsigned)x->n_ep);
    x->tls = tls;
    r->impl = x;
    return 0;
fail:
    free(x);
    return -1;
}

/* ---- requests ---- */

static void call_cb(void *arg, const struct httpc_result *res);

/* Starts one request on the current endpoint. body is consumed. Returns NULL
 * on allocation failure. */
static struct etcd_call *call_start(struct reg *r, struct reg_entry *e, enum call_kind kind,
                                    const char *path, char *body, int timeout_ms)
{
    struct reg_etcd *x = r->impl;
    struct etcd_call *c = body ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        free(body);
        return NULL;
    }
    c->r = r;
    c->e = e;
    c->kind = kind;
    c->ep = x->cur;
    c->lease = x->lease;
    char *headers = request_headers(x);
    struct httpc_request req = {
        .host = x->ep[c->ep].host,
        .port = x->ep[c->ep].port,
        .method = "POST",
        .target = path,
        .extra_headers = headers,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = timeout_ms,
        .max_body = MAX_REPLY,
        .tls = x->tls,
        .tls_ctx = x->ctx,
        .tls_name = x->ep[c->ep].name,
        /* Every call here is safe to send twice (see httpc.h "pool"): a
         * keepalive, put, delete, revoke or authenticate repeated does what
         * the first did; a grant repeated leaves an unused lease that
         * expires after its TTL with nothing attached. */
        .pool = x->pool,
    };
    c->h = headers ? httpc_start(r->loop, &req, call_cb, c) : NULL;
    explicit_bzero(body, strlen(body)); /* an authenticate body holds the password */
    free(body);
    free(headers);
    if (!c->h) {
        free(c);
        return NULL;
    }
    return c;
}

static void session_schedule(struct reg *r, double delay)
{
    struct reg_etcd *x = r->impl;
    if (x->stopped)
        return;
    ev_timer_stop(r->loop, &x->timer);
    ev_timer_set(&x->timer, delay, 0);
    ev_timer_start(r->loop, &x->timer);
}

static double keepalive_every(const struct reg_etcd *x)
{
    double every = (double)x->ttl / 3.0;
    return every < 0.2 ? 0.2 : every;
}

/* The client certificate's expiry: a warning within 14 days, the metric. */
static void cert_expiry_note(struct reg *r, double expires)
{
    double days = expires > 0 ? (expires - ev_time()) / 86400.0 : 1e9;
    if (days < 14)
        log_warn(NULL, "etcd: the client certificate %s %s %.1f days", r->tls_cert,
                 days < 0 ? "expired" : "expires in", days < 0 ? -days : days);
    r->tls_cert_expires = expires;
}

/* etcds://: the verifying context from the CA/cert/key files (README
 * "Backend credentials"). A failure is "TLS failed", retried later. */
static int tls_setup(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    char why[400], detail[192];
    double expires = 0;
    x->ctx = tls_ctx_new(r->tls_cacert, r->tls_cert, r->tls_key, &expires, why, sizeof why);
    if (!x->ctx) {
        snprintf(detail, sizeof detail, "TLS failed: %s", why);
        if (strcmp(detail, r->conn_detail) != 0)
            log_error(NULL, "etcd: %s", detail);
        reg_set_conn(r, REG_DISCONNECTED, detail);
        session_schedule(r, 5.0);
        return -1;
    }
    cert_expiry_note(r, expires);
    return 0;
}

/* SIGHUP: the kept connections are closed (those in flight when their
 * request ends), and etcds:// makes a new context from the same files
 * (certificates rotated in place) for every connection from now on. Files
 * that no longer load keep the running context. */
static void etcd_reload(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    char why[400];
    double expires = 0;
    httpc_pool_flush(x->pool);
    if (!x->tls || !x->started || x->stopped)
        return;
    struct tls_ctx *n =
        tls_ctx_new(r->tls_cacert, r->tls_cert, r->tls_key, &expires, why, sizeof why);
    if (!n) {
        log_error(NULL, "etcd: reload: TLS failed: %s; the running TLS context stays", why);
        return;
    }
    tls_ctx_free(x->ctx);
    x->ctx = n;
    cert_expiry_note(r, expires);
    log_info(NULL, "etcd: TLS files read again; new connections use them");
}

static void session_step(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    if (x->stopped || x->session)
        return;
    if (x->tls && !x->ctx && tls_setup(r) != 0)
        return;
    if (want_auth(r) && !x->token) {
        x->session = call_start(r, NULL, CALL_AUTH, ETCD_PATH_AUTHENTICATE,
                                etcd_auth_body(r->auth_user, r->auth_password), REQ_TIMEOUT_MS);
    } else if (x->lease) {
        /* A keepalive that outlives a third of the TTL is as good as failed:
         * give up on it in time to try another endpoint before expiry. */
        int t = (int)(keepalive_every(x) * 1000);
        t = t < 300 ? 300 : t > REQ_TIMEOUT_MS ? REQ_TIMEOUT_MS : t;
        x->session = call_start(r, NULL, CALL_KEEPALIVE, ETCD_PATH_LEASE_KEEPALIVE,
                                etcd_lease_keepalive_body(x->lease), t);
    } else {
        x->session = call_start(r, NULL, CALL_GRANT, ETCD_PATH_LEASE_GRANT,
                                etcd_lease_grant_body(r->ttl_seconds > 0 ? r->ttl_seconds : 10),
                                REQ_TIMEOUT_MS);
    }
    if (!x->session)
        session_schedule(r, backoff_next(&x->backoff));
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    session_step(w->data);
}

/* Something went wrong with the session: hold the core's operations and
 * check the session again after the backoff. */
static void session_doubt(struct reg *r, const char *detail)
{
    struct reg_etcd *x = r->impl;
    if (x->stopped)
        return;
    if (r->conn != REG_DISCONNECTED || strcmp(r->conn_detail, detail) != 0)
        reg_set_conn(r, REG_DISCONNECTED, detail);
    if (!x->session) {
        /* The first retry is soon (usually on the next endpoint), but
         * never at once: a fleet that lost the same endpoint together must
         * not land on the next one together. */
        session_schedule(r, backoff_next(&x->backoff));
    }
}

/* A failure that says more than "cannot connect" (README "Backend
 * credentials"). */
static bool specific_failure(const char *detail)
{
    return strstr(detail, "TLS") || strstr(detail, "not authenticated") ||
           strstr(detail, "permission denied");
}

/* Transport-level failure on endpoint ep: move on to the next endpoint
 * (once per failure of the current one, not once per failed request). */
static void endpoint_failed(struct reg *r, int ep, const char *what, const char *why)
{
    struct reg_etcd *x = r->impl;
    char detail[192], prefix[80];
    snprintf(detail, sizeof detail, "%s:%d: %s: %s", x->ep[ep].host, x->ep[ep].port, what, why);
    /* Another endpoint's TLS or auth failure in this outage stays the one
     * shown over this one's refusal (a name with an IPv6 and an IPv4
     * address, where only one has a server): it is what needs fixing. */
    snprintf(prefix, sizeof prefix, "%s:%d:", x->ep[ep].host, x->ep[ep].port);
    if (r->conn == REG_DISCONNECTED && !specific_failure(detail) &&
        specific_failure(r->conn_detail) && strncmp(r->conn_detail, prefix, strlen(prefix)) != 0)
        snprintf(detail, sizeof detail, "%s", r->conn_detail);
    /* Connections to a failing endpoint are suspect, and after a switch
     * the old endpoint's are of no use. */
    httpc_pool_flush(x->pool);
    if (ep == x->cur && x->n_ep > 1) {
        x->cur = (x->cur + 1) % x->n_ep;
        /* Once per outage at warning level; the retries cycle quietly. */
        log_msg(r->conn == REG_CONNECTED ? LOG_WARN : LOG_DEBUG, NULL, "etcd %s; trying %s:%d",
                detail, x->ep[x->cur].host, x->ep[x->cur].port);
    }
    session_doubt(r, detail);
}

/* The lease is gone (expired, revoked, or a cluster that lost its data):
 * every key we had went with it. Grant a new one at once. */
static void lease_lost(struct reg *r, int64_t lease, const char *why)
{
    struct reg_etcd *x = r->impl;
    if (x->stopped || lease != x->lease || !x->lease)
        return; /* already handled for this lease */
    log_warn(NULL, "etcd lease %llx gone (%s): granting a new one and re-registering",
             (unsigned long long)x->lease, why);
    x->lease = 0;
    reg_set_conn(r, REG_DISCONNECTED, "lease lost, granting a new one");
    if (!x->session) {
        ev_timer_stop(r->loop, &x->timer);
        session_step(r);
    }
}

static void session_done(struct reg *r, struct etcd_call *c, const struct etcd_resp *resp)
{
    struct reg_etcd *x = r->impl;
    char detail[192];
    if (c->kind == CALL_GRANT) {
        if (resp->id == 0 || resp->ttl <= 0) {
            session_doubt(r, "lease grant answered without an ID or TTL");
            return;
        }
        x->lease = resp->id;
        x->ttl = resp->ttl;
        backoff_reset(&x->backoff);
        snprintf(detail, sizeof detail, "%s:%d lease %llx ttl %llds", x->ep[c->ep].host,
                 x->ep[c->ep].port, (unsigned long long)x->lease, (long long)x->ttl);
        log_info(NULL, "etcd lease %llx granted by %s:%d, TTL %lld s", (unsigned long long)x->lease,
                 x->ep[c->ep].host, x->ep[c->ep].port, (long long)x->ttl);
        /* Mark records for re-creation before reconnecting, so that the
         * flush reg_set_conn() triggers puts them with the new lease. */
        if (x->ever_leased)
            reg_resync(r);
        x->ever_leased = true;
        if (c->ep != x->cur) {
            /* Meanwhile another request failed over: check the endpoint the
             * core's operations will use before reporting connected. */
            session_schedule(r, 0);
            return;
        }
        reg_set_conn(r, REG_CONNECTED, detail);
        session_schedule(r, keepalive_every(x));
        return;
    }
    /* keepalive */
    if (c->lease != x->lease) {
        /* The lease changed while this was in flight (a put found it gone):
         * carry on with the new state, i.e. grant. */
        session_step(r);
        return;
    }
    if (!etcd_resp_keepalive_alive(resp)) {
        lease_lost(r, c->lease, "keepalive found no TTL");
        return;
    }
    if (c->ep != x->cur) {
        /* Good news about an endpoint we have since left: check the new one. */
        session_schedule(r, 0);
        return;
    }
    backoff_reset(&x->backoff);
    if (r->conn != REG_CONNECTED) {
        snprintf(detail, sizeof detail, "%s:%d lease %llx ttl %llds", x->ep[c->ep].host,
                 x->ep[c->ep].port, (unsigned long long)x->lease, (long long)x->ttl);
        reg_set_conn(r, REG_CONNECTED, detail);
    }
    session_schedule(r, keepalive_every(x));
}

/* Errors that say "this endpoint cannot serve us now" rather than "this
 * request is wrong": worth another endpoint. */
static bool unavailable(int status, const struct etcd_resp *resp)
{
    return status == 502 || status == 503 || status == 504 || resp->code == ETCD_UNAVAILABLE ||
           resp->code == ETCD_DEADLINE_EXCEEDED;
}

/* The token arrived: the session goes on (grant or keepalive). */
static void auth_done(struct reg *r, struct etcd_call *c, char *token)
{
    struct reg_etcd *x = r->impl;
    free(x->token);
    x->token = token;
    if (!token) {
        session_doubt(r, "authenticate answered without a token");
        return;
    }
    log_info(NULL, "etcd: authenticated as %s on %s:%d", r->auth_user, x->ep[c->ep].host,
             x->ep[c->ep].port);
    session_step(r);
}

/* An auth error: named as such (never "cannot connect"); the records stay
 * pending. A stale token is fetched again at once; a refused password or a
 * missing role waits for the backoff (or a SIGHUP with new credentials). */
static void auth_failed(struct reg *r, struct etcd_call *c, enum etcd_auth_error ae,
                        const char *why, char *detail, size_t dlen)
{
    struct reg_etcd *x = r->impl;
    snprintf(detail, dlen, "%s", why);
    const char *user = r->auth_user ? r->auth_user : "(none)";
    switch (ae) {
    case ETCD_AUTH_TOKEN:
        log_info(NULL, "etcd: token refused (%s): authenticating again", why);
        free(x->token);
        x->token = NULL;
        if (!x->session)
            session_step(r);
        return;
    case ETCD_AUTH_NOT_ENABLED:
        log_warn(NULL, "etcd: authentication is not enabled on the cluster: going on without "
                       "a token");
        x->auth_off = true;
        if (!x->session)
            session_step(r);
        return;
    case ETCD_AUTH_DENIED:
        snprintf(detail, dlen, "permission denied: etcd user %s may not %s (%s)", user,
                 kind_name(c->kind), why);
        break;
    case ETCD_AUTH_BAD_PASSWORD:
        snprintf(detail, dlen,
                 "not authenticated: etcd refused user %s (wrong password or no such user: %s)",
                 user, why);
        break;
    default:
        snprintf(detail, dlen,
                 "not authenticated: the cluster requires a user (--backend-user): %s", why);
        break;
    }
    if (strcmp(detail, r->last_error) != 0)
        log_error(NULL, "etcd %s:%d: %s", x->ep[c->ep].host, x->ep[c->ep].port, detail);
    snprintf(r->last_error, sizeof r->last_error, "%s", detail);
    if (c->kind == CALL_PUT || c->kind == CALL_DEL)
        return; /* the session is fine; the core retries this record */
    if (r->conn != REG_DISCONNECTED || strcmp(r->conn_detail, detail) != 0)
        reg_set_conn(r, REG_DISCONNECTED, detail);
    if (!x->session) {
        session_schedule(r, AUTH_RETRY_MIN + backoff_next(&x->backoff));
    }
}

static void call_cb(void *arg, const struct httpc_result *res)
{
    struct etcd_call *c = arg;
    struct reg *r = c->r;
    struct reg_etcd *x = r->impl;
    struct reg_entry *e = c->e;
    struct etcd_resp resp;
    char why[256] = "";
    bool parsed = false;

    /* Detach first: the completion may issue new calls on the same slot. */
    if (e)
        e->impl = NULL;
    else if (c == x->session)
        x->session = NULL;
    else if (c == x->revoke)
        x->revoke = NULL;

    if (res->status == 0) {
        snprintf(why, sizeof why, "%s", res->error ? res->error : "no reply");
    } else if (etcd_resp_parse(&resp, res->status, res->body, res->body_len, why, sizeof why) ==
               0) {
        parsed = true;
        if (resp.code != ETCD_OK)
            snprintf(why, sizeof why, "%s", resp.message);
    }
    bool ok = parsed && resp.code == ETCD_OK;

    enum etcd_auth_error ae = parsed && !ok ? etcd_resp_auth_error(&resp) : ETCD_AUTH_NONE;
    if (c->kind == CALL_AUTH && ok) {
        auth_done(r, c, resp.token);
        resp.token = NULL;
    } else if (ae != ETCD_AUTH_NONE && c->kind != CALL_REVOKE) {
        char msg[192];
        auth_failed(r, c, ae, why, msg, sizeof msg);
        if (e)
            reg_op_done(r, e, false, msg);
    } else if (c->kind == CALL_REVOKE) {
        if (!ok && !(parsed && etcd_resp_lease_not_found(&resp)))
            log_warn(NULL, "etcd lease revoke failed: %s (the lease expires by itself)", why);
    } else if (!ok && (!parsed || unavailable(res->status, &resp))) {
        /* No usable answer (transport failure, etcd unavailable, or not
         * etcd at all): this endpoint cannot serve us, try the next. */
        endpoint_failed(r, c->ep, kind_name(c->kind), why);
        if (e)
            reg_op_done(r, e, false, why);
    } else if (c->kind == CALL_GRANT || c->kind == CALL_KEEPALIVE || c->kind == CALL_AUTH) {
        if (ok)
            session_done(r, c, &resp);
        else if (parsed && etcd_resp_lease_not_found(&resp))
            lease_lost(r, c->lease, why);
        else {
            char detail[192];
            snprintf(detail, sizeof detail, "%s:%d: %s: %s", x->ep[c->ep].host, x->ep[c->ep].port,
                     kind_name(c->kind), why);
            session_doubt(r, detail);
        }
    } else {
        /* put / delete */
        if (!ok && parsed && etcd_resp_lease_not_found(&resp))
            lease_lost(r, c->lease, why);
        reg_op_done(r, e, ok, ok ? NULL : why);
    }
    if (parsed)
        etcd_resp_clear(&resp);
    bool stop_finished = c->kind == CALL_REVOKE;
    free(c);
    if (stop_finished) {
        httpc_pool_flush(x->pool);
        reg_stop_done(r);
    }
}

/* ---- ops ---- */

static int etcd_start(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    ev_timer_init(&x->timer, timer_cb, 0, 0);
    x->timer.data = r;
    x->started = true;
    x->pool = httpc_pool_new(r->loop, POOL_IDLE, POOL_IDLE_S);
    if (x->tls && tls_setup(r) != 0)
        return 0; /* reported; retried by the session timer */
    char detail[192];
    snprintf(detail, sizeof detail, "granting a lease from %s:%d", x->ep[x->cur].host,
             x->ep[x->cur].port);
    reg_set_conn(r, REG_CONNECTING, detail);
    session_step(r);
    return 0;
}

static char *entry_key(const struct reg_etcd *x, const struct reg_entry *e)
{
    size_t n = strlen(x->prefix) + strlen(e->svc) + strlen(e->node) + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s/%s/%s", x->prefix, e->svc, e->node);
    return k;
}

static void entry_call(struct reg *r, struct reg_entry *e, bool put)
{
    struct reg_etcd *x = r->impl;
    char *key = entry_key(x, e);
    char *body = NULL;
    if (key)
        body = put ? etcd_put_body(key, e->data, strlen(e->data), x->lease)
                   : etcd_delete_body(key, false);
    free(key);
    struct etcd_call *c = call_start(r, e, put ? CALL_PUT : CALL_DEL,
                                     put ? ETCD_PATH_PUT : ETCD_PATH_DELETE, body, REQ_TIMEOUT_MS);
    if (!c) {
        reg_op_done(r, e, false, "out of memory");
        return;
    }
    e->impl = c;
}

static void etcd_put(struct reg *r, struct reg_entry *e)
{
    struct reg_etcd *x = r->impl;
    if (!x->lease) {
        /* The core only puts while connected, which implies a lease; a put
         * without one would outlive us, so never send it. */
        reg_op_done(r, e, false, "no lease");
        return;
    }
    entry_call(r, e, true);
}

static void etcd_del(struct reg *r, struct reg_entry *e)
{
    entry_call(r, e, false);
}

static void etcd_forget(struct reg *r, struct reg_entry *e)
{
    struct etcd_call *c = e->impl;
    if (!c)
        return;
    httpc_cancel(c->h);
    free(c);
    e->impl = NULL;
}

/* Revokes the lease so that anything still attached goes at once instead of
 * after the TTL: one request on the running loop (the drain's last phase,
 * README "Drain sequence"), bounded by REVOKE_TIMEOUT_MS; its completion
 * reports the stop done. Called after the loop ended (an error exit before
 * it ran), the request is cancelled by free(); no lease exists then. */
static void etcd_stop(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    if (x->stopped)
        return;
    x->stopped = true;
    ev_timer_stop(r->loop, &x->timer);
    if (x->session) {
        httpc_cancel(x->session->h);
        free(x->session);
        x->session = NULL;
    }
    int64_t lease = x->lease;
    x->lease = 0;
    reg_set_conn(r, REG_DISCONNECTED, "stopped");
    if (lease)
        x->revoke = call_start(r, NULL, CALL_REVOKE, ETCD_PATH_LEASE_REVOKE,
                               etcd_lease_revoke_body(lease), REVOKE_TIMEOUT_MS);
    if (!x->revoke) {
        httpc_pool_flush(x->pool);
        reg_stop_done(r);
    }
}

static void etcd_free(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    if (!x)
        return;
    ev_timer_stop(r->loop, &x->timer);
    struct etcd_call *calls[2] = {x->session, x->revoke};
    for (int i = 0; i < 2; i++) {
        if (calls[i]) {
            httpc_cancel(calls[i]->h);
            free(calls[i]);
        }
    }
    httpc_pool_free(x->pool);
    free(x->prefix);
    free(x->token);
    tls_ctx_free(x->ctx);
    free(x);
    r->impl = NULL;
}

/* SIGHUP changed the credentials: authenticate again with them. */
static void etcd_reauth(struct reg *r)
{
    struct reg_etcd *x = r->impl;
    free(x->token);
    x->token = NULL;
    x->auth_off = false;
    httpc_pool_flush(x->pool);
    if (x->started && !x->stopped && !x->session) {
        ev_timer_stop(r->loop, &x->timer);
        session_step(r);
    }
}

const struct reg_ops reg_etcd_ops = {
    .name = "etcd",
    .init = etcd_init,
    .start = etcd_start,
    .put = etcd_put,
    .del = etcd_del,
    .forget = etcd_forget,
    .stop = etcd_stop,
    .free = etcd_free,
    .reauth = etcd_reauth,
    .reload = etcd_reload,
};
