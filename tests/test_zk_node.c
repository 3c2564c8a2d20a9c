/* The znodes of the zk backend (sidecar/backend/zk_node.c) against a REAL
 * ZooKeeper, checked with kazoo (tests/zkwatch.py): nerve's sequential names,
 * one node per record after a lost create reply (tests/zkproxy.py loses it),
 * copies left by another session, path encoding. Ports: a free block of 20
 * (tests/test_ports.h): the server at its base, the proxy at +10. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "sidecar/backend/reg.h"
#include "sidecar/backend/zk_name.h"
#include "tests/failalloc.h"
#include "tests/test_zk_util.h"

/* Starts a kazoo session in the background holding a node made with
 * `hold ARGS`; returns its output ("0xSESSION PATH"); the pid goes to pidfile. */
static void hold_node(const char *pidfile, const char *tag, char *out, size_t len, const char *args)
{
    assert_int_equal(sh(out, len,
                        "%s --hosts %s hold %s >%s/%s.out 2>&1 & echo $! >%s; "
                        "for i in $(seq 100); do grep -q 0x %s/%s.out && break; sleep 0.05; done; "
                        "cat %s/%s.out",
                        zkwatch, hosts_single, args, dir_single, tag, pidfile, dir_single, tag,
                        dir_single, tag),
                     0);
    assert_non_null(strstr(out, "0x"));
}

#define REC_W20 "{\"host\":\"10.1.2.3\",\"port\":8888,\"name\":\"h1\",\"weight\":20,\"labels\":{}}"

/* Nodes under our prefix left by other sessions: a record of this instance
 * and port (an earlier run killed within its session timeout, the same
 * record or another weight) is deleted once ours is in place; another
 * port's is not ours to touch. A re-put of our own node changes nothing. */
static void test_existing_node(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32], out[256], pid_copy[128], pid_other[128], args[512];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/existing", hosts_single);
    const char *parent = "/meshreg-test/existing/svc.main";
    const char *path = "/meshreg-test/existing/svc.main/h1_";

    snprintf(pid_copy, sizeof pid_copy, "%s/hold-copy.pid", dir_single);
    snprintf(args, sizeof args, "--sequence '%s' '%s'", path, REC(8888));
    hold_node(pid_copy, "hold-copy", out, sizeof out, args);
    char copy_path[256];
    assert_int_equal(sscanf(out, "%*s %255s", copy_path), 1);
    snprintf(pid_other, sizeof pid_other, "%s/hold-other.pid", dir_single);
    snprintf(args, sizeof args, "--sequence '%s' '%s'", path, REC(7777));
    hold_node(pid_other, "hold-other", out, sizeof out, args);
    char pid_w20[128];
    snprintf(pid_w20, sizeof pid_w20, "%s/hold-w20.pid", dir_single);
    snprintf(args, sizeof args, "--sequence '%s' '%s'", path, REC_W20);
    hold_node(pid_w20, "hold-w20", out, sizeof out, args);

    struct reg *r = connected_reg(loop, uri, 10);
    our_session(r, sess, sizeof sess);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    json_t *j = zk_nodes(loop, hosts_single, parent, "h1_");
    assert_int_equal(json_array_size(j), 2);
    struct znode ours = {0}, other = {0};
    for (size_t i = 0; i < 2; i++) {
        struct znode z;
        znode_fill(&z, json_array_get(j, i));
        if (strcmp(z.owner, sess) == 0)
            ours = z;
        else
            other = z;
    }
    json_decref(j);
    assert_string_equal(ours.data, REC(8888));
    assert_string_not_equal(ours.path, copy_path);
    assert_string_equal(other.data, REC(7777)); /* another port: left alone */

    /* Our own node: a re-put changes nothing. */
    reg_resync(r);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    j = zk_nodes(loop, hosts_single, parent, "h1_");
    struct znode z2 = {0};
    for (size_t i = 0; i < json_array_size(j); i++) {
        znode_fill(&z2, json_array_get(j, i));
        if (strcmp(z2.owner, sess) == 0)
            break;
    }
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    assert_string_equal(z2.path, ours.path);
    assert_int_equal(z2.czxid, ours.czxid);
    assert_int_equal(z2.version, ours.version);
    assert_int_equal(r->ops_failed, 0);

    sh(NULL, 0, "kill $(cat %s) $(cat %s) $(cat %s) 2>/dev/null; sleep 0.3", pid_copy, pid_other,
       pid_w20);
    zk_get(loop, hosts_single, path, &z2);
    assert_true(z2.exists); /* the other sessions ending do not take our node */
    assert_string_equal(z2.path, ours.path);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* The node of a record whose data is `data` among the JSON list j, or NULL. */
