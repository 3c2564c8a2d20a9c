/* Effective checks: registrations vs workers, the instance config, VM mode,
 * probe kinds, labels. `meshreg check` output and reload comparison:
 * test_config_output.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/checks.h"
#include "tests/test_config_util.h"

static const struct check_spec *find(const struct mr_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nchecks; i++)
        if (strcmp(cfg->checks[i].name, name) == 0)
            return &cfg->checks[i];
    fail_msg("no check %s", name);
    return NULL;
}

static const char *label(const struct check_spec *c, const char *key)
{
    for (size_t i = 0; i < c->nlabels; i++)
        if (strcmp(c->labels[i].key, key) == 0)
            return c->labels[i].value;
    return NULL;
}

static void no_entry_for_the_instance_is_a_worker(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "batch", "--smartstack", ss,
                      "--port", "9100", NULL));
    assert_int_equal(cfg->nchecks, 1);
    const struct check_spec *c = &cfg->checks[0];
    assert_string_equal(c->name, "svc.batch");
    assert_false(c->registered);
    assert_null(c->ns);
    assert_int_equal(c->probe, PROBE_TCP);
    assert_int_equal(c->probe_port, 9100);
    assert_int_equal(c->timeout_ms, 1000);
    assert_int_equal(c->interval_ms, 2000);
    assert_int_equal(c->grace_ms, 0);
    config_free(cfg);
}

static void missing_default_smartstack_is_a_worker_but_explicit_is_an_error(void **state)
{
    struct mr_config *cfg;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tdir), 0); /* no ./smartstack.yaml here */
    int rc = load(&cfg, NULL, "--service", "svc", NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_loads(rc);
    assert_false(cfg->checks[0].registered);
    /* start-up warns with the path it looked for */
    assert_string_equal(cfg->checks[0].smartstack_missing, "./smartstack.yaml");
    config_free(cfg);
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack", tpath("nope.yaml"), NULL),
                     -1);
    assert_err_has("nope.yaml: cannot read: No such file or directory");
    /* --worker states the intent: no warning, and no smartstack.yaml is read even if named */
    assert_loads(load(&cfg, NULL, "--service", "svc", "--worker", "--smartstack",
                      tpath("nope.yaml"), NULL));
    assert_false(cfg->checks[0].registered);
    assert_null(cfg->checks[0].smartstack_missing);
    config_free(cfg);
    /* an entry present in the file is still not registered with --worker */
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--worker", "--smartstack", ss, NULL));
    assert_false(cfg->checks[0].registered);
    config_free(cfg);
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--worker", "--registration", "svc.main",
                          "--smartstack", ss, NULL),
                     -1);
    assert_err_has("--worker registers nothing, but registrations are listed");
    /* a smartstack entry that simply lacks the instance: a worker, no warning */
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "batch", "--smartstack", ss,
                      NULL));
    assert_null(cfg->checks[0].smartstack_missing);
    config_free(cfg);
}

/* README "Running it": a listed service whose smartstack.yaml (or whole
 * directory) is missing is a misspelled name, an error with its line. */
