/* struct reg with the zk backend against a REAL ZooKeeper (scripts/zk-start),
 * checked with an independent client (tests/zkwatch.py, kazoo) rather than
 * with our own. Ports: a free block of 50 (tests/test_ports.h): a single
 * server at its base, a server that starts late at +20, a 3-member ensemble
 * at +40..+48; MESHREG_TEST_ZK_BASE sets the base. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "sidecar/backend/reg.h"
#include "tests/test_zk_util.h"

static char dir_late[64], dir_ens[64];
static int base_late, base_ens;

/* ---- tests ---- */

static void test_uri(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    const char *bad[] = {
        "zk:127.0.0.1:2181", "zk://",
        "zk:///root",        "zk://127.0.0.1",
        "zk://127.0.0.1:0",  "zk://127.0.0.1:65536",
        "zk://h:1,h/x",      "zk://h:1/a//b",
        "zk://h:1/a/../b",   "zk://h:1/a/./b",
        "zk://h:1:x/a",      "zk://h:123456/a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        struct reg *r = reg_new(loop, bad[i], 10, err, sizeof err);
        if (r)
            fail_msg("%s accepted", bad[i]);
        assert_non_null(strstr(err, "zk://HOST:PORT"));
    }
    const char *good[] = {"zk://127.0.0.1:2181", "zk://a:1,b:2,c:3/x/y/", "zk://[::1]:2181/r"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[256] = "";
        struct reg *r = reg_new(loop, good[i], 10, err, sizeof err);
        if (!r)
            fail_msg("%s rejected: %s", good[i], err);
        reg_free(r);
    }
    ev_loop_destroy(loop);
}

/* Default root; exact data; ephemeral and owned by our session; an update is
 * a setData on the same node; a delete removes it, and is measured. */
static void test_register_update_delete(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32];
    snprintf(uri, sizeof uri, "zk://%s", hosts_single);
    struct reg *r = connected_reg(loop, uri, 10);
    assert_non_null(strstr(r->conn_detail, "timeout 10000 ms"));
    our_session(r, sess, sizeof sess);

    const char *path = "/smartstack/global/svc.main/h1_";
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z;
    zk_get(loop, hosts_single, path, &z);
    assert_true(z.exists);
    assert_string_equal(z.data, REC(8888));
    assert_string_equal(z.owner, sess);
    assert_int_equal(zk_children(loop, hosts_single, "/smartstack/global/svc.main"), 1);

    register_one(loop, r, "svc.main", "h1_8888", REC(9999));
    struct znode z2;
    zk_get(loop, hosts_single, path, &z2);
    assert_string_equal(z2.data, REC(9999));
    assert_int_equal(z2.czxid, z.czxid); /* the same node, not a new one */
    assert_int_equal(z2.version, z.version + 1);

    double t0 = mono();
    reg_set(r, "svc.main", "h1_8888", NULL);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    double ms = (mono() - t0) * 1000;
    print_message("# zk delete confirmed in %.2f ms\n", ms);
    assert_true(ms < 200);
    zk_get(loop, hosts_single, path, &z);
    assert_false(z.exists);
    assert_int_equal(zk_children(loop, hosts_single, "/smartstack/global/svc.main"), 0);
    assert_int_equal(r->ops_failed, 0);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* A delete of an absent node is a success (reg_clear at start-up). */
static void test_delete_absent(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/absent", hosts_single);
    struct reg *r = connected_reg(loop, uri, 10);
    reg_clear(r, "svc.main", "h1_1");
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    assert_int_equal(r->ops_failed, 0);
    assert_false(reg_present(r, "svc.main", "h1_1"));
    reg_free(r);
    ev_loop_destroy(loop);
}

