/* hacheck's routes (sidecar/admin/hacheck.c) called directly over the admin fixture's view, with
 * live tcp checks against a real loopback listener on the fixture's loop: the cap on checks in
 * flight, the result cache and Pragma: no-cache, cancelling a check, the spool rule, URL
 * patterns. tests/e2e/main_hacheck.sh covers the routes end to end. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/http1.h"
#include "sidecar/admin/hacheck.h"
#include "tests/admin_fixture.h"

static int done_count;
static int done_status[64];

static void on_done(void *arg, struct hacheck_answer *a)
{
    (void)arg;
    done_status[done_count++ % 64] = a->status;
    free(a->body);
}

static bool all_done(void *arg)
{
    return done_count >= *(int *)arg;
}

/* A listening loopback socket: live tcp checks of its port connect. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 64), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Answers GET <target> with extra header lines; returns 0 (now) or 1 (live). */
static int ask(struct hacheck *h, struct afx *f, const char *kind, const char *rest,
               const char *headers, struct hacheck_answer *out, struct hacheck_live **live)
{
    static char buf[1024];
    struct http1_request req;
    snprintf(buf, sizeof(buf), "GET /x HTTP/1.1\r\nHost: x\r\n%s\r\n", headers ? headers : "");
    assert_true(http1_parse_request(buf, strlen(buf), 16384, 65536, &req) > 0);
    struct hacheck_request q = {kind, rest, strlen(rest), NULL, 0, &req, "127.0.0.1:9", false,
                                true, NULL, 0};
    return hacheck_route(h, &f->view, &q, out, on_done, NULL, live);
}

static void test_cap_cache_cancel(void **state)
{
    struct afx *f = afx_new(1, 2);
    struct hacheck *h = hacheck_new(f->loop);
    struct hacheck_answer a;
    struct hacheck_live *live[HACHECK_LIVE_MAX + 1];
    int port, lfd = listener(&port);
    char rest[64];
    done_count = 0;

    /* distinct ports (paths do not count for tcp): no cache between them */
    for (int i = 0; i < HACHECK_LIVE_MAX; i++) {
        snprintf(rest, sizeof(rest), "svc.x/%d", i == 0 ? port : 1 + i);
        assert_int_equal(ask(h, f, "tcp", rest, NULL, &a, &live[i]), 1);
    }
    /* one more than the cap: refused at once */
    assert_int_equal(ask(h, f, "tcp", "svc.y/2000", NULL, &a, &live[HACHECK_LIVE_MAX]), 0);
    assert_int_equal(a.status, 503);
    assert_non_null(strstr(a.body, "too many live checks"));
    free(a.body);
    /* a cancelled check never calls back */
    hacheck_cancel(live[1]);
    int want = HACHECK_LIVE_MAX - 1;
    assert_true(afx_run_until(f->loop, all_done, &want, 10));
    afx_spin(f->loop, 0.05);
    assert_int_equal(done_count, want);
    int ok = 0;
    for (int i = 0; i < want; i++)
        ok += done_status[i] == 200;
    assert_true(ok >= 1); /* the listening port (ports 2..16 are refused here) */

    /* the listening port's result is cached, whatever the service name */
    snprintf(rest, sizeof(rest), "svc.other/%d/any/path", port);
    assert_int_equal(ask(h, f, "tcp", rest, NULL, &a, &live[0]), 0);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "Connected in"));
    free(a.body);
    /* Pragma: no-cache checks again */
    assert_int_equal(ask(h, f, "tcp", rest, "Pragma: no-cache\r\n", &a, &live[0]), 1);
    want = done_count + 1;
    assert_true(afx_run_until(f->loop, all_done, &want, 10));

    /* one left in flight when the hacheck goes: cancelled, no callback */
    snprintf(rest, sizeof(rest), "svc.x/%d", port);
    assert_int_equal(ask(h, f, "tcp", rest, "Pragma: no-cache\r\n", &a, &live[0]), 1);
    int before = done_count;
    hacheck_free(h);
    afx_spin(f->loop, 0.05);
    assert_int_equal(done_count, before);
    close(lfd);
    afx_free(f);
}

static void test_spool_and_patterns(void **state)
{
    struct afx *f = afx_new(2, 2);
    struct hacheck *h = hacheck_new(f->loop);
    struct hacheck_answer a;
    struct hacheck_live *live;
    const struct {
        const char *kind, *rest;
        int status;
    } rows[] = {
        {"http", "svc.main/8888", 404},     /* http wants a slash after the port */
        {"http", "svc main/8888/x", 404},   /* service characters */
        {"http", "svc.main/88a/x", 404},    /* port digits */
        {"tcp", "svc.main/8888", 200},      /* probed (the fixture's tcp checks) */
        {"tcp", "svc.main/8888/", 200},     /* path optional */
        {"spool", "svc.main/8888", 200},    /* the spool alone */
        {"spool", "anything/1/x", 200},     /* any name: up unless drained */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(ask(h, f, rows[i].kind, rows[i].rest, NULL, &a, &live), 0);
        if (a.status != rows[i].status)
            fail_msg("%s %s: %d, want %d", rows[i].kind, rows[i].rest, a.status, rows[i].status);
        free(a.body);
    }
    /* drained: hacheck's check_spool text; the other registration is not */
    bool replaced;
    assert_int_equal(spool_down(&f->spool, "svc.main", "fix", 2e9, 1.5e9, NULL, &replaced), 0);
    assert_int_equal(ask(h, f, "tcp", "svc.main/8888", NULL, &a, &live), 0);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.body, "Service svc.main in down state since 1500000000.000000 until "
                                "2000000000.000000: fix");
    free(a.body);
    assert_int_equal(ask(h, f, "spool", "svc.canary/8889", NULL, &a, &live), 0);
    assert_int_equal(a.status, 200);
    free(a.body);
    /* `all` covers every name, and is the one reported */
    assert_int_equal(spool_down(&f->spool, "all", "", 0, 1.6e9, NULL, &replaced), 0);
    assert_int_equal(ask(h, f, "spool", "svc.main/1", NULL, &a, &live), 0);
    assert_string_equal(a.body, "Service svc.main in down state since 1600000000.000000");
    free(a.body);
    /* --hacheck-live off: an unprobed port is not checked */
    spool_clear(&f->spool);
    f->hacheck_live = false;
    assert_int_equal(ask(h, f, "tcp", "svc.main/1", NULL, &a, &live), 0);
    assert_int_equal(a.status, 503);
    assert_non_null(strstr(a.body, "live checks are off"));
    free(a.body);
    /* /recent and /status/count saw every asked name */
    hacheck_count(h, &a);
    assert_non_null(strstr(a.body, "\"anything\":{\"127.0.0.1\":1}"));
    free(a.body);
    hacheck_free(h);
    afx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_cache_cancel),
        cmocka_unit_test(test_spool_and_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
