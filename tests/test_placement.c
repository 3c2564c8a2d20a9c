/* Placements (config/placement.c) as nerve-tools' configure_nerve computes
 * them, through config_load on a host layout in a scratch directory
 * (tests/location_fixture.h: a host in habitat uswest1aprod, region
 * uswest1-prod, superregion norcal-prod, ecosystem prod): advertise,
 * extra_advertise (source matching, no upcast, conversion into each advertise
 * type), clusters of --zk-location-type, custom labels of --labels-dir,
 * deploy_group/paasta_instance, the labels single-cluster backends write,
 * the health check identity header and defaults, `meshreg check` output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/location.h"
#include "config/placement.h"
#include "tests/location_fixture.h"

static void kvs_append(char *out, size_t len, const struct kv *l, size_t n)
{
    for (size_t j = 0; j < n; j++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s%s%s", j ? "," : "", l[j].key,
                 l[j].value[0] ? "=" : "", l[j].value);
}

/* "ZK: labels" per placement, one a line ("-" for no cluster). */
static const char *placements(const struct check_spec *c)
{
    static char out[4096];
    out[0] = '\0';
    for (size_t i = 0; i < c->placements.n; i++) {
        const struct placement *p = &c->placements.v[i];
        snprintf(out + strlen(out), sizeof(out) - strlen(out),
                 "%s: ", p->zk_location ? p->zk_location : "-");
        kvs_append(out, sizeof(out), p->labels, p->nlabels);
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "\n");
    }
    return out;
}

static const char *labels(const struct check_spec *c)
{
    static char out[4096];
    out[0] = '\0';
    kvs_append(out, sizeof(out), c->labels, c->nlabels);
    return out;
}