static void vm_mode_missing_smartstack_is_an_error(void **state)
{
    struct mr_config *cfg;
    put("soa/web/smartstack.yaml", "main:\n  proxy_port: 20000\n");
    char text[1024], want[PATH_MAX + 200];
    snprintf(text, sizeof(text),
             "soa_dir: %s\n"
             "services:\n"
             "  - service: web\n"
             "    port: 8080\n"
             "  - service: wbe\n"
             "    port: 8081\n"
             "  - service: web\n"
             "    instance: canary\n"
             "    port: 8082\n"
             "    smartstack: %s\n"
             "  - service: web\n"
             "    port: 8083\n"
             "    instance: worker\n"
             "    registrations: []\n",
             tpath("soa"), tpath("gone.yaml"));
    const char *file = put("vm.yaml", text);
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    snprintf(want, sizeof(want), "%s:5:14: services: 'wbe': no directory %s/wbe (misspelled",
             file, tpath("soa"));
    assert_err_has(want);
    snprintf(want, sizeof(want), "%s:7:5: %s: cannot read: No such file", file,
             tpath("gone.yaml"));
    assert_err_has(want);
    assert_int_equal(count_lines(terr), 2);
    /* the directory exists but has no smartstack.yaml: a worker, warned about */
    put("soa/batch/service.yaml", "description: batch\n");
    snprintf(text, sizeof(text), "soa_dir: %s\nservices:\n  - service: batch\n    port: 1\n",
             tpath("soa"));
    file = put("vm2.yaml", text);
    assert_loads(load(&cfg, NULL, "-c", file, NULL));
    assert_false(cfg->checks[0].registered);
    snprintf(want, sizeof(want), "%s/batch/smartstack.yaml", tpath("soa"));
    assert_string_equal(cfg->checks[0].smartstack_missing, want);
    config_free(cfg);
    assert_int_equal(load(&cfg, NULL, "-c", file, "--worker", NULL), -1);
    assert_err_has("not allowed with a services: list");
}

static void explicit_registration_whose_namespace_is_missing_is_an_error(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n");
    char want[PATH_MAX + 128];
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--registration",
                          "svc.main", "--registration", "svc.canary", NULL),
                     -1);
    assert_null(cfg);
    snprintf(want, sizeof(want), "--registration: svc.canary: namespace 'canary' not found in %s",
             ss);
    assert_err_has(want);
    assert_int_equal(count_lines(terr), 1);
    /* the same from a config file points at the list item */
    const char *file = put("m.yaml", "service: svc\nregistrations:\n  - svc.main\n  - svc.nope\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, "--smartstack", ss, NULL), -1);
    assert_err_at(file, "4:5: svc.nope: namespace 'nope' not found");
    /* malformed and duplicate registrations */
    assert_int_equal(
        load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--registration", "nodot", NULL),
        -1);
    assert_err_has("--registration: 'nodot' is not SERVICE.NAMESPACE");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--registration",
                          "svc.main", "--registration", "svc.main", NULL),
                     -1);
    assert_err_has("--registration: svc.main: registration listed twice");
}

static void registration_of_another_service_reads_its_soa_dir_file(void **state)
{
    struct mr_config *cfg;
    put("soa/svc/smartstack.yaml", "main:\n  proxy_port: 20000\n");
    put("soa/other/smartstack.yaml", "api:\n  proxy_port: 20100\n  healthcheck_uri: /ping\n");
    const char *soa = tpath("soa");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--soa-dir", soa, "--registration",
                      "svc.main", "--registration", "other.api", NULL));
    assert_int_equal(cfg->nchecks, 2);
    const struct check_spec *c = find(cfg, "other.api");
    assert_string_equal(c->ns, "api");
    assert_string_equal(c->probe_uri, "/ping");
    assert_true(c->registered);
    config_free(cfg);
    /* without soa_dir it cannot be found */
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack",
                          tpath("soa/svc/smartstack.yaml"), "--registration", "other.api", NULL),
                     -1);
    assert_err_has("--registration: other.api: a registration of another service needs "
                   "--soa-dir");
    /* an invalid file is reported once however many registrations use it */
    put("soa/bad/smartstack.yaml", "a:\n  proxy_port: 1\nb:\n  proxy_port: 20000\n");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--soa-dir", soa, "--registration",
                          "bad.a", "--registration", "bad.b", NULL),
                     -1);
    assert_err_has("soa/bad/smartstack.yaml:2:15: a.proxy_port: 1 is out of range");
    assert_int_equal(count_lines(terr), 1);
}

