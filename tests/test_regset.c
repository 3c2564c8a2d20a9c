/* The backend scheme table, ZooKeeper topology files (README "Backends",
 * smartstack) and the cluster set built from locations, on real files in a
 * temp dir. Clusters are built but not started: the test needs no server
 * (tests/e2e/smartstack_backend.sh drives two real ZooKeepers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/placement.h"
#include "config/scheme.h"
#include "config/topology.h"
#include "sidecar/backend/regset.h"
#include "tests/location_fixture.h"

struct fixture {
    struct ev_loop *loop;
    char dir[64];
};

static struct fixture F;

static int setup(void **state)
{
    F.loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(F.dir, sizeof(F.dir), "/tmp/meshreg-test-regset-XXXXXX");
    assert_non_null(mkdtemp(F.dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
    assert_int_equal(system(cmd), 0);
    ev_loop_destroy(F.loop);
    return 0;
}

/* Writes <dir>/zookeeper_discovery/<type>/<loc>.yaml. */
static void topo(const char *type, const char *loc, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "mkdir -p %s/zookeeper_discovery/%s", F.dir, type);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/zookeeper_discovery/%s/%s.yaml", F.dir, type, loc);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- the scheme table ---- */

static void every_scheme_is_found_by_its_uri(void **state)
{
    assert_int_equal(scheme_find("file:/tmp/x")->kind, SCHEME_FILE);
    assert_int_equal(scheme_find("zk://h:1/r")->kind, SCHEME_ZK);
    assert_int_equal(scheme_find("etcd://h:1/p")->kind, SCHEME_ETCD);
    assert_int_equal(scheme_find("smartstack")->kind, SCHEME_SMARTSTACK);
    assert_int_equal(scheme_find("smartstack:infrastructure")->kind, SCHEME_SMARTSTACK);
    assert_true(scheme_find("smartstack")->multi_cluster);
    assert_false(scheme_find("zk://h:1")->multi_cluster);
    /* A bare single-cluster name names no store; a prefix is not a scheme. */
    assert_null(scheme_find("zk"));
    assert_null(scheme_find("smartstackx"));
    assert_null(scheme_find("consul://x"));
    /* Every row is reachable through its kind, and --help lists them all. */
    for (int k = 0; k < SCHEME_COUNT; k++) {
        assert_int_equal(scheme_get((enum scheme_kind)k)->kind, k);
        assert_non_null(strstr(SCHEME_HELP_ALL, scheme_get((enum scheme_kind)k)->syntax));
    }
    assert_string_equal(SCHEME_HELP_ALL, "file:DIR | zk://H:P[,H:P]/ROOT | "
                                         "etcd://H:P[,H:P]/PREFIX | etcds://H:P[,H:P]/PREFIX | "
                                         "smartstack[:CLUSTER_TYPE]");
}

static void smartstack_cluster_type(void **state)
{
    char err[256];
    char *t = scheme_cluster_type("smartstack", err, sizeof(err));
    assert_string_equal(t, "infrastructure");
    free(t);
    t = scheme_cluster_type("smartstack:spectre", err, sizeof(err));
    assert_string_equal(t, "spectre");
    free(t);
    /* It becomes a directory name. */
    assert_null(scheme_cluster_type("smartstack:../x", err, sizeof(err)));
    assert_non_null(strstr(err, "cluster type '../x' is not a name"));
    assert_null(scheme_cluster_type("smartstack:", err, sizeof(err)));
    assert_int_equal(scheme_check("smartstack:", err, sizeof(err)), -1);
    assert_int_equal(scheme_check("smartstack:x", err, sizeof(err)), 0);
    assert_int_equal(scheme_check("redis://x", err, sizeof(err)), -1);
    assert_string_equal(err, "'redis://x': expected file:DIR | zk://H:P[,H:P]/ROOT | "
                             "etcd://H:P[,H:P]/PREFIX | etcds://H:P[,H:P]/PREFIX | "
                             "smartstack[:CLUSTER_TYPE]");
}

static void validation_and_construction_agree(void **state)
{
    char err[256];
    /* regset_validate (meshreg check) refuses what construction refuses. */
    const char *bad[] = {"zk://", "zk:x", "etcd://", "file:", "smartstack:a/b", "nope:x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(regset_validate(bad[i], err, sizeof(err)), -1);
        assert_null(regset_new(F.loop, bad[i], F.dir, 10, err, sizeof(err)));
    }
    const char *good[] = {"zk://h:1/r", "etcd://127.0.0.1:2379/p", "smartstack", "smartstack:x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (regset_validate(good[i], err, sizeof(err)) != 0)
            fail_msg("%s: %s", good[i], err);
        struct regset *rs = regset_new(F.loop, good[i], F.dir, 10, err, sizeof(err));
        assert_non_null(rs);
        regset_free(rs);
    }
    /* smartstack is no single store: reg_new alone cannot build it. */
    assert_null(reg_new(F.loop, "smartstack", 10, err, sizeof(err)));
    assert_non_null(strstr(err, "is not a single store"));
}