static const char *notes(const struct check_spec *c)
{
    static char out[4096];
    out[0] = '\0';
    for (size_t i = 0; i < c->placements.nnotes; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s\n", c->placements.notes[i]);
    return out;
}

/* config_load of service svc (port 8888) with this smartstack.yaml and the
 * host layout in tdir/etc; more arguments may follow (NULL-terminated). */
static struct mr_config *load_ss(const char *const *env, const char *yaml, ...)
{
    const char *args[32] = {"--service", "svc",        "--smartstack", put("ss.yaml", yaml),
                            "--etc-dir", tpath("etc"), "--labels-dir", tpath("labels")};
    int n = 8;
    va_list ap;
    va_start(ap, yaml);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    struct mr_config *cfg = NULL;
    terr[0] = '\0';
    static const char *const noenv[] = {NULL};
    if (config_load(n, (char **)args, (char **)(env ? env : noenv), &cfg, terr, sizeof(terr)) < 0)
        fail_msg("config_load failed:\n%s", terr);
    return cfg;
}

/* One load and what it must place where. */
struct placed {
    const char *const *env;
    const char *yaml;
    const char *flag, *value; /* one more option, or NULL */
    const char *placements;   /* as placements() prints them */
    const char *labels;       /* NULL: not checked */
    const char *notes;        /* NULL: not checked */
};

/* Loads w's configuration and checks it; returns it for further checks (the
 * caller frees it). */
static struct mr_config *expect_placed(const struct placed *w)
{
    struct mr_config *cfg = load_ss(w->env, w->yaml, w->flag, w->value, NULL);
    const struct check_spec *c = &cfg->checks[0];

    if (strcmp(placements(c), w->placements) != 0)
        fail_msg("%s%s %s: placements\n%swant\n%s", w->yaml, w->flag ? w->flag : "",
                 w->value ? w->value : "", placements(c), w->placements);
    if (w->labels)
        assert_string_equal(labels(c), w->labels);
    if (w->notes)
        assert_string_equal(notes(c), w->notes);
    return cfg;
}

static void expect_all_placed(const struct placed *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        config_free(expect_placed(&w[i]));
}

#define MAIN_20000 "main:\n  proxy_port: 20000\n"
#define REGION_MAIN "region:uswest1-prod,paasta_instance=main"

static void default_advertise_is_the_region(void **state)
{
    put_host_layout();
    struct mr_config *cfg = expect_placed(&(struct placed){
        .yaml = MAIN_20000,
        .placements = "norcal-prod: " REGION_MAIN "\n",
        .labels = REGION_MAIN,
        .notes = "",
    });
    assert_string_equal(cfg->checks[0].placements.v[0].adv_type, "region");
    assert_string_equal(cfg->checks[0].placements.v[0].adv_loc, "uswest1-prod");
    config_free(cfg);
}

static void extra_advertise_is_converted_into_each_advertise_type(void **state)
{
    put_host_layout();
    /* superregion nova-prod reaches both advertise types (down); habitat
     * useast1bprod only the habitat type (region would be an upcast); each
     * location lands in the cluster of its superregion; the single-cluster
     * record carries every location */
    struct mr_config *cfg = expect_placed(&(struct placed){
        .yaml = MAIN_20000 "  advertise: [habitat, region]\n"
                           "  extra_advertise:\n"
                           "    region:uswest1-prod: [superregion:nova-prod, habitat:useast1bprod,"
                           " region:uswest2-prod]\n",
        .placements = "norcal-prod: habitat:uswest1aprod,region:uswest1-prod,habitat:shared,"
                      "habitat:uswest2aprod,region:uswest2-prod,paasta_instance=main\n"
                      "nova-prod: habitat:useast1aprod,habitat:useast1bprod,region:useast1-prod,"
                      "paasta_instance=main\n",
        .labels = "habitat:uswest1aprod,region:uswest1-prod,habitat:shared,"
                  "habitat:uswest2aprod,region:uswest2-prod,habitat:useast1aprod,"
                  "habitat:useast1bprod,region:useast1-prod,paasta_instance=main",
    });
    const struct check_spec *c = &cfg->checks[0];
    assert_int_equal(c->placements.v[1].nadvertised, 3);
    assert_string_equal(c->placements.v[1].adv_type, "habitat");
    assert_string_equal(c->placements.v[1].adv_loc, "useast1aprod");
    config_free(cfg);
}

static void upcast_is_refused(void **state)
{
    const struct placed w[] = {
        /* advertise [region]: a habitat destination would open the service
         * to its whole region */
        {.yaml = MAIN_20000 "  extra_advertise:\n"
                            "    habitat:uswest1aprod: [habitat:useast1aprod]\n",
         .placements = "norcal-prod: " REGION_MAIN "\n",
         .labels = REGION_MAIN,
         .notes = ""},
        /* the same destination with habitat advertised goes through */
        {.yaml = MAIN_20000 "  advertise: [region, habitat]\n  extra_advertise:\n"
                            "    habitat:uswest1aprod: [habitat:useast1aprod]\n",
         .placements =
             "norcal-prod: region:uswest1-prod,habitat:uswest1aprod,paasta_instance=main\n"
             "nova-prod: habitat:useast1aprod,paasta_instance=main\n"},
    };

    put_host_layout();
    expect_all_placed(w, sizeof(w) / sizeof(w[0]));
}

static void sources_not_matching_this_host_are_ignored(void **state)
{
    const char *env[] = {"MESHREG_LOCATION_RACK=r1", NULL};

    put_host_layout();
    config_free(expect_placed(&(struct placed){
        .env = env,
        .yaml = MAIN_20000 "  extra_advertise:\n"
                           "    region:useast1-prod: [region:uswest2-prod]\n"
                           "    habitat:uswest1bprod: [superregion:nova-prod]\n"
                           "    rack:r2: [region:useast1-prod]\n"
                           "    zone:z1: [region:useast1-prod]\n",
        .placements = "norcal-prod: " REGION_MAIN "\n",
        .notes = "",
    }));
}

static void downcast_across_an_ecosystem_and_other_cluster_types(void **state)
{
    const char *yaml = MAIN_20000 "  advertise: [superregion]\n"
                                  "  extra_advertise:\n    ecosystem:prod: [ecosystem:devc]\n";
    char want[PATH_MAX + 256];
    struct mr_config *cfg;

    put_host_layout();
    config_free(expect_placed(&(struct placed){
        .yaml = yaml,
        .placements = "norcal-prod: superregion:norcal-prod,paasta_instance=main\n"
                      "norcal-devc: superregion:norcal-devc,paasta_instance=main\n",
    }));
    /* clusters per region: a superregion spreads over its regions */
    cfg = expect_placed(&(struct placed){
        .yaml = yaml,
        .flag = "--zk-location-type",
        .value = "region",
        .placements = "uswest1-prod: superregion:norcal-prod,paasta_instance=main\n"
                      "uswest2-prod: superregion:norcal-prod,paasta_instance=main\n"
                      "uswest1-devc: superregion:norcal-devc,paasta_instance=main\n",
    });
    assert_string_equal(cfg->zk_location_type, "region");
    config_free(cfg);
    /* a cluster type the hierarchy does not have: no cluster, said once */
    snprintf(want, sizeof(want),
             "--zk-location-type rack: not a location type of %s\n"
             "region:uswest1-prod: unknown location type 'rack' (not in %s): no cluster known\n",
             tpath("etc/services/location_types.json"), tpath("etc/services/location_types.json"));
    config_free(expect_placed(&(struct placed){
        .yaml = MAIN_20000,
        .flag = "--zk-location-type",
        .value = "rack",
        .placements = "-: " REGION_MAIN "\n",
        .notes = want,
    }));
}

static void unknown_destinations_are_skipped_with_a_note(void **state)
{
    char want[2 * PATH_MAX + 256];

    put_host_layout();
    snprintf(want, sizeof(want),
             "extra_advertise destination region:mars: unknown location region:mars (not in %s), "
             "skipped\n"
             "extra_advertise destination rack:r1: unknown location type 'rack' (not in %s), "
             "skipped\n",
             tpath("etc/services/location_mapping.json"),
             tpath("etc/services/location_types.json"));
    config_free(expect_placed(&(struct placed){
        .yaml = MAIN_20000 "  extra_advertise:\n"
                           "    region:uswest1-prod: [region:mars, rack:r1]\n",
        .placements = "norcal-prod: " REGION_MAIN "\n",
        .notes = want,
    }));
}

static void without_hierarchy_destinations_are_taken_as_written(void **state)
{
    put("etc/region", "uswest1-prod\n"); /* no location_*.json */
    config_free(expect_placed(&(struct placed){
        .yaml = MAIN_20000 "  extra_advertise:\n"
                           "    region:uswest1-prod: [habitat:useast1aprod]\n",
        .placements = "-: region:uswest1-prod,habitat:useast1aprod,paasta_instance=main\n",
        .labels = "region:uswest1-prod,habitat:useast1aprod,paasta_instance=main",
        .notes = "",
    }));
}

static void a_host_without_layout_keeps_todays_labels(void **state)
{
    const char *env[] = {"PAASTA_DEPLOY_GROUP=prod.canary", NULL};

    config_free(expect_placed(&(struct placed){
        .env = env,
        .yaml = MAIN_20000,
        .placements = "", /* none */
        .labels = "deploy_group=prod.canary,paasta_instance=main",
        .notes = "",
    }));
    /* advertise: [] registers nowhere, as nerve-tools does; the single-cluster
     * record keeps its other labels */
    put_host_layout();
    config_free(expect_placed(&(struct placed){
        .yaml = MAIN_20000 "  advertise: []\n",
        .placements = "",
        .labels = "paasta_instance=main",
    }));
}

static void unknown_host_location_is_a_note(void **state)
{
    char want[PATH_MAX + 256];

    put_host_layout();
    remove(tpath("etc/habitat"));
    snprintf(want, sizeof(want),
             "advertise habitat: this host's habitat is unknown (no %s/habitat file, locations: "
             "entry or MESHREG_LOCATION_ variable)\n",
             tpath("etc"));
    config_free(expect_placed(&(struct placed){
        .yaml = MAIN_20000 "  advertise: [habitat, region]\n",
        .placements = "norcal-prod: " REGION_MAIN "\n",
        .notes = want,
    }));
}

static void host_location_precedence_env_config_files(void **state)
{
    const char *env[] = {"MESHREG_LOCATION_REGION=useast1-prod", NULL};
    const char *env2[] = {"MESHREG_ETC_DIR=/nonexistent", NULL};

    put_host_layout();
    const char *file = put("m.yaml", "locations:\n  region: uswest2-prod\n");
    const struct placed w[] = {
        {.yaml = MAIN_20000,
         .flag = "-c",
         .value = file,
         .placements = "norcal-prod: region:uswest2-prod,paasta_instance=main\n"},
        {.env = env,
         .yaml = MAIN_20000,
         .flag = "-c",
         .value = file,
         .placements = "nova-prod: region:useast1-prod,paasta_instance=main\n"},
    };
    expect_all_placed(w, sizeof(w) / sizeof(w[0]));
    /* --etc-dir from the environment and the config file */
    struct mr_config *cfg = load_ss(env2, MAIN_20000, NULL);
    assert_string_equal(cfg->etc_dir, tpath("etc")); /* the flag wins */
    config_free(cfg);
}

static void custom_labels_from_the_labels_dir(void **state)
{
    put_host_layout();
    put("labels/svc.main8888", "team: web\ndeploy_group: mine\n'region:uswest1-prod': taken\n");
    put("labels/svc.main8888z.yaml", "team: mobile\ntier: 2\nempty:\n");
    put("labels/svc.main88881", "glob: matches\n"); /* nerve-tools' glob "<svc.ns><port>*" */
    put("labels/svc.main9999", "port: other\n");
    put("labels/svc.canary8888", "name: other\n");
    put("labels/svc.main8888.d/x", "a directory: skipped\n");
    const char *env[] = {"PAASTA_DEPLOY_GROUP=prod.main", NULL};
    struct mr_config *cfg = load_ss(env, "main:\n  proxy_port: 20000\n", NULL);
    const struct check_spec *c = &cfg->checks[0];
    /* location labels and deploy_group/paasta_instance win over custom ones;
     * later files win over earlier ones */
    assert_string_equal(placements(c),
                        "norcal-prod: region:uswest1-prod,team=mobile,deploy_group=prod.main,"
                        "glob=matches,tier=2,empty,paasta_instance=main\n");
    assert_string_equal(labels(c), "region:uswest1-prod,team=mobile,deploy_group=prod.main,"
                                   "glob=matches,tier=2,empty,paasta_instance=main");
    config_free(cfg);
    /* no labels directory: none */
    cfg = load_ss(NULL, "main:\n  proxy_port: 20000\n", "--labels-dir", tpath("nope"), NULL);
    assert_string_equal(labels(&cfg->checks[0]), "region:uswest1-prod,paasta_instance=main");
    config_free(cfg);
}

static void malformed_labels_files_are_errors(void **state)
{
    static const struct {
        const char *content, *err; /* the error: the file's path, then err */
    } bad[] = {
        {"- a\n- b\n", ":1:1: labels: expected a map of label -> value, got list"},
        {"team: [a, b]\n", ":1:7: label team: expected a scalar value, got list"},
        {"team: 'unterminated\n", ":"},
    };
    struct mr_config *cfg = NULL;
    const char *ss = put("ss.yaml", "main:\n  proxy_port: 20000\n");
    char want[PATH_MAX + 128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *f = put("labels/svc.main8888", bad[i].content);

        snprintf(want, sizeof(want), "%s%s", f, bad[i].err);
        assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--labels-dir",
                              tpath("labels"), NULL),
                         -1);
        assert_err_has(want);
    }
    /* an empty file is no labels */
    put("labels/svc.main8888", "");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--labels-dir",
                      tpath("labels"), NULL));
    assert_string_equal(labels(&cfg->checks[0]), "paasta_instance=main");
    config_free(cfg);
}