static void probe_follows_the_smartstack_entry(void **state)
{
    struct mr_config *cfg;
    const char *ss = "tests/fixtures/smartstack/good/modes.yaml";
    const char *ic = put("k.yaml", "main:\n  healthcheck_cmd: /bin/true\n");
    assert_loads(load(&cfg, NULL, "--service", "s", "--smartstack", ss, "--instance-config", ic,
                      "--registration", "s.main", "--registration", "s.tcp", "--registration",
                      "s.tls", "--registration", "s.grpc", "--registration", "s.cmd", NULL));
    const struct check_spec *c = find(cfg, "s.main");
    assert_int_equal(c->probe, PROBE_HTTP); /* mode http2 probes as http */
    assert_int_equal(c->timeout_ms, 500);
    assert_int_equal(c->interval_ms, 1500);
    c = find(cfg, "s.tcp");
    assert_int_equal(c->probe, PROBE_TCP);
    assert_null(c->probe_uri);
    c = find(cfg, "s.tls");
    assert_int_equal(c->probe, PROBE_HTTPS);
    assert_string_equal(c->probe_uri, "/health");
    c = find(cfg, "s.grpc");
    assert_int_equal(c->probe, PROBE_GRPC);
    assert_string_equal(c->probe_uri, "my.pkg.Service");
    c = find(cfg, "s.cmd");
    assert_int_equal(c->probe, PROBE_CMD);
    assert_string_equal(c->probe_cmd, "/bin/true");
    config_free(cfg);
    /* cmd without a command: error at healthcheck_mode */
    assert_int_equal(
        load(&cfg, NULL, "--service", "s", "--smartstack", ss, "--registration", "s.cmd", NULL),
        -1);
    assert_err_has("modes.yaml:22:21: cmd: healthcheck_mode cmd needs a healthcheck_cmd");
}

static void http_details_headers_and_interval_flag(void **state)
{
    struct mr_config *cfg;
    assert_loads(load(&cfg, NULL, "--service", "s", "--smartstack",
                      "tests/fixtures/smartstack/good/full.yaml", "--interval-ms", "250", "--rise",
                      "2", "--fall", "5", NULL));
    const struct check_spec *c = find(cfg, "s.main");
    assert_int_equal(c->probe_port, 8889);
    assert_string_equal(c->probe_uri, "/status?full=1&x=y");
    assert_string_equal(c->body_expect, "OK");
    assert_int_equal(c->nheaders, 3); /* extra_healthcheck_headers, then nerve-tools' own */
    assert_string_equal(c->headers[1].key, "X-Source-Id");
    assert_string_equal(c->headers[1].value, "meshreg");
    assert_string_equal(c->headers[2].key, "x-smartstack-target-identity");
    assert_string_equal(c->headers[2].value, "s.main");
    assert_int_equal(c->timeout_ms, 2500);
    assert_int_equal(c->interval_ms, 250);
    assert_int_equal(c->rise, 2);
    assert_int_equal(c->fall, 5);
    config_free(cfg);
}

static const char *kube = "_defaults: &d\n"
                          "  cpus: lots\n"
                          "  lifecycle:\n"
                          "    pre_stop_drain_seconds: 45\n"
                          "main:\n"
                          "  <<: *d\n"
                          "  registrations: [svc.alt]\n"
                          "  weight: 20\n"
                          "  instances: 3\n"
                          "batch:\n"
                          "  <<: *d\n"
                          "  healthcheck_cmd: test -f /tmp/ok\n"
                          "  healthcheck_interval_seconds: 10\n"
                          "  healthcheck_timeout_seconds: 5\n"
                          "  healthcheck_max_consecutive_failures: 3\n"
                          "  healthcheck_grace_period_seconds: 60\n"
                          "broken:\n"
                          "  weight: heavy\n"
                          "  healthcheck_mode: exec\n"
                          "  lifecycle: {pre_stop_drain_seconds: -1}\n";

static const char *ss_two = "main:\n  proxy_port: 20000\nalt:\n  proxy_port: 20001\n";