/* reg_stop closes the session: whatever is still registered vanishes at once. */
static void test_stop_closes_session(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/stop", hosts_single);
    struct reg *r = connected_reg(loop, uri, 30);
    register_one(loop, r, "svc.main", "h1_1", REC(1));
    register_one(loop, r, "svc.canary", "h1_2", REC(2));
    double t0 = mono();
    reg_stop(r);
    double ms = (mono() - t0) * 1000;
    print_message("# zk session close took %.2f ms\n", ms);
    assert_true(ms < 500);
    assert_true(reg_stopped(r)); /* the close is done when stop returns */
    assert_false(reg_local_readers(r));
    struct znode z;
    zk_get(loop, hosts_single, "/meshreg-test/stop/svc.main/h1_", &z);
    assert_false(z.exists);
    zk_get(loop, hosts_single, "/meshreg-test/stop/svc.canary/h1_", &z);
    assert_false(z.exists);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* Freeing with operations in flight: their completions must not touch
 * freed entries (run under ASan in `make test`), and no node outlives its
 * session. It goes at once when the close request gets through; but
 * libzookeeper's close waits for any reply, not the close's, so with
 * replies in flight it may close the socket (a reset, as replies are left
 * unread) before the server read the close: then the node goes when the
 * session times out. Seen often on a loaded machine under ASan. */
static void test_free_with_inflight(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    enum { TTL = 4 };
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/inflight", hosts_single);
    for (int i = 0; i < 3; i++) {
        struct reg *r = connected_reg(loop, uri, TTL);
        char node[32];
        for (int j = 0; j < 20; j++) {
            snprintf(node, sizeof node, "h%d_%d", i, j);
            reg_set(r, "svc.main", node, REC(1));
        }
        if (i == 1)
            ev_run(loop, EVRUN_NOWAIT); /* some replies in, some not */
        if (i == 2) {
            reg_set(r, "svc.main", "h2_0", NULL); /* a delete queued behind its put */
            reg_set(r, "svc.main", "h2_1", REC(2));
        }
        reg_free(r);
    }
    const char *dir = "/meshreg-test/inflight/svc.main";
    double t0 = mono();
    int n0 = zk_children(loop, hosts_single, dir), n = n0;
    while (n > 0 && mono() - t0 < 3 * TTL)
        n = zk_children(loop, hosts_single, dir);
    if (n0 > 0)
        print_message("# %d nodes were left after free; gone %.1f s later\n", n0, mono() - t0);
    assert_int_equal(n, 0);
    ev_loop_destroy(loop);
}

/* ZooKeeper restarted within the session timeout: the session and its node
 * survive; a watcher sees no delete or re-create; one node afterwards. */
static void test_restart_within_timeout(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], out[256];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/restart", hosts_single);
    const char *path = "/meshreg-test/restart/svc.main/h1_";
    struct reg *r = connected_reg(loop, uri, 8);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z1;
    zk_get(loop, hosts_single, path, &z0);

    assert_int_equal(
        sh(NULL, 0,
           "%s --hosts %s watch /meshreg-test/restart/svc.main --prefix h1_ >%s/restart.watch "
           "2>&1 & echo $! >%s/watch.pid; "
           "for i in $(seq 100); do grep -q present %s/restart.watch && break; sleep 0.05; done",
           zkwatch, hosts_single, dir_single, dir_single, dir_single),
        0);
    assert_int_equal(sh(NULL, 0, "%s/zk-stop %s", scripts, dir_single), 0);
    double gap = 0;
    assert_true(run_until(loop, is_not_connected, r, 5, NULL));
    assert_int_equal(r->conn, REG_DISCONNECTED);
    run_until(loop, NULL, NULL, 0.5, &gap);
    assert_true(gap < STALL_MAX); /* reconnect attempts never block the loop */
    assert_true(reg_present(r, "svc.main", "h1_8888")); /* a blip is not a deregistration */
    assert_int_equal(sh(NULL, 0, "%s/zk-start %s", scripts, dir_single), 0);
    assert_true(run_until(loop, is_connected, r, 5, NULL));
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    assert_true(reg_present(r, "svc.main", "h1_8888"));
    zk_get(loop, hosts_single, path, &z1);
    assert_true(z1.exists);
    assert_int_equal(z1.czxid, z0.czxid);
    assert_string_equal(z1.owner, z0.owner);
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/restart/svc.main"), 1);
    sh(out, sizeof out,
       "sleep 0.5; kill $(cat %s/watch.pid); sleep 0.2; grep -c -E ' "
       "(deleted|recreated|created|absent) ' %s/restart.watch",
       dir_single, dir_single);
    assert_string_equal(out, "0");
    reg_free(r);
    ev_loop_destroy(loop);
}

/* The session expires (we stall longer than its timeout, like a long GC
 * pause): the server drops the node; we open a new session and re-create it. */