static void malformed_layout_fails_the_load(void **state)
{
    put_host_layout();
    put("etc/superregion", "norcal-prod\nnova-prod\n");
    struct mr_config *cfg = NULL;
    const char *ss = put("ss.yaml", "main:\n  proxy_port: 20000\n");
    assert_int_equal(
        load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--etc-dir", tpath("etc"), NULL),
        -1);
    assert_null(cfg);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "%s: expected one location name on one line",
             tpath("etc/superregion"));
    assert_err_has(want);
    /* --zk-location-type is a type name */
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--zk-location-type",
                          "../x", NULL),
                     -1);
    assert_err_has("--zk-location-type: '../x' is not a valid name");
}

static void identity_header_and_nerve_check_defaults(void **state)
{
    struct mr_config *cfg =
        load_ss(NULL,
                "main:\n  proxy_port: 20000\n  healthcheck_timeout_s: 3\n"
                "  extra_healthcheck_headers:\n"
                "    X-Smartstack-Target-Identity: spoofed\n"
                "    X-Other: '1'\n"
                "raw:\n  proxy_port: 20001\n  mode: tcp\n",
                "--registration", "svc.main", "--registration", "svc.raw", NULL);
    const struct check_spec *c = &cfg->checks[0];
    /* nerve-tools sets its own value after the extra headers: it wins */
    assert_int_equal(c->nheaders, 2);
    assert_string_equal(c->headers[0].key, "X-Other");
    assert_string_equal(c->headers[1].key, "x-smartstack-target-identity");
    assert_string_equal(c->headers[1].value, "svc.main");
    /* nerve-tools' check: interval timeout + 1 s, rise 1, fall 2 */
    assert_int_equal(c->timeout_ms, 3000);
    assert_int_equal(c->interval_ms, 4000);
    assert_int_equal(c->rise, 1);
    assert_int_equal(c->fall, 2);
    assert_int_equal(cfg->checks[1].probe, PROBE_TCP);
    assert_int_equal(cfg->checks[1].nheaders, 0);
    config_free(cfg);
}