static json_t *node_with_data(json_t *j, const char *data)
{
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *n = json_array_get(j, i);
        if (strcmp(json_string_value(json_object_get(n, "data")), data) == 0)
            return n;
    }
    return NULL;
}

/* At start-up (reg_clear) the records of this instance and port left by an
 * earlier run go before any probe passed, plain or path-encoded names
 * alike; another port's record stays. */
static void test_leftover_cleared_at_start(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], out[256], args[1024], pids[3][128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/leftover", hosts_single);
    const char *parent = "/meshreg-test/leftover/svc.main";
    char *enc = zk_name_prefix("h1", 2, REC(8888), strlen(REC(8888)), true);
    assert_non_null(enc);
    const char *names[3] = {"h1_", enc, "h1_"};
    const char *datas[3] = {REC_W20, REC(8888), REC(7777)};
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "left%d", i);
        snprintf(pids[i], sizeof pids[i], "%s/%s.pid", dir_single, tag);
        snprintf(args, sizeof args, "--sequence '%s/%s' '%s'", parent, names[i], datas[i]);
        hold_node(pids[i], tag, out, sizeof out, args);
    }
    free(enc);
    json_t *j = zk_nodes(loop, hosts_single, parent, NULL);
    assert_int_equal(json_array_size(j), 3);
    json_decref(j);

    struct reg *r = connected_reg(loop, uri, 10);
    reg_clear(r, "svc.main", "h1_8888");
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    j = zk_nodes(loop, hosts_single, parent, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_non_null(node_with_data(j, REC(7777)));
    json_decref(j);
    assert_int_equal(r->ops_failed, 0);
    sh(NULL, 0, "kill $(cat %s) $(cat %s) $(cat %s) 2>/dev/null", pids[0], pids[1], pids[2]);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* Two sessions of one process (two clusters of smartstack on one
 * ensemble) hold the same instance and port with other labels: neither is
 * a leftover of the other (kazoo's copy of the same record, another
 * process, is: test_existing_node). */
static void test_two_sessions_one_process(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/twosess", hosts_single);
    const char *parent = "/meshreg-test/twosess/svc.main";
    struct reg *a = connected_reg(loop, uri, 10);
    struct reg *b = connected_reg(loop, uri, 10);
    register_one(loop, a, "svc.main", "h1_8888", REC(8888));
    register_one(loop, b, "svc.main", "h1_8888", REC_W20);
    json_t *j = zk_nodes(loop, hosts_single, parent, "h1_");
    assert_int_equal(json_array_size(j), 2);
    assert_non_null(node_with_data(j, REC(8888)));
    assert_non_null(node_with_data(j, REC_W20));
    json_decref(j);
    reg_free(a);
    j = zk_nodes(loop, hosts_single, parent, "h1_");
    assert_int_equal(json_array_size(j), 1);
    assert_non_null(node_with_data(j, REC_W20));
    json_decref(j);
    reg_free(b);
    ev_loop_destroy(loop);
}

#define REC_H2 "{\"host\":\"10.9.9.9\",\"port\":8888,\"name\":\"h2\",\"weight\":10,\"labels\":{}}"

/* nerve's names: <instance_id>_ + ZooKeeper's 10-digit sequence, so two
 * instances on the same port get distinct ids (synapse's id is the suffix).
 * One process with two records under one prefix (one service on two ports)
 * keeps each on its own node: a change is a set of the right one, a delete
 * takes only its own. */
static void test_sequential_names(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/seq", hosts_single);
    const char *parent = "/meshreg-test/seq/svc.main";
    struct reg *a = connected_reg(loop, uri, 10);
    struct reg *b = connected_reg(loop, uri, 10);
    register_one(loop, a, "svc.main", "h1_8888", REC(8888));
    register_one(loop, b, "svc.main", "h2_8888", REC_H2);
    register_one(loop, a, "svc.main", "h1_9999", REC(9999));

    json_t *all = zk_nodes(loop, hosts_single, parent, NULL);
    assert_int_equal(json_array_size(all), 3);
    long long ids[3];
    for (size_t i = 0; i < 3; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(all, i), "name"));
        print_message("# %s\n", name);
        assert_true(zk_name_matches(name, "h1_") || zk_name_matches(name, "h2_"));
        ids[i] = zk_name_seq(name);
        assert_true(ids[i] >= 0);
    }
    assert_true(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    json_decref(all);

    json_t *j = zk_nodes(loop, hosts_single, parent, "h1_");
    assert_int_equal(json_array_size(j), 2);
    struct znode n8888, n9999, z;
    znode_fill(&n8888, node_with_data(j, REC(8888)));
    znode_fill(&n9999, node_with_data(j, REC(9999)));
    json_decref(j);

    /* A change: a set of the record's own node. */
    register_one(loop, a, "svc.main", "h1_9999", REC(7777));
    j = zk_nodes(loop, hosts_single, parent, "h1_");
    assert_int_equal(json_array_size(j), 2);
    assert_non_null(node_with_data(j, REC(8888)));
    znode_fill(&z, node_with_data(j, REC(7777)));
    json_decref(j);
    assert_string_equal(z.path, n9999.path);
    assert_int_equal(z.czxid, n9999.czxid);
    assert_int_equal(z.version, n9999.version + 1);

    /* A delete takes the record's own node only. */
    reg_set(a, "svc.main", "h1_8888", NULL);
    assert_true(run_until(loop, is_settled, a, 5, NULL));
    zk_get(loop, hosts_single, "/meshreg-test/seq/svc.main/h1_", &z);
    assert_true(z.exists);
    assert_string_equal(z.path, n9999.path);
    zk_get(loop, hosts_single, "/meshreg-test/seq/svc.main/h2_", &z);
    assert_true(z.exists);
    assert_int_equal(a->ops_failed + b->ops_failed, 0);
    reg_free(a);
    reg_free(b);
    ev_loop_destroy(loop);
}