static void instance_config_supplies_registrations_weight_and_drain(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_two);
    const char *ic = put("kubernetes-c1.yaml", kube);
    assert_loads(
        load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--instance-config", ic, NULL));
    assert_int_equal(cfg->nchecks, 1);
    assert_string_equal(cfg->checks[0].name, "svc.alt");
    assert_int_equal(cfg->checks[0].weight, 20);
    assert_int_equal(cfg->drain_seconds, 45);
    config_free(cfg);
    /* flags override it */
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--instance-config", ic,
                      "--weight", "5", "--drain-seconds", "7", "--registration", "svc.main", NULL));
    assert_string_equal(cfg->checks[0].name, "svc.main");
    assert_int_equal(cfg->checks[0].weight, 5);
    assert_int_equal(cfg->drain_seconds, 7);
    config_free(cfg);
    /* and it overrides the meshreg config file */
    const char *file = put("m.yaml", "weight: 30\ndrain_seconds: 3\nregistrations: [svc.main]\n");
    assert_loads(load(&cfg, NULL, "-c", file, "--service", "svc", "--smartstack", ss,
                      "--instance-config", ic, NULL));
    assert_string_equal(cfg->checks[0].name, "svc.alt");
    assert_int_equal(cfg->checks[0].weight, 20);
    assert_int_equal(cfg->drain_seconds, 45);
    config_free(cfg);
}

static void instance_config_drives_a_worker_probe(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_two);
    const char *ic = put("kubernetes-c1.yaml", kube);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "batch", "--smartstack", ss,
                      "--instance-config", ic, NULL));
    const struct check_spec *c = find(cfg, "svc.batch");
    assert_false(c->registered);
    assert_int_equal(c->probe, PROBE_CMD);
    assert_string_equal(c->probe_cmd, "test -f /tmp/ok");
    assert_int_equal(c->interval_ms, 10000);
    assert_int_equal(c->timeout_ms, 5000);
    assert_int_equal(c->fall, 3);
    assert_int_equal(c->grace_ms, 60000);
    config_free(cfg);
    /* --fall and --interval-ms win */
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "batch", "--smartstack", ss,
                      "--instance-config", ic, "--fall", "9", "--interval-ms", "100", NULL));
    assert_int_equal(cfg->checks[0].fall, 9);
    assert_int_equal(cfg->checks[0].interval_ms, 100);
    config_free(cfg);
}

static void instance_config_keys_are_type_checked_for_our_instance_only(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_two);
    const char *ic = put("kubernetes-c1.yaml", kube);
    /* main's block is fine even though "broken" is not and cpus is a string */
    assert_loads(
        load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--instance-config", ic, NULL));
    config_free(cfg);
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--instance", "broken", "--smartstack",
                          ss, "--instance-config", ic, NULL),
                     -1);
    char want[PATH_MAX + 128];
    assert_err_at(ic, "18:11: broken.weight: expected integer, got string");
    snprintf(want, sizeof(want), "%s:19:21: broken.healthcheck_mode: string \"exec\" is not one",
             ic);
    assert_err_has(want);
    snprintf(want, sizeof(want),
             "%s:20:39: broken.lifecycle.pre_stop_drain_seconds: -1 is out of range", ic);
    assert_err_has(want);
    assert_int_equal(count_lines(terr), 3);
}

static void instance_config_found_through_soa_dir_and_cluster(void **state)
{
    struct mr_config *cfg;
    put("soa/svc/smartstack.yaml", ss_two);
    put("soa/svc/kubernetes-norcal.yaml", kube);
    const char *env[] = {"PAASTA_CLUSTER=norcal", "MESHREG_SOA_DIR=", NULL};
    assert_loads(load(&cfg, env, "--service", "svc", "--soa-dir", tpath("soa"), NULL));
    assert_string_equal(cfg->checks[0].name, "svc.alt");
    assert_string_equal(cfg->soa_dir, tpath("soa"));
    config_free(cfg);
    /* another cluster has no file: no instance config, no error */
    const char *env2[] = {"PAASTA_CLUSTER=other", NULL};
    assert_loads(load(&cfg, env2, "--service", "svc", "--soa-dir", tpath("soa"), NULL));
    assert_string_equal(cfg->checks[0].name, "svc.main");
    config_free(cfg);
    /* an explicit instance config must exist */
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--soa-dir", tpath("soa"),
                          "--instance-config", tpath("missing.yaml"), NULL),
                     -1);
    assert_err_has("missing.yaml: cannot read: No such file or directory");
}