static void check_output_prints_every_placement(void **state)
{
    put_host_layout();
    struct mr_config *cfg = load_ss(NULL,
                                    "main:\n  proxy_port: 20000\n  extra_advertise:\n"
                                    "    region:uswest1-prod: [region:useast1-prod, region:mars]\n",
                                    "--host", "10.1.2.3", "--instance-id", "h1", "--backend",
                                    "file:/reg", NULL);
    char *out = config_printed(cfg), want[PATH_MAX + 1024];
    snprintf(want, sizeof(want),
             "svc.main: http://127.0.0.1:8888/status interval 2000ms rise 1 fall 2 timeout 1000ms "
             "weight 10 register 10.1.2.3:8888 as h1 in file:/reg labels "
             "region:uswest1-prod,region:useast1-prod,paasta_instance=main\n"
             "  placement superregion:norcal-prod path /smartstack/global/svc.main labels "
             "region:uswest1-prod,paasta_instance=main\n"
             "  placement superregion:nova-prod path /smartstack/global/svc.main labels "
             "region:useast1-prod,paasta_instance=main\n"
             "  note: extra_advertise destination region:mars: unknown location region:mars "
             "(not in %s), skipped\n",
             tpath("etc/services/location_mapping.json"));
    assert_string_equal(out, want);
    free(out);
    config_free(cfg);
}

