/* httpc_fetch: proto/httpc on a private loop until its callback ran (its
 * own deadline guarantees that it does). */
#include "proto/httpc_fetch.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* httpc_fetch's callback: keeps what the handle is about to free. */
static void fetch_done(void *arg, const struct httpc_result *res)
{
    struct httpc_answer *a = arg;
    a->res = *res;
    a->done = true;
    if (res->status != 0) {
        a->body = malloc(res->body_len + 1);
        if (a->body) {
            memcpy(a->body, res->body, res->body_len);
            a->body[res->body_len] = '\0';
            a->res.body = a->body;
            return;
        }
        a->res.status = 0;
        a->res.error_kind = HTTPC_ERR_NOMEM;
        snprintf(a->errbuf, sizeof(a->errbuf), "out of memory");
    } else {
        snprintf(a->errbuf, sizeof(a->errbuf), "%s", res->error ? res->error : "failed");
    }
    a->res.error = a->errbuf;
    a->res.body = "";
    a->res.body_len = 0;
}

int httpc_fetch(const struct httpc_request *req, struct httpc_answer *out)
{
    memset(out, 0, sizeof(*out));
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop)
        return -1;
    if (!httpc_start(loop, req, fetch_done, out)) {
        ev_loop_destroy(loop);
        return -1;
    }
    /* The request's own deadline ends it: the callback always runs. */
    while (!out->done)
        ev_run(loop, EVRUN_ONCE);
    ev_loop_destroy(loop);
    return 0;
}

void httpc_fetch_free(struct httpc_answer *a)
{
    free(a->body);
    a->body = NULL;
}