static void vm_mode_serves_every_listed_service(void **state)
{
    struct mr_config *cfg;
    put("soa/web/smartstack.yaml", "main:\n  proxy_port: 20000\n");
    put("soa/api/smartstack.yaml", "main:\n  proxy_port: 20001\ninternal:\n  proxy_port: null\n"
                                   "  mode: tcp\n");
    char text[1024];
    snprintf(text, sizeof(text),
             "soa_dir: %s/soa\n"
             "services:\n"
             "  - service: web\n"
             "    port: 8080\n"
             "  - service: api\n"
             "    instance: main\n"
             "    port: 8081\n"
             "    registrations: [api.main, api.internal]\n"
             "    weight: 3\n"
             "  - service: batch\n"
             "    instance: worker\n"
             "    port: 8082\n"
             "    healthcheck_cmd: /bin/true\n",
             tdir);
    put("soa/batch/service.yaml", "description: batch\n"); /* its directory, no smartstack */
    const char *file = put("vm.yaml", text);
    assert_loads(load(&cfg, NULL, "-c", file, NULL));
    assert_true(cfg->vm_mode);
    assert_int_equal(cfg->nchecks, 4);
    const struct check_spec *c = find(cfg, "web.main");
    assert_int_equal(c->port, 8080);
    assert_true(c->registered);
    c = find(cfg, "api.internal");
    assert_int_equal(c->port, 8081);
    assert_int_equal(c->probe, PROBE_TCP);
    assert_int_equal(c->weight, 3);
    assert_int_equal(find(cfg, "web.main")->weight, 10);
    c = find(cfg, "batch.worker");
    assert_false(c->registered);
    assert_int_equal(c->probe, PROBE_CMD);
    assert_int_equal(c->port, 8082);
    config_free(cfg);
}