/* The smartstack backend's hook: clusters exist for norcal-prod only. */
static bool only_norcal(const char *zk, char *desc, size_t len, void *arg)
{
    (void)arg;
    if (strcmp(zk, "norcal-prod") != 0)
        return false;
    snprintf(desc, len, "zk://10.0.0.1:2181");
    return true;
}

static void smartstack_print_hook_and_warning(void **state)
{
    put_host_layout();
    struct mr_config *cfg = load_ss(NULL,
                                    "main:\n  proxy_port: 20000\n  extra_advertise:\n"
                                    "    region:uswest1-prod: [region:useast1-prod]\n",
                                    NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    placement_print(f, &cfg->checks[0], "superregion", only_norcal, NULL, true);
    fclose(f);
    assert_string_equal(buf, "  placement superregion:norcal-prod path /smartstack/global/svc.main "
                             "labels region:uswest1-prod,paasta_instance=main cluster "
                             "zk://10.0.0.1:2181\n"
                             "  placement superregion:nova-prod path /smartstack/global/svc.main "
                             "labels region:useast1-prod,paasta_instance=main (no cluster: "
                             "skipped)\n");
    free(buf);
    config_free(cfg);
    /* in nova-prod only: no placement has a cluster */
    const char *env[] = {"MESHREG_LOCATION_REGION=useast1-prod", NULL};
    cfg = load_ss(env, "main:\n  proxy_port: 20000\n", NULL);
    f = open_memstream(&buf, &len);
    placement_print(f, &cfg->checks[0], "superregion", only_norcal, NULL, true);
    placement_print(f, &cfg->checks[0], "superregion", only_norcal, NULL, false);
    fclose(f);
    assert_string_equal(buf, "  placement superregion:nova-prod path /smartstack/global/svc.main "
                             "labels region:useast1-prod,paasta_instance=main (no cluster: "
                             "skipped)\n"
                             "  warning: svc.main: no placement: this registration is registered "
                             "nowhere\n"
                             "  placement superregion:nova-prod path /smartstack/global/svc.main "
                             "labels region:useast1-prod,paasta_instance=main (no cluster: "
                             "skipped)\n");
    free(buf);
    config_free(cfg);
}

static void placement_compute_on_a_spec(void **state)
{
    /* what the smartstack backend can call itself; sources and destinations
     * that are not TYPE:LOCATION (PaaSTA only warns about them) are skipped */
    struct location_db *db = location_db_load(put_host_layout(), NULL, terr, sizeof(terr));
    assert_non_null(db);
    char *adv[] = {"region"};
    struct kv x[] = {{"nocolon", "region:useast1-prod"},
                     {"region:uswest1-prod", "a:b:c"},
                     {"region:uswest1-prod", "region:useast1-prod"}};
    struct check_spec c;
    memset(&c, 0, sizeof(c));
    c.name = "svc.main";
    c.instance = "main";
    c.place_in.advertise = adv;
    c.place_in.nadvertise = 1;
    c.place_in.extra_advertise = x;
    c.place_in.nextra_advertise = 3;
    struct placement_set a, b;
    char err[256];
    assert_int_equal(placement_compute(db, &c, "superregion", &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.v[1].zk_location, "nova-prod");
    assert_int_equal(a.nnotes, 2);
    assert_string_equal(a.notes[0], "extra_advertise source 'nocolon': not TYPE:LOCATION, skipped");
    assert_string_equal(a.notes[1], "extra_advertise destination 'a:b:c': not TYPE:LOCATION, "
                                    "skipped");
    assert_int_equal(placement_compute(db, &c, "superregion", &b, err, sizeof(err)), 0);
    assert_true(placement_set_equal(&a, &b));
    placement_set_free(&b);
    assert_int_equal(placement_compute(db, &c, "region", &b, err, sizeof(err)), 0);
    assert_false(placement_set_equal(&a, &b));
    placement_set_free(&b);
    assert_int_equal(placement_compute(db, NULL, "region", &b, err, sizeof(err)), -1);
    placement_set_free(&a);
    placement_set_free(NULL);
    placement_input_clear(NULL);
    location_db_free(db);
}

static void reload_sees_a_changed_placement(void **state)
{
    put_host_layout();
    const char *yaml = "main:\n  proxy_port: 20000\n";
    struct mr_config *a = load_ss(NULL, yaml, NULL), *b = load_ss(NULL, yaml, NULL);
    assert_true(config_check_same(&a->checks[0], &b->checks[0]));
    config_free(b);
    /* same labels, another cluster: the region moved to another superregion */
    put("etc/services/location_mapping.json",
        "{\"prod_ecosystem\": {\"nova-prod_superregion\": {\"uswest1-prod_region\": {}}}}");
    b = load_ss(NULL, yaml, NULL);
    assert_string_equal(labels(&a->checks[0]), labels(&b->checks[0]));
    assert_false(config_check_same(&a->checks[0], &b->checks[0]));
    config_free(a);
    config_free(b);
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
    const struct CMUnitTest tests[] = {
        T(default_advertise_is_the_region),
        T(extra_advertise_is_converted_into_each_advertise_type),
        T(upcast_is_refused),
        T(sources_not_matching_this_host_are_ignored),
        T(downcast_across_an_ecosystem_and_other_cluster_types),
        T(unknown_destinations_are_skipped_with_a_note),
        T(without_hierarchy_destinations_are_taken_as_written),
        T(a_host_without_layout_keeps_todays_labels),
        T(unknown_host_location_is_a_note),
        T(host_location_precedence_env_config_files),
        T(custom_labels_from_the_labels_dir),
        T(malformed_labels_files_are_errors),
        T(malformed_layout_fails_the_load),
        T(identity_header_and_nerve_check_defaults),
        T(check_output_prints_every_placement),
        T(smartstack_print_hook_and_warning),
        T(placement_compute_on_a_spec),
        T(reload_sees_a_changed_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