/* ---- topology files ---- */

static void topology_file_is_read(void **state)
{
    char err[512], *hosts = NULL, *path = NULL;
    topo("infrastructure", "norcal-prod", "---\n- - 10.0.0.1\n  - 2181\n- [zk2.local, 22181]\n");
    assert_int_equal(
        topology_load(F.dir, "infrastructure", "norcal-prod", &hosts, &path, err, sizeof(err)), 1);
    assert_string_equal(hosts, "10.0.0.1:2181,zk2.local:22181");
    assert_non_null(strstr(path, "/zookeeper_discovery/infrastructure/norcal-prod.yaml"));
    free(hosts);
    free(path);
    /* Absent: 0, the path said, nothing else. */
    assert_int_equal(
        topology_load(F.dir, "infrastructure", "pnw-prod", &hosts, NULL, err, sizeof(err)), 0);
    assert_null(hosts);
    assert_int_equal(topology_load(F.dir, "other", "norcal-prod", &hosts, NULL, err, sizeof(err)),
                     0);
}

/* A malformed file names FILE:LINE:COL of what is wrong. */
static void expect_malformed(const char *text, const char *want)
{
    char err[1024], *hosts = NULL, want_full[512];
    topo("infrastructure", "bad", text);
    assert_int_equal(topology_load(F.dir, "infrastructure", "bad", &hosts, NULL, err, sizeof(err)),
                     -1);
    assert_null(hosts);
    snprintf(want_full, sizeof(want_full), "%s/zookeeper_discovery/infrastructure/bad.yaml:%s",
             F.dir, want);
    if (!strstr(err, want_full))
        fail_msg("want\n  %s\ngot\n  %s", want_full, err);
}

static void malformed_topology_files(void **state)
{
    expect_malformed("hosts: [a, 1]\n",
                     "1:1: expected a non-empty list of [host, port] pairs, got map");
    expect_malformed("[]\n", "1:1: expected a non-empty list of [host, port] pairs, got an "
                             "empty list");
    expect_malformed("", "1:1: empty file; expected a list of [host, port] pairs");
    expect_malformed("- [a, 1]\n- [b, 2, 3]\n",
                     "2:3: expected a [host, port] pair, got a list of another length");
    expect_malformed("- zk1:2181\n", "1:3: expected a [host, port] pair, got string");
    expect_malformed("- [a, 70000]\n", "1:7: port 70000 is out of range 1..65535");
    expect_malformed("- [a, \"2181\"]\n", "1:7: port must be an integer, got string");
    expect_malformed("- [\"a,b\", 1]\n",
                     "1:4: host must be a host name or IPv4 address, got a string with ',', ':', "
                     "'/' or blanks");
    expect_malformed("- [1, 2]\n", "1:4: host must be a host name or IPv4 address, got integer");
    expect_malformed("- [a, 1\n", "2:1: ");
    /* Every problem is reported, one line each. */
    char err[1024], *hosts = NULL;
    topo("infrastructure", "bad", "- [a, 0]\n- [b]\n");
    assert_int_equal(topology_load(F.dir, "infrastructure", "bad", &hosts, NULL, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "bad.yaml:1:7: port 0 is out of range"));
    assert_non_null(strstr(err, "\n"));
    assert_non_null(strstr(err, "bad.yaml:2:3: expected a [host, port] pair"));
    /* A location is a file name: nothing climbs out of the folder. */
    assert_int_equal(
        topology_load(F.dir, "infrastructure", "../../x", &hosts, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "location '../../x' is not a name"));
}

/* ---- the cluster set ---- */

static void single_cluster_backend_is_one_cluster(void **state)
{
    char err[256], uri[128];
    snprintf(uri, sizeof(uri), "file:%s/registry", F.dir);
    struct regset *rs = regset_new(F.loop, uri, F.dir, 10, err, sizeof(err));
    assert_non_null(rs);
    assert_false(regset_multi(rs));
    assert_true(regset_local_readers(rs)); /* file: readers are local: no drain floor */
    assert_int_equal(rs->n, 1);
    assert_string_equal(rs->v[0].name, "");
    struct reg *a, *b;
    /* Whatever the location, the one store (today's behaviour). */
    assert_int_equal(regset_cluster(rs, "norcal-prod", &a, err, sizeof(err)), 1);
    assert_int_equal(regset_cluster(rs, NULL, &b, err, sizeof(err)), 1);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, rs->v[0].reg);
    assert_null(a->cluster);
    assert_string_equal(a->uri, uri);
    regset_free(rs);
    regset_free(NULL);
}