static void vm_mode_errors(void **state)
{
    struct mr_config *cfg;
    const char *file = put("vm.yaml", "services:\n"
                                      "  - service: web\n"
                                      "    port: 8080\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "2:3: services: needs soa_dir");
    assert_int_equal(load(&cfg, NULL, "-c", file, "--soa-dir", tdir, "--service", "x", NULL), -1);
    assert_err_has("--service: not allowed with a services: list (VM mode)");
    file = put("vm2.yaml", "soa_dir: /x\n"
                           "services:\n"
                           "  - service: web\n"
                           "    prot: 8080\n"
                           "  - port: 1\n"
                           "  - service: ../etc\n"
                           "    port: 2\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "4:5: services[0]: unknown key 'prot'");
    assert_err_at(file, "3:5: services[0]: missing required key 'port'");
    assert_err_at(file, "5:5: services[1]: missing required key 'service'");
    file = put("vm3.yaml", "soa_dir: /x\nservices: []\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_has("services: the list is empty");
    file = put("vm4.yaml", "soa_dir: /x\nservices:\n  - service: ../etc\n    port: 2\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "3:14: services: '../etc' is not a valid service name");
}

static void labels_from_locations_extra_advertise_and_env(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n"
                                            "  proxy_port: 20000\n"
                                            "  advertise: [region, habitat]\n"
                                            "  extra_advertise:\n"
                                            "    region:uswest1-prod: [superregion:norcal-prod]\n"
                                            "    region:useast1-prod: [superregion:nova-prod]\n"
                                            "plain:\n"
                                            "  proxy_port: 20001\n");
    const char *file = put("m.yaml", "locations:\n  region: uswest1-prod\n  habitat: uswest1a\n");
    const char *env[] = {"MESHREG_LOCATION_HABITAT=uswest1c", "PAASTA_DEPLOY_GROUP=prod.main",
                         NULL};
    assert_loads(load(&cfg, env, "-c", file, "--service", "svc", "--smartstack", ss,
                      "--registration", "svc.main", "--registration", "svc.plain", NULL));
    const struct check_spec *c = find(cfg, "svc.main");
    assert_string_equal(label(c, "region:uswest1-prod"), "");
    assert_string_equal(label(c, "habitat:uswest1c"), ""); /* env beats the file */
    assert_null(label(c, "habitat:uswest1a"));
    assert_string_equal(label(c, "superregion:norcal-prod"), "");
    assert_null(label(c, "superregion:nova-prod"));
    assert_string_equal(label(c, "deploy_group"), "prod.main");
    assert_string_equal(label(c, "paasta_instance"), "main");
    assert_int_equal(c->nlabels, 5);
    c = find(cfg, "svc.plain");
    assert_string_equal(label(c, "region:uswest1-prod"), ""); /* default advertise [region] */
    assert_int_equal(c->nlabels, 3);
    config_free(cfg);
    /* nothing known: only paasta_instance */
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, NULL));
    assert_int_equal(cfg->checks[0].nlabels, 1);
    assert_string_equal(cfg->checks[0].labels[0].key, "paasta_instance");
    config_free(cfg);
}

static void example_configs_load(void **state)
{
    struct mr_config *cfg;
    assert_loads(load(&cfg, NULL, "-c", "config/examples/meshreg.yaml", "--smartstack",
                      "config/examples/smartstack.yaml", NULL));
    assert_int_equal(cfg->nchecks, 2);
    assert_string_equal(label(find(cfg, "example.main"), "superregion:norcal-prod"), "");
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "--service", "example", "--instance", "worker", "--smartstack",
                      "config/examples/smartstack.yaml", "--instance-config",
                      "config/examples/kubernetes-cluster.yaml", NULL));
    assert_int_equal(cfg->checks[0].probe, PROBE_CMD);
    assert_int_equal(cfg->drain_seconds, 45);
    config_free(cfg);
    /* vm.yaml needs its soa_dir; point it at a scratch one */
    put("soa/example/smartstack.yaml", "main:\n  proxy_port: 20000\n");
    put("soa/billing/smartstack.yaml", "main:\n  proxy_port: 20001\ninternal:\n  proxy_port: "
                                       "20002\n");
    put("soa/batch/service.yaml", "description: batch\n"); /* a worker: no smartstack */
    assert_loads(
        load(&cfg, NULL, "-c", "config/examples/vm.yaml", "--soa-dir", tpath("soa"), NULL));
    assert_int_equal(cfg->nchecks, 4);
    config_free(cfg);
}

/* A smartstack.yaml path that is a directory: named explicitly, an error;
 * the default (soa_dir) one, no registration: a worker. */
static void smartstack_path_that_is_a_directory(void **state)
{
    struct mr_config *cfg;
    put("soa/svc/smartstack.yaml/placeholder", "");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--smartstack",
                          tpath("soa/svc/smartstack.yaml"), NULL),
                     -1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory",
             tpath("soa/svc/smartstack.yaml"));
    assert_err_has(want);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--soa-dir", tpath("soa"), NULL));
    assert_false(cfg->checks[0].registered);
    config_free(cfg);
}

/* A smartstack.yaml that exists but is invalid fails the load, even when
 * it was only found by default (no registration asked for). */
static void invalid_default_smartstack_is_an_error(void **state)
{
    struct mr_config *cfg;
    put("soa/svc/smartstack.yaml", "main:\n  proxy_port: 5\n");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--soa-dir", tpath("soa"), NULL), -1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:2:15: main.proxy_port: 5 is out of range",
             tpath("soa/svc/smartstack.yaml"));
    assert_err_has(want);
    assert_int_equal(count_lines(terr), 1);
}