static bool proxy_lost(void *arg)
{
    char out[64];
    sh(out, sizeof out, "grep -c '^lost ' %s/proxy.out", dir_single);
    return atoi(out) >= *(int *)arg;
}

/* A create applied by the server whose reply is lost (tests/zkproxy.py
 * forwards it, drops the reply and cuts the connection): after the
 * reconnect the backend finds its node instead of making a second one,
 * even when the record changed meanwhile, and a delete that follows such a
 * create removes the node it cannot know by name. */
static void test_lost_create_reply(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32], out[64];
    int pport = base_single + 10;
    assert_int_equal(sh(out, sizeof out,
                        "/usr/bin/python3 %s/../tests/zkproxy.py --listen %d --to %s "
                        "--lose-create-of /svc.main/h1_ --lose 2 >%s/proxy.out 2>&1 & "
                        "echo $! >%s/proxy.pid; "
                        "for i in $(seq 100); do grep -q ready %s/proxy.out && break; sleep 0.05; "
                        "done; head -1 %s/proxy.out",
                        scripts, pport, hosts_single, dir_single, dir_single, dir_single,
                        dir_single),
                     0);
    assert_string_equal(out, "ready");
    snprintf(uri, sizeof uri, "zk://127.0.0.1:%d/meshreg-test/lost", pport);
    const char *parent = "/meshreg-test/lost/svc.main";
    struct reg *r = connected_reg(loop, uri, 10);

    /* The create of REC(8888) is lost; the retry carries REC(9999). */
    reg_set(r, "svc.main", "h1_8888", REC(8888));
    reg_set(r, "svc.main", "h1_8888", REC(9999));
    int one = 1, two = 2;
    assert_true(run_until(loop, proxy_lost, &one, 10, NULL));
    assert_true(run_until(loop, is_connected_and_settled, r, 10, NULL));
    our_session(r, sess, sizeof sess);
    assert_true(r->ops_failed >= 1);
    struct znode z;
    zk_get(loop, hosts_single, "/meshreg-test/lost/svc.main/h1_", &z);
    assert_true(z.exists);
    assert_string_equal(z.owner, sess);
    assert_string_equal(z.data, REC(9999));
    assert_int_equal(z.version, 1); /* the lost create's node, then set */

    /* A lost create, then the record goes before the retry. */
    unsigned long failed = r->ops_failed;
    reg_set(r, "svc.main", "h1_7777", REC(7777));
    reg_set(r, "svc.main", "h1_7777", NULL);
    assert_true(run_until(loop, proxy_lost, &two, 10, NULL));
    assert_true(run_until(loop, is_connected_and_settled, r, 10, NULL));
    assert_true(r->ops_failed > failed);
    json_t *j = zk_nodes(loop, hosts_single, parent, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_non_null(node_with_data(j, REC(9999)));
    json_decref(j);
    reg_free(r);
    sh(NULL, 0, "kill $(cat %s/proxy.pid)", dir_single);
    ev_loop_destroy(loop);
}