static void smartstack_builds_one_cluster_per_location(void **state)
{
    char err[512];
    topo("infrastructure", "norcal-prod", "- [127.0.0.1, 1]\n- [127.0.0.2, 2]\n");
    topo("infrastructure", "pnw-prod", "- [127.0.0.1, 3]\n");
    topo("spectre", "norcal-prod", "- [127.0.0.1, 4]\n");
    topo("infrastructure", "broken", "- [x]\n");
    struct regset *rs = regset_new(F.loop, "smartstack", F.dir, 10, err, sizeof(err));
    assert_non_null(rs);
    assert_true(regset_multi(rs));
    assert_int_equal(rs->n, 0);
    struct reg *a, *b, *c;
    assert_int_equal(regset_cluster(rs, "norcal-prod", &a, err, sizeof(err)), 1);
    assert_string_equal(a->uri, "zk://127.0.0.1:1,127.0.0.2:2/smartstack/global");
    assert_string_equal(a->cluster, "norcal-prod");
    assert_string_equal(a->ops->name, "zk");
    /* One cluster per location however many registrations ask: one session. */
    assert_int_equal(regset_cluster(rs, "norcal-prod", &b, err, sizeof(err)), 1);
    assert_ptr_equal(a, b);
    assert_int_equal(regset_cluster(rs, "pnw-prod", &c, err, sizeof(err)), 1);
    assert_ptr_not_equal(a, c);
    assert_string_equal(c->uri, "zk://127.0.0.1:3/smartstack/global");
    assert_int_equal(rs->n, 2);
    assert_string_equal(regset_name_of(rs, c), "pnw-prod");
    /* No topology file: skipped (0), the file named. */
    assert_int_equal(regset_cluster(rs, "uswest1-prod", &b, err, sizeof(err)), 0);
    assert_null(b);
    assert_non_null(strstr(err, "no ZooKeeper topology file "));
    assert_non_null(strstr(err, "/zookeeper_discovery/infrastructure/uswest1-prod.yaml"));
    assert_int_equal(regset_cluster(rs, NULL, &b, err, sizeof(err)), 0);
    /* Malformed: an error, with its position. */
    assert_int_equal(regset_cluster(rs, "broken", &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "broken.yaml:1:3: expected a [host, port] pair"));
    assert_int_equal(rs->n, 2);
    regset_free(rs);

    /* The cluster type picks the folder. */
    rs = regset_new(F.loop, "smartstack:spectre", F.dir, 10, err, sizeof(err));
    assert_int_equal(regset_cluster(rs, "norcal-prod", &a, err, sizeof(err)), 1);
    assert_string_equal(a->uri, "zk://127.0.0.1:4/smartstack/global");
    assert_int_equal(regset_cluster(rs, "pnw-prod", &a, err, sizeof(err)), 0);
    regset_free(rs);
}

/* Pending counts every cluster, and each cluster keeps its own records. */
static void pending_spans_every_cluster(void **state)
{
    char err[512];
    topo("infrastructure", "a", "- [127.0.0.1, 1]\n");
    topo("infrastructure", "b", "- [127.0.0.1, 2]\n");
    struct regset *rs = regset_new(F.loop, "smartstack", F.dir, 10, err, sizeof(err));
    struct reg *a, *b;
    assert_int_equal(regset_cluster(rs, "a", &a, err, sizeof(err)), 1);
    assert_int_equal(regset_cluster(rs, "b", &b, err, sizeof(err)), 1);
    assert_int_equal(regset_pending(rs), 0);
    reg_set(a, "svc.main", "h_1", "{}");
    reg_set(b, "svc.main", "h_1", "{}");
    reg_set(b, "svc.canary", "h_1", "{}");
    assert_int_equal(reg_pending(a), 1);
    assert_int_equal(reg_pending(b), 2);
    assert_int_equal(regset_pending(rs), 3);
    reg_set(a, "svc.main", "h_1", "{}"); /* unchanged: nothing new owed */
    assert_int_equal(regset_pending(rs), 3);
    assert_false(regset_local_readers(rs)); /* synapse-style readers: the drain floor applies */
    assert_false(regset_stopped(rs));
    regset_stop(rs); /* clusters never connected: each stop is done at once */
    assert_true(regset_stopped(rs));
    regset_stop(rs);
    regset_free(rs);
    assert_int_equal(regset_pending(NULL), 0);
}

/* ---- the cluster set built from placements (config_load on a host layout) ---- */