/* Registrations named in an instance config are checked like flags, at
 * their place in that file; another service's file must exist. */
static void registrations_from_the_instance_config_are_checked(void **state)
{
    struct mr_config *cfg;
    put("soa/svc/smartstack.yaml", "main:\n  proxy_port: 20000\n");
    const char *ic = put("k.yaml", "main:\n"
                                   "  registrations:\n"
                                   "    - nodot\n"
                                   "    - a/b.main\n"
                                   "    - other.api\n"
                                   "    - svc.main\n");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--soa-dir", tpath("soa"),
                          "--instance-config", ic, NULL),
                     -1);
    char want[PATH_MAX + 200];
    assert_err_at(ic, "3:7: 'nodot' is not SERVICE.NAMESPACE");
    assert_err_at(ic, "4:7: a/b.main: 'a/b' is not a valid service name");
    snprintf(want, sizeof(want),
             "%s:5:7: other.api: cannot read %s/other/smartstack.yaml: No such file or directory",
             ic, tpath("soa"));
    assert_err_has(want);
    assert_int_equal(count_lines(terr), 3);
}

/* Worker probes chosen by the instance config's healthcheck_mode. */
static void worker_modes_from_the_instance_config(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n");
    static const struct {
        const char *mode;
        enum probe_kind kind;
        const char *uri;
    } modes[] = {{"http", PROBE_HTTP, "/status"},
                 {"https", PROBE_HTTPS, "/status"},
                 {"grpc", PROBE_GRPC, ""},
                 {"tcp", PROBE_TCP, NULL}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text),
                 "w:\n  healthcheck_mode: %s\n"
                 "  healthcheck_grace_period_seconds: 2.5\n",
                 modes[i].mode);
        const char *ic = put("k.yaml", text);
        assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "w", "--smartstack", ss,
                          "--instance-config", ic, NULL));
        const struct check_spec *c = &cfg->checks[0];
        assert_false(c->registered);
        assert_int_equal(c->probe, modes[i].kind);
        if (modes[i].uri)
            assert_string_equal(c->probe_uri, modes[i].uri);
        else
            assert_null(c->probe_uri);
        assert_int_equal(c->grace_ms, 2500);
        config_free(cfg);
    }
    /* cmd without a command */
    const char *ic = put("k.yaml", "w:\n  healthcheck_mode: cmd\n");
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--instance", "w", "--smartstack", ss,
                          "--instance-config", ic, NULL),
                     -1);
    assert_string_equal(terr, "svc.w: healthcheck_mode cmd needs a healthcheck_cmd");
}

/* Labels are not repeated when an extra_advertise target equals one the
 * advertise list already gave. */
static void labels_are_not_repeated(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n"
                                            "  proxy_port: 20000\n"
                                            "  extra_advertise:\n"
                                            "    region:uswest1-prod: [region:uswest1-prod, "
                                            "superregion:x, superregion:x]\n");
    const char *env[] = {"MESHREG_LOCATION_REGION=uswest1-prod", NULL};
    assert_loads(load(&cfg, env, "--service", "svc", "--smartstack", ss, NULL));
    const struct check_spec *c = &cfg->checks[0];
    assert_int_equal(c->nlabels, 3);
    assert_string_equal(c->labels[0].key, "region:uswest1-prod");
    assert_string_equal(c->labels[1].key, "superregion:x");
    assert_string_equal(c->labels[2].key, "paasta_instance");
    config_free(cfg);
}

/* VM mode: per-item instance config, mode, smartstack path and weight;
 * items checked (names, instance config errors, listed twice). */