static struct reg *encoding_reg(struct ev_loop *loop, const char *uri)
{
    char err[256] = "";
    struct reg *r = reg_new(loop, uri, 10, err, sizeof err);
    if (!r)
        fail_msg("reg_new(%s): %s", uri, err);
    r->path_encoding = true;
    assert_int_equal(reg_start(r), 0);
    if (!run_until(loop, is_connected, r, 10, NULL))
        fail_msg("not connected to %s: %s", uri, r->conn_detail);
    return r;
}

/* The single child of parent (the test fails otherwise). */
static void only_child(struct ev_loop *loop, const char *parent, struct znode *z)
{
    json_t *j = zk_nodes(loop, hosts_single, parent, NULL);
    if (json_array_size(j) != 1) {
        char *dump = json_dumps(j, JSON_COMPACT);
        fail_msg("%zu children under %s: %s", json_array_size(j), parent, dump);
    }
    znode_fill(z, json_array_get(j, 0));
    json_decref(j);
}

/* --zk-path-encoding: the name carries the record (read back from the name
 * alone, as synapse does); a change makes the new node before the old one
 * goes, so a watcher never sees the parent empty; a record too long for a
 * name gets the plain name, and back. */
static void test_path_encoding(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], out[256];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/enc", hosts_single);
    const char *parent = "/meshreg-test/enc/svc.main";
    struct reg *r = encoding_reg(loop, uri);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z1;
    only_child(loop, parent, &z0);
    print_message("# %s\n", z0.name);
    size_t n = 0;
    char *rec = zk_name_decode(z0.name, &n);
    assert_non_null(rec);
    assert_string_equal(rec, REC(8888));
    free(rec);
    assert_string_equal(z0.data, REC(8888));
    assert_true(zk_name_seq(z0.name) >= 0);

    assert_int_equal(
        sh(NULL, 0,
           "%s --hosts %s watch '%s/x' >%s/enc.watch 2>&1 & echo $! >%s/enc.pid; "
           "for i in $(seq 100); do grep -q children %s/enc.watch && break; sleep 0.05; done",
           zkwatch, hosts_single, parent, dir_single, dir_single, dir_single),
        0);
    register_one(loop, r, "svc.main", "h1_8888", REC(9999));
    only_child(loop, parent, &z1);
    assert_string_not_equal(z1.name, z0.name);
    assert_true(z1.czxid > z0.czxid);
    rec = zk_name_decode(z1.name, &n);
    assert_non_null(rec);
    assert_string_equal(rec, REC(9999));
    free(rec);

    /* 60000 bytes of record: 80000 of base64, over nerve's 65536. */
    size_t big_len = 60000;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    int h = snprintf(big, big_len + 1, "{\"host\":\"10.1.2.3\",\"port\":8888,\"labels\":{\"x\":\"");
    memset(big + h, 'x', big_len - (size_t)h - 3);
    memcpy(big + big_len - 3, "\"}}", 4);
    register_one(loop, r, "svc.main", "h1_8888", big);
    only_child(loop, parent, &z1);
    assert_true(zk_name_matches(z1.name, "h1_"));
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    only_child(loop, parent, &z1);
    assert_non_null(strstr(z1.name, ZK_NAME_ENCODED_TAG));
    free(big);

    sh(out, sizeof out,
       "sleep 0.3; kill $(cat %s/enc.pid); sleep 0.2; grep -c ' children 0 ' %s/enc.watch",
       dir_single, dir_single);
    assert_string_equal(out, "0");
    sh(out, sizeof out, "grep -c ' children ' %s/enc.watch", dir_single);
    print_message("# watcher saw %s children events, never an empty parent\n", out);
    assert_true(atoi(out) >= 4); /* the first listing, then at least one per change */
    assert_int_equal(r->ops_failed, 0);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* Out of memory at every allocation of a put, then of a delete, one at a
 * time, with path encoding (the most allocations): each failure is a
 * failed operation the core retries, never a crash, a leak (ASan) or a
 * second node. The first put also lists and reads a copy left by another
 * session, so the scan's allocations are covered. */
