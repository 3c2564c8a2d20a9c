/* The https probe (README "Probes"): the http probe over TLS. Same request, same
 * judgement (2xx/3xx pass, body_expect), the exchange being proto/httpc
 * with its TLS transport (proto/tls).
 *
 * OpenSSL is not linked: proto/tls dlopen()s libssl.so.3 the first time an
 * https probe attempts, so a sidecar without https probes never maps it
 * (nor pays its memory). That load runs on the loop, once per process: a
 * few milliseconds (4 ms measured) of reading local library files and
 * OpenSSL's initialisation, like start-up work. When it cannot be loaded,
 * every attempt fails with that reason as its detail, and loading is tried
 * again next time.
 *
 * The app's certificate is not verified: the probe talks to the local app
 * over loopback to learn whether it answers, not who it is (nerve and
 * HAProxy's `check-ssl verify none` do the same). */
#include "sidecar/probe/probe.h"

#include "proto/tls.h"

static int https_start(struct probe *p)
{
    char err[200];

    if (tls_load(err, sizeof(err)) < 0) {
        probe_finish(p, false, "https probe: %s", err);
        return -1;
    }
    /* probe_http sets the request's tls flag from spec->probe */
    return probe_http_ops.start(p);
}

static void https_cancel(struct probe *p)
{
    probe_http_ops.cancel(p);
}

static void https_free(struct probe *p)
{
    probe_http_ops.free(p);
}

static int https_poke(struct probe *p, ev_tstamp *sent)
{
    return probe_http_ops.poke(p, sent);
}

const struct probe_ops probe_https_ops = {
    .name = "https",
    .start = https_start,
    .cancel = https_cancel,
    .free = https_free,
    .poke = https_poke,
};