static void vm_mode_items(void **state)
{
    struct mr_config *cfg;
    put("soa/web/smartstack.yaml", "main:\n  proxy_port: 20000\n"
                                   "canary:\n  proxy_port: 20001\n");
    const char *custom = put("custom-ss.yaml", "main:\n  proxy_port: 20002\n  mode: tcp\n");
    put("soa/job/service.yaml", "description: job\n");
    const char *ic = put("soa/web/kubernetes-c1.yaml", "main:\n  registrations: [web.canary]\n"
                                                       "  weight: 4\n");
    char text[2048];
    snprintf(text, sizeof(text),
             "soa_dir: %s\n"
             "services:\n"
             "  - service: web\n"
             "    port: 8080\n"
             "  - service: api\n"
             "    port: 8081\n"
             "    smartstack: %s\n"
             "    weight: 9\n"
             "  - service: job\n"
             "    instance: run\n"
             "    port: 8082\n"
             "    healthcheck_mode: grpc\n",
             tpath("soa"), custom);
    const char *file = put("vm.yaml", text);
    const char *env[] = {"PAASTA_CLUSTER=c1", NULL};
    assert_loads(load(&cfg, env, "-c", file, NULL));
    assert_int_equal(cfg->nchecks, 3);
    const struct check_spec *c = find(cfg, "web.canary"); /* from the instance config */
    assert_int_equal(c->weight, 4);
    assert_int_equal(c->port, 8080);
    c = find(cfg, "api.main");
    assert_int_equal(c->probe, PROBE_TCP);
    assert_int_equal(c->weight, 9);
    c = find(cfg, "job.run");
    assert_false(c->registered);
    assert_int_equal(c->probe, PROBE_GRPC);
    config_free(cfg);
    /* a weight from the environment or a flag beats the item's */
    assert_loads(load(&cfg, env, "-c", file, "--weight", "1", NULL));
    assert_int_equal(find(cfg, "api.main")->weight, 1);
    config_free(cfg);
    (void)ic;

    char want[PATH_MAX + 200];
    snprintf(text, sizeof(text),
             "soa_dir: %s\n"
             "services:\n"
             "  - service: web\n"
             "    instance: ../x\n"
             "    port: 1\n"
             "  - service: web\n"
             "    port: 2\n"
             "    instance_config: %s\n"
             "  - service: web\n"
             "    port: 3\n"
             "  - service: web\n"
             "    port: 4\n",
             tpath("soa"), tpath("missing.yaml"));
    file = put("vm2.yaml", text);
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "4:15: services: '../x' is not a valid instance name");
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory",
             tpath("missing.yaml"));
    assert_err_has(want);
    assert_err_at(file, "11:5: web.main: listed twice");
    assert_int_equal(count_lines(terr), 3);

    /* per-service keys in the file next to services: */
    snprintf(text, sizeof(text), "soa_dir: %s\nport: 5\nservices:\n  - service: web\n    port: 1\n",
             tpath("soa"));
    file = put("vm3.yaml", text);
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "2:7: not allowed with a services: list (VM mode)");
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
    const struct CMUnitTest tests[] = {
        T(no_entry_for_the_instance_is_a_worker),
        T(missing_default_smartstack_is_a_worker_but_explicit_is_an_error),
        T(explicit_registration_whose_namespace_is_missing_is_an_error),
        T(registration_of_another_service_reads_its_soa_dir_file),
        T(probe_follows_the_smartstack_entry),
        T(http_details_headers_and_interval_flag),
        T(instance_config_supplies_registrations_weight_and_drain),
        T(instance_config_drives_a_worker_probe),
        T(instance_config_keys_are_type_checked_for_our_instance_only),
        T(instance_config_found_through_soa_dir_and_cluster),
        T(vm_mode_serves_every_listed_service),
        T(vm_mode_errors),
        T(vm_mode_missing_smartstack_is_an_error),
        T(labels_from_locations_extra_advertise_and_env),
        T(example_configs_load),
        T(smartstack_path_that_is_a_directory),
        T(registrations_from_the_instance_config_are_checked),
        T(worker_modes_from_the_instance_config),
        T(labels_are_not_repeated),
        T(vm_mode_items),
        T(invalid_default_smartstack_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