static void test_out_of_memory(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], out[256], args[512], pid[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/oom", hosts_single);
    const char *parent = "/meshreg-test/oom/svc.main";
    struct reg *r = encoding_reg(loop, uri);
    unsigned n;
    for (n = 1; n < 200; n++) {
        char tag[16];
        snprintf(tag, sizeof tag, "oom%u", n); /* a fresh output file to wait on */
        snprintf(pid, sizeof pid, "%s/%s.pid", dir_single, tag);
        snprintf(args, sizeof args, "--sequence '%s/h1_' '%s'", parent, REC_W20);
        hold_node(pid, tag, out, sizeof out, args);
        failalloc_arm(n, false);
        reg_set(r, "svc.main", "h1_8888", REC(8888));
        run_until(loop, is_settled, r, 10, NULL);
        unsigned failed = failalloc_failed();
        failalloc_off();
        /* The sidecar states its desire again on every probe result: a
         * record the core could not even track comes back that way. */
        reg_set(r, "svc.main", "h1_8888", REC(8888));
        bool settled = run_until(loop, is_settled, r, 10, NULL);
        if (!settled)
            fail_msg("allocation %u failed: not registered: %s", n, r->last_error);
        struct znode z;
        only_child(loop, parent, &z); /* the copy deleted, ours there once */
        assert_string_equal(z.data, REC(8888));
        failalloc_arm(n, false);
        reg_set(r, "svc.main", "h1_8888", NULL);
        run_until(loop, is_settled, r, 10, NULL);
        failed += failalloc_failed();
        failalloc_off();
        reg_set(r, "svc.main", "h1_8888", NULL);
        settled = run_until(loop, is_settled, r, 10, NULL);
        if (!settled)
            fail_msg("allocation %u failed: not deregistered: %s", n, r->last_error);
        json_t *j = zk_nodes(loop, hosts_single, parent, NULL);
        assert_int_equal(json_array_size(j), 0);
        json_decref(j);
        sh(NULL, 0, "kill $(cat %s) 2>/dev/null", pid);
        if (failed == 0)
            break; /* n is past the last allocation of both */
    }
    print_message("# %u allocations of a put and a delete failed in turn\n", n - 1);
    assert_true(n > 5 && n < 200);
    reg_free(r);
    ev_loop_destroy(loop);
}

static int group_setup(void **state)
{
    return zk_single_setup(20);
}

static int group_teardown(void **state)
{
    zk_single_teardown();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_existing_node),     cmocka_unit_test(test_leftover_cleared_at_start),
        cmocka_unit_test(test_sequential_names),  cmocka_unit_test(test_two_sessions_one_process),
        cmocka_unit_test(test_lost_create_reply), cmocka_unit_test(test_path_encoding),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