static void test_expiry_recreates(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess0[32], sess1[32];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/expiry", hosts_single);
    const char *path = "/meshreg-test/expiry/svc.main/h1_";
    struct reg *r = connected_reg(loop, uri, 1);
    our_session(r, sess0, sizeof sess0);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z;
    zk_get(loop, hosts_single, path, &z0);
    assert_true(z0.exists);

    /* Stall: the loop does not run, so nothing pings, until the server
     * has expired the session and dropped the node. ZooKeeper does that
     * one session timeout (plus a tick) after our last ping; the deadline
     * is 30 timeouts, for a JVM on a loaded machine. */
    const char *tp = strstr(r->conn_detail, "timeout ");
    assert_non_null(tp);
    double timeout_s = atoi(tp + 8) / 1000.0;
    assert_true(timeout_s > 0);
    double stall0 = mono();
    do {
        usleep(100 * 1000);
        zk_get(NULL, hosts_single, path, &z); /* the loop must not run */
    } while (z.exists && mono() - stall0 < 30 * timeout_s);
    assert_false(z.exists);
    print_message("# zk dropped the node %.0f ms into the stall (session timeout %.0f ms)\n",
                  (mono() - stall0) * 1000, timeout_s * 1000);

    double t0 = mono();
    struct resession rs = {.r = r, .from = sess0};
    assert_true(run_until(loop, is_settled_on_new_session, &rs, 30, NULL));
    print_message("# zk re-registered %.0f ms after the loop resumed\n", (mono() - t0) * 1000);
    our_session(r, sess1, sizeof sess1);
    assert_string_not_equal(sess0, sess1);
    zk_get(loop, hosts_single, path, &z);
    assert_true(z.exists);
    assert_string_equal(z.owner, sess1);
    assert_string_equal(z.data, REC(8888));
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/expiry/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* ZooKeeper down for longer than the session timeout, then back: one node,
 * owned by the session we hold then, with our data. (ZooKeeper restores
 * sessions from its log with a fresh timeout, so the session may survive;
 * either way the end state must be the same.) */
static void test_down_longer_than_timeout(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/longdown", hosts_single);
    const char *path = "/meshreg-test/longdown/svc.main/h1_";
    struct reg *r = connected_reg(loop, uri, 1);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    assert_int_equal(sh(NULL, 0, "%s/zk-stop %s", scripts, dir_single), 0);
    double gap = 0;
    run_until(loop, NULL, NULL, 2.0, &gap);
    assert_true(gap < STALL_MAX);
    assert_int_not_equal(r->conn, REG_CONNECTED);
    assert_non_null(strstr(r->conn_detail, hosts_single));
    assert_int_equal(sh(NULL, 0, "%s/zk-start %s", scripts, dir_single), 0);
    /* Whether the restored session survives or expires after we resumed
     * it (then we open another and re-create the node) depends on timing:
     * wait for the end state, checked while connected and settled. */
    struct znode z;
    double end = mono() + 30;
    for (;;) {
        if (!run_until(loop, is_connected_and_settled, r, 30, NULL))
            fail_msg("not settled: %s", r->conn_detail);
        our_session(r, sess, sizeof sess);
        zk_get(loop, hosts_single, path, &z);
        if (z.exists && strcmp(z.owner, sess) == 0)
            break;
        if (mono() > end)
            fail_msg("node %s, owner %s, our session %s", z.exists ? "present" : "absent", z.owner,
                     sess);
    }
    assert_string_equal(z.data, REC(8888));
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/longdown/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* A hung server (SIGSTOP) never blocks the loop; once it resumes, the
 * registration converges. */
static void test_hung_server_never_blocks(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/hung", hosts_single);
    struct reg *r = connected_reg(loop, uri, 4);
    char pid[32];
    assert_int_equal(sh(pid, sizeof pid, "cat %s/zk1.pid", dir_single), 0);
    assert_int_equal(kill(atoi(pid), SIGSTOP), 0);
    wait_stopped(atoi(pid));
    reg_set(r, "svc.main", "h1_1", REC(1));
    double gap = 0;
    run_until(loop, NULL, NULL, 3.5, &gap);
    print_message("# longest loop stall with a hung ZooKeeper: %.1f ms\n", gap * 1000);
    assert_true(gap < STALL_MAX);
    assert_false(reg_present(r, "svc.main", "h1_1"));
    assert_int_equal(sh(NULL, 0, "kill -CONT $(cat %s/zk1.pid)", dir_single), 0);
    assert_true(run_until(loop, is_settled, r, 10, NULL));
    struct znode z;
    zk_get(loop, hosts_single, "/meshreg-test/hung/svc.main/h1_", &z);
    assert_true(z.exists);
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/hung/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* Several handles in one process (smartstack: one per cluster): the client
 * library's error lines are kept per handle. Two clusters whose servers
 * refuse connections each show only their own host in their detail, never
 * the other's, and a healthy cluster beside them shows no error at all. */
struct crosstalk {
    struct reg *down[2], *healthy;
    char port[2][16];
    int samples, own[2];
    char seen[256];
};

static bool crosstalk_sample(void *arg)
{
    struct crosstalk *c = arg;
    c->samples++;
    for (int i = 0; i < 2; i++) {
        const char *d = c->down[i]->conn_detail;
        if (strstr(d, c->port[1 - i]) && !c->seen[0])
            snprintf(c->seen, sizeof c->seen, "cluster %d: %s", i, d);
        char own[48];
        snprintf(own, sizeof own, ": 127.0.0.1%s: Connection refused", c->port[i]);
        if (strstr(d, own))
            c->own[i]++;
    }
    const struct reg *h = c->healthy;
    if (h->conn == REG_CONNECTED && (h->last_error[0] || strstr(h->conn_detail, "refused")) &&
        !c->seen[0])
        snprintf(c->seen, sizeof c->seen, "healthy: %s / %s", h->conn_detail, h->last_error);
    return false;
}

static void test_errors_per_handle(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct crosstalk c = {0};
    char uri[128];
    for (int i = 0; i < 2; i++) {
        /* base+30, +31: in our block, nothing listens there */
        snprintf(c.port[i], sizeof c.port[i], ":%d", base_single + 30 + i);
        snprintf(uri, sizeof uri, "zk://127.0.0.1%s/meshreg-test/xtalk", c.port[i]);
        c.down[i] = new_reg(loop, uri, 10);
        reg_set(c.down[i], "svc.main", "h1_1", REC(1));
    }
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/xtalk", hosts_single);
    c.healthy = connected_reg(loop, uri, 10);
    register_one(loop, c.healthy, "svc.main", "h1_1", REC(1));
    run_until(loop, crosstalk_sample, &c, 3.0, NULL);
    print_message("# %d samples; own error shown %d and %d times; e.g. %s\n", c.samples, c.own[0],
                  c.own[1], c.down[0]->conn_detail);
    if (c.seen[0])
        fail_msg("another handle's error shown: %s", c.seen);
    assert_true(c.own[0] > 0 && c.own[1] > 0);
    assert_int_equal(c.healthy->conn, REG_CONNECTED);
    assert_string_equal(c.healthy->last_error, "");
    for (int i = 0; i < 2; i++)
        reg_free(c.down[i]);
    reg_free(c.healthy);
    ev_loop_destroy(loop);
}

/* ZooKeeper not running at start: the loop runs, state says why, and the
 * record is in within a second of the server coming up. */
static void test_start_before_server(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], hosts[64];
    snprintf(hosts, sizeof hosts, "127.0.0.1:%d", base_late);
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/late", hosts);
    struct reg *r = new_reg(loop, uri, 10);
    reg_set(r, "svc.main", "h1_8888", REC(8888));
    double gap = 0;
    run_until(loop, NULL, NULL, 1.0, &gap);
    assert_true(gap < STALL_MAX);
    assert_int_equal(r->conn, REG_CONNECTING);
    assert_non_null(strstr(r->conn_detail, "connecting to"));
    print_message("# while down: %s\n", r->conn_detail);
    assert_int_equal(reg_pending(r), 1);
    char out[128];
    assert_int_equal(sh(out, sizeof out, "%s/zk-start --port %d %s", scripts, base_late, dir_late),
                     0);
    assert_string_equal(out, hosts);
    double t0 = mono();
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    double ms = (mono() - t0) * 1000;
    print_message("# registered %.0f ms after zk-start returned\n", ms);
    /* Well under the 5 s backoff cap: the client reconnects at its own pace
     * (about 1 s), which ASan and parallel tests stretch (1.04 s seen). */
    assert_true(ms < 2000);
    struct znode z;
    zk_get(loop, hosts, "/meshreg-test/late/svc.main/h1_", &z);
    assert_true(z.exists);
    assert_string_equal(z.data, REC(8888));
    reg_free(r);
    ev_loop_destroy(loop);
    sh(NULL, 0, "%s/zk-stop %s", scripts, dir_late);
}

/* SIGKILL: the node goes when the session times out, not before. */
static void test_killed_process_node_expires(void **state)
{
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/killed", hosts_single);
    const char *path = "/meshreg-test/killed/svc.main/h1_";
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        char err[256];
        struct reg *r = reg_new(loop, uri, 2, err, sizeof err);
        if (!r || reg_start(r) != 0)
            _exit(1);
        reg_set(r, "svc.main", "h1_8888", REC(8888));
        if (!run_until(loop, is_settled, r, 10, NULL))
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            ev_run(loop, 0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    struct znode z;
    zk_get(NULL, hosts_single, path, &z); /* the child's loop keeps its session */
    assert_true(z.exists);
    double t0 = mono();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char out[64];
    assert_int_equal(sh(out, sizeof out, "%s --hosts %s wait '%s' gone --timeout 12", zkwatch,
                        hosts_single, z.path),
                     0);
    double s = mono() - t0;
    print_message("# node gone %.2f s after SIGKILL (session timeout 2 s)\n", s);
    /* Not at once: the session outlives us by its timeout, less the third
     * of it since our last ping. Not much later either: 5 timeouts leave
     * room for a slow observer on a loaded machine. */
    assert_true(s > 1.0 && s < 10);
}

/* A 3-member ensemble: the member we are connected to dies (the session
 * moves to another), then the leader dies; the node stays, one copy. */
static void test_ensemble_member_loss(void **state)
{
    char hosts[128], out[256];
    assert_int_equal(
        sh(hosts, sizeof hosts, "%s/zk-start --ensemble --port %d %s", scripts, base_ens, dir_ens),
        0);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[256];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/ensemble", hosts);
    const char *path = "/meshreg-test/ensemble/svc.main/h1_";
    struct reg *r = connected_reg(loop, uri, 6);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z;
    zk_get(loop, hosts, path, &z0);
    assert_true(z0.exists);

    /* conn_detail starts with the server we are connected to. */
    struct moved m = {.r = r};
    snprintf(m.from, sizeof m.from, "%.*s", (int)strcspn(r->conn_detail, ","), r->conn_detail);
    int port = atoi(strrchr(m.from, ':') + 1);
    int member = port - base_ens + 1;
    assert_true(member >= 1 && member <= 3);
    assert_int_equal(sh(NULL, 0, "%s/zk-stop --kill --member %d %s", scripts, member, dir_ens), 0);
    assert_true(run_until(loop, is_connected_elsewhere, &m, 10, NULL));
    print_message("# session moved from %s to %.*s\n", m.from, (int)strcspn(r->conn_detail, ","),
                  r->conn_detail);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    zk_get(loop, hosts, path, &z);
    assert_true(z.exists);
    assert_int_equal(z.czxid, z0.czxid);
    assert_string_equal(z.owner, z0.owner);

    assert_int_equal(sh(NULL, 0, "%s/zk-start --member %d %s", scripts, member, dir_ens), 0);
    assert_int_equal(sh(out, sizeof out, "%s/zk-stop --kill --member leader %s", scripts, dir_ens),
                     0);
    print_message("# killed leader: member %s\n", out);
    run_until(loop, NULL, NULL, 1.0, NULL);
    assert_true(run_until(loop, is_connected, r, 10, NULL));
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    zk_get(loop, hosts, path, &z);
    assert_true(z.exists);
    assert_int_equal(z.czxid, z0.czxid);
    assert_string_equal(z.owner, z0.owner);
    assert_int_equal(zk_children(loop, hosts, "/meshreg-test/ensemble/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
    sh(NULL, 0, "%s/zk-stop %s", scripts, dir_ens);
}

static int group_setup(void **state)
{
    if (zk_single_setup(50) != 0)
        return -1;
    base_late = base_single + 20;
    base_ens = base_single + 40;
    make_dir(dir_late, sizeof dir_late, "late");
    make_dir(dir_ens, sizeof dir_ens, "ensemble");
    return 0;
}

static int group_teardown(void **state)
{
    zk_single_teardown();
    const char *dirs[] = {dir_late, dir_ens};
    for (int i = 0; i < 2; i++) {
        sh(NULL, 0, "%s/zk-stop %s", scripts, dirs[i]);
        sh(NULL, 0, "rm -rf '%s'", dirs[i]);
    }
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_register_update_delete),
        cmocka_unit_test(test_delete_absent),
        cmocka_unit_test(test_stop_closes_session),
        cmocka_unit_test(test_free_with_inflight),
        cmocka_unit_test(test_restart_within_timeout),
        cmocka_unit_test(test_expiry_recreates),
        cmocka_unit_test(test_down_longer_than_timeout),
        cmocka_unit_test(test_hung_server_never_blocks),
        cmocka_unit_test(test_start_before_server),
        cmocka_unit_test(test_errors_per_handle),
        cmocka_unit_test(test_killed_process_node_expires),
        cmocka_unit_test(test_ensemble_member_loss),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