static struct mr_config *load_host(const char *backend, const char *yaml, char *err, size_t len)
{
    put_host_layout();
    const char *args[] = {"--service",   "svc",         "--smartstack", put("ss.yaml", yaml),
                          "--etc-dir",   tpath("etc"),  "--labels-dir", tpath("labels"),
                          "--backend",   backend,       NULL};
    static const char *const noenv[] = {NULL};
    struct mr_config *cfg = NULL;
    err[0] = '\0';
    config_load(10, (char **)args, (char **)noenv, &cfg, err, len);
    return cfg;
}

/* Each placement's cluster, or "-" (skipped), one per line. */
static const char *clusters_of(struct regset *rs, const struct check_spec *c)
{
    static char out[1024];
    char err[512];
    out[0] = '\0';
    for (size_t i = 0; i < c->placements.n; i++) {
        struct reg *r = NULL;
        int rc = regset_cluster(rs, c->placements.v[i].zk_location, &r, err, sizeof(err));
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s %s\n",
                 c->placements.v[i].zk_location ? c->placements.v[i].zk_location : "?",
                 rc == 1 ? r->uri : "-");
    }
    return out;
}

static const char *const two_superregions_and_devc =
    "main:\n  proxy_port: 20000\n  extra_advertise:\n"
    "    region:uswest1-prod: [region:useast1-prod, region:uswest1-devc]\n";

static void placements_pick_clusters(void **state)
{
    char err[4096];
    put("etc/zookeeper_discovery/infrastructure/norcal-prod.yaml", "- [10.0.0.1, 2181]\n");
    put("etc/zookeeper_discovery/infrastructure/nova-prod.yaml",
        "- [10.1.0.1, 2181]\n- [10.1.0.2, 2181]\n");
    /* norcal-devc has no topology file: skipped, as nerve-tools does */
    struct mr_config *cfg = load_host("smartstack", two_superregions_and_devc, err, sizeof(err));
    if (!cfg)
        fail_msg("config_load: %s", err);
    struct regset *rs = regset_new(F.loop, cfg->backend, cfg->etc_dir, 10, err, sizeof(err));
    assert_non_null(rs);
    assert_string_equal(clusters_of(rs, &cfg->checks[0]),
                        "norcal-prod zk://10.0.0.1:2181/smartstack/global\n"
                        "nova-prod zk://10.1.0.1:2181,10.1.0.2:2181/smartstack/global\n"
                        "norcal-devc -\n");
    assert_int_equal(rs->n, 2);
    /* Asking again (a second registration, a reload) reuses the sessions. */
    clusters_of(rs, &cfg->checks[0]);
    assert_int_equal(rs->n, 2);
    regset_free(rs);
    /* Another cluster type: other files, here none at all. */
    rs = regset_new(F.loop, "smartstack:spectre", cfg->etc_dir, 10, err, sizeof(err));
    assert_string_equal(clusters_of(rs, &cfg->checks[0]),
                        "norcal-prod -\nnova-prod -\nnorcal-devc -\n");
    assert_int_equal(rs->n, 0);
    regset_free(rs);
    config_free(cfg);
}

/* A malformed topology file of a placement fails the configuration with its
 * position; with a single-cluster backend the files are not read at all. */
static void malformed_topology_fails_the_config(void **state)
{
    char err[4096];
    put("etc/zookeeper_discovery/infrastructure/norcal-prod.yaml", "- [10.0.0.1, 2181]\n");
    put("etc/zookeeper_discovery/infrastructure/nova-prod.yaml", "- [10.1.0.1]\n");
    assert_null(load_host("smartstack", two_superregions_and_devc, err, sizeof(err)));
    if (!strstr(err, "/etc/zookeeper_discovery/infrastructure/nova-prod.yaml:1:3: expected a "
                     "[host, port] pair"))
        fail_msg("got: %s", err);
    char uri[PATH_MAX + 8];
    snprintf(uri, sizeof(uri), "file:%s", tpath("reg"));
    struct mr_config *cfg = load_host(uri, two_superregions_and_devc, err, sizeof(err));
    if (!cfg)
        fail_msg("file: backend: %s", err);
    config_free(cfg);
}

static int host_setup(void **state)
{
    setup(state);
    return tdir_setup(state);
}

static int host_teardown(void **state)
{
    teardown(state);
    return tdir_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_scheme_is_found_by_its_uri),
        cmocka_unit_test(smartstack_cluster_type),
        cmocka_unit_test_setup_teardown(validation_and_construction_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(topology_file_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_topology_files, setup, teardown),
        cmocka_unit_test_setup_teardown(single_cluster_backend_is_one_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(smartstack_builds_one_cluster_per_location, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pending_spans_every_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(placements_pick_clusters, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(malformed_topology_fails_the_config, host_setup,
                                        host_teardown),
    };
    return cmocka_run_group_tests_name("regset", tests, NULL, NULL);
}
