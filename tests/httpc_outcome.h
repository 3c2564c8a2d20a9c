/* Running one httpc request in a cmocka test and keeping what its callback
 * said (struct outcome), for test_httpc.c and test_httpc_tls.c. The
 * callback copies the body out with its own allocations back on, and
 * checks the result's invariants. Header-only. Include after <cmocka.h>,
 * <ev.h>, proto/httpc.h, tests/failalloc.h and tests/test_loop_util.h. */
#ifndef MESHREG_HTTPC_OUTCOME_H
#define MESHREG_HTTPC_OUTCOME_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct outcome {
    int calls;
    unsigned failed_allocs; /* failalloc_failed() when the callback ran */
    int status;
    char error[200];
    char *body;
    size_t body_len;
    double elapsed_ms;
    enum httpc_error kind;
    int sys_errno;
    enum httpc_stage stage;
    double wall_ms; /* measured by the test */
    ev_tstamp t0;
    struct ev_loop *loop;
};

static inline void on_result(void *arg, const struct httpc_result *res)
{
    struct outcome *o = arg;

    o->failed_allocs = failalloc_failed();
    failalloc_off(); /* the copies below must not fail */
    o->calls++;
    o->status = res->status;
    snprintf(o->error, sizeof(o->error), "%s", res->error ? res->error : "");
    assert_true(res->status == 0 ? res->error != NULL : res->error == NULL);
    assert_non_null(res->body);
    assert_int_equal(res->body[res->body_len], '\0');
    o->body = malloc(res->body_len + 1);
    memcpy(o->body, res->body, res->body_len + 1);
    o->body_len = res->body_len;
    o->elapsed_ms = res->elapsed_ms;
    o->kind = res->error_kind;
    o->sys_errno = res->sys_errno;
    o->stage = res->stage;
    assert_true((res->status == 0) == (res->error_kind != HTTPC_ERR_NONE));
    o->wall_ms = (ev_time() - o->t0) * 1000.0;
    if (o->loop)
        ev_break(o->loop, EVBREAK_ALL);
}

static inline struct httpc_request basic_req(int port)
{
    struct httpc_request r = {
        .host = "127.0.0.1",
        .port = port,
        .method = "GET",
        .target = "/status",
        .timeout_ms = 20000, /* never reached unless a case says so */
        .max_body = 65536,
    };
    return r;
}

static inline void do_request(struct ev_loop *loop, const struct httpc_request *req,
                              struct outcome *o)
{
    struct httpc *c;

    memset(o, 0, sizeof(*o));
    o->loop = loop;
    ev_now_update(loop);
    o->t0 = ev_time();
    c = httpc_start(loop, req, on_result, o);
    assert_non_null(c);
    assert_int_equal(o->calls, 0); /* never synchronous */
    run_until_done(loop, 30.0);
    assert_int_equal(o->calls, 1);
}

#endif
