/* smartstack.yaml validation (a corpus of bad and good files) and the sidecar
 * settings: flags, environment, config file, defaults and their precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>

#include <signal.h>
#include <sys/wait.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/smartstack.h"
#include "tests/failalloc.h"
#include "tests/test_config_util.h"

#define BAD "tests/fixtures/smartstack/bad/"
#define GOOD "tests/fixtures/smartstack/good/"
#define WARN "tests/fixtures/smartstack/warn/"
#define CORPUS "tests/fixtures/smartstack_corpus/"

/* Each bad file and the exact "LINE:COL: message" it must produce. */
static const struct {
    const char *file;
    const char *want;
} bad[] = {
    {"unknown_key.yaml", "3:3: main: unknown key 'proxyport'"},
    {"proxy_port_quoted.yaml",
     "2:15: main.proxy_port: expected integer or null, got string \"20000\""},
    {"proxy_port_range.yaml", "2:15: main.proxy_port: 30000 is out of range 19000..21000"},
    {"proxy_port_missing.yaml", "1:1: main: missing required key 'proxy_port'"},
    /* a quoted key's line break must not split the error (or forge a second one) */
    {"key_with_line_break.yaml", "3:3: main: unknown key 'bad x.yaml:1:1: fake'"},
    {"uri_no_slash.yaml",
     "3:20: main.healthcheck_uri: \"status\" does not match ^/[-_0-9a-zA-Z/\\?&\\.=]*$"},
    {"uri_space.yaml", "3:20: main.healthcheck_uri: \"/sta tus\" does not match"},
    {"mode_enum.yaml", "3:9: main.mode: string \"udp\" is not one of: http, https, http2, tcp"},
    {"hc_mode_enum.yaml", "3:21: main.healthcheck_mode: string \"exec\" is not one of: http, "
                          "https, http2, tcp, cmd, grpc"},
    {"timeout_range.yaml", "3:26: main.healthcheck_timeout_s: 11 is out of range 0..10"},
    {"timeout_type.yaml", "3:26: main.healthcheck_timeout_s: expected number, got string \"fast\""},
    {"retries_range.yaml", "3:12: main.retries: 11 is out of range 0..10"},
    {"retries_float.yaml", "3:12: main.retries: expected integer, got number 2.5"},
    {"updown_range.yaml", "3:21: main.updown_timeout_s: 86400001 is out of range 0..86400000"},
    {"balance.yaml", "3:12: main.balance: \"random\" does not match ^(leastconn|roundrobin)$"},
    {"header_value_int.yaml",
     "4:12: main.extra_healthcheck_headers.X-Foo: expected string, got integer 1"},
    {"headers_list.yaml", "3:30: main.extra_healthcheck_headers: expected map, got list"},
    {"advertise_string.yaml", "3:14: main.advertise: expected list, got string \"region\""},
    {"top_list.yaml", "1:1: top level: expected a map of namespace -> settings, got list"},
    {"scalar_top.yaml", "1:1: top level: expected a map of namespace -> settings, got string"},
    {"empty.yaml", "1:1: empty file: expected a map of namespace -> settings"},
    {"empty_map.yaml", "1:1: top level: needs at least one namespace"},
    {"ns_null.yaml", "1:1: main: expected map, got null"},
    {"syntax_flow.yaml", "3:7: while parsing a flow sequence did not find expected ',' or ']'"},
    {"syntax_tab.yaml", "2:1: while scanning for the next token found character that cannot "
                        "start any token"},
    {"lb_policy.yaml", "3:14: main.lb_policy: string \"round_robin\" is not one of: ROUND_ROBIN"},
    {"connect_ms.yaml", "3:23: main.timeout_connect_ms: 60001 is out of range 0..60000"},
    {"fixed_delay.yaml", "4:5: main.fixed_delay.slow: missing required key 'percent'"},
    {"discover_bool.yaml", "3:13: main.discover: expected string, got boolean yes"},
    {"choice_count.yaml", "3:17: main.choice_count: 0 is below the minimum 1"},
    {"plugins_closed.yaml", "6:7: main.plugins.source_required: unknown key 'strict'"},
    {"unknown_alias.yaml", "2:15: unknown alias '*port'"},
    {"hc_port_range.yaml", "3:21: main.healthcheck_port: 70000 is out of range 0..65535"},
    {"many_errors.yaml", "2:15: main.proxy_port: 18000 is out of range 19000..21000"},
};

static void bad_smartstack_files_fail_at_the_right_place(void **state)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[256], want[512];
        struct diag d;
        struct smartstack *ss = (struct smartstack *)1;
        snprintf(path, sizeof(path), BAD "%s", bad[i].file);
        snprintf(want, sizeof(want), "%s:%s", path, bad[i].want);
        diag_init(&d);
        int rc = smartstack_load(path, &ss, &d);
        if (rc != -1 || ss != NULL)
            fail_msg("%s: loaded without error", path);
        if (!d.buf || !strstr(d.buf, want))
            fail_msg("%s: expected\n  %s\ngot\n  %s", path, want, d.buf ? d.buf : "(nothing)");
        diag_free(&d);
    }
}

/* What paasta validate accepts loads, whatever meshreg thinks of it: its
 * doubts are warnings at FILE:LINE:COL (README "Same verdicts as paasta
 * validate"). */
static void paasta_accepted_files_load_with_warnings(void **state)
{
    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    assert_int_equal(smartstack_load(WARN "duplicate_ns.yaml", &ss, &d), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(d.wbuf, WARN "duplicate_ns.yaml:5:1: warning: duplicate key 'main' (first "
                                     "at line 1): the last one wins, as in paasta validate");
    assert_int_equal(ss->nns, 2);
    assert_int_equal(smartstack_find(ss, "main")->proxy_port, 20002);
    smartstack_free(ss);
    diag_free(&d);

    diag_init(&d);
    assert_int_equal(smartstack_load(WARN "extra_advertise_key.yaml", &ss, &d), 0);
    assert_string_equal(d.wbuf, WARN "extra_advertise_key.yaml:4:5: warning: main.extra_advertise: "
                                     "'region' is not TYPE:LOCATION: entry ignored");
    assert_int_equal(smartstack_find(ss, "main")->nxadv, 0);
    smartstack_free(ss);
    diag_free(&d);

    /* a '|' block's final line break passes PaaSTA's pattern ($ before a
     * final newline); meshreg probes without it */
    diag_init(&d);
    assert_int_equal(smartstack_load(CORPUS "uri_block_literal.yaml", &ss, &d), 0);
    assert_string_equal(smartstack_find(ss, "main")->healthcheck_uri, "/status");
    assert_non_null(strstr(d.wbuf, "uri_block_literal.yaml:3:20: warning: main.healthcheck_uri"));
    smartstack_free(ss);
    diag_free(&d);

    /* NaN passes PaaSTA's 0..10; meshreg keeps its default */
    diag_init(&d);
    assert_int_equal(smartstack_load(CORPUS "float_nan.yaml", &ss, &d), 0);
    assert_true(smartstack_find(ss, "main")->healthcheck_timeout_s < 0);
    assert_non_null(
        strstr(d.wbuf, "float_nan.yaml:3:26: warning: main.healthcheck_timeout_s: NaN"));
    smartstack_free(ss);
    diag_free(&d);

    /* 0 passes PaaSTA's 0..10 and fails every probe: said */
    diag_init(&d);
    assert_int_equal(smartstack_load(WARN "timeout_zero.yaml", &ss, &d), 0);
    assert_true(smartstack_find(ss, "main")->healthcheck_timeout_s == 0);
    assert_string_equal(d.wbuf, WARN "timeout_zero.yaml:3:26: warning: main.healthcheck_timeout_s: "
                                     "0: every probe must answer within 1 ms and an app rarely "
                                     "does (the default is 1)");
    smartstack_free(ss);
    diag_free(&d);

    /* meshreg's extensions: accepted, and said to be extensions */
    diag_init(&d);
    assert_int_equal(smartstack_load(CORPUS "ext_hc_mode_grpc.yaml", &ss, &d), 0);
    assert_non_null(strstr(d.wbuf, "ext_hc_mode_grpc.yaml:3:21: warning: main.healthcheck_mode: "
                                   "'grpc' is a meshreg extension: paasta validate rejects it"));
    smartstack_free(ss);
    diag_free(&d);
}

static void every_error_of_a_file_is_reported(void **state)
{
    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    assert_int_equal(smartstack_load(BAD "many_errors.yaml", &ss, &d), -1);
    assert_int_equal(d.count, 5);
    assert_non_null(strstr(d.buf, BAD "many_errors.yaml:3:9: main.mode: string \"udp\""));
    assert_non_null(strstr(d.buf, BAD "many_errors.yaml:4:3: main: unknown key 'bogus'"));
    assert_non_null(strstr(d.buf, BAD "many_errors.yaml:6:12: canary.retries: -1 is out of"));
    assert_non_null(
        strstr(d.buf, BAD "many_errors.yaml:5:1: canary: missing required key 'proxy_port'"));
    diag_free(&d);
}

static void full_schema_file_is_valid_and_extracted(void **state)
{
    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    if (smartstack_load(GOOD "full.yaml", &ss, &d) != 0)
        fail_msg("%s", d.buf);
    assert_int_equal(ss->nns, 1);
    const struct smartstack_ns *m = smartstack_find(ss, "main");
    assert_non_null(m);
    assert_int_equal(m->proxy_port, 20000);
    assert_string_equal(m->healthcheck_uri, "/status?full=1&x=y");
    assert_int_equal(m->healthcheck_port, 8889);
    assert_true(m->healthcheck_timeout_s == 2.5);
    assert_string_equal(m->body_expect, "OK");
    assert_int_equal(m->nheaders, 2);
    assert_string_equal(m->headers[0].key, "Host");
    assert_string_equal(m->headers[0].value, "example.local");
    assert_int_equal(m->nadvertise, 2);
    assert_int_equal(m->nxadv, 2);
    assert_string_equal(m->xadv[0].src, "region:uswest1-prod");
    assert_int_equal(m->xadv[0].ndst, 2);
    assert_string_equal(m->discover, "region");
    assert_null(smartstack_find(ss, "canary"));
    smartstack_free(ss);
    smartstack_free(NULL);
    diag_free(&d);
}

static void minimal_and_merge_key_files_are_valid(void **state)
{
    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    if (smartstack_load(GOOD "minimal.yaml", &ss, &d) != 0)
        fail_msg("%s", d.buf);
    assert_int_equal(smartstack_find(ss, "main")->proxy_port, -1);
    smartstack_free(ss);
    if (smartstack_load(GOOD "modes.yaml", &ss, &d) != 0)
        fail_msg("%s", d.buf);
    assert_int_equal(ss->nns, 6);
    assert_int_equal(smartstack_find(ss, "main")->proxy_port, 20010);
    assert_true(smartstack_find(ss, "tcp")->healthcheck_timeout_s == 0.5);
    smartstack_free(ss);
    diag_free(&d);
}

static void example_files_are_valid(void **state)
{
    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    if (smartstack_load("config/examples/smartstack.yaml", &ss, &d) != 0)
        fail_msg("%s", d.buf);
    smartstack_free(ss);
    diag_free(&d);
}

/* ---- settings ---- */

static const char *ss_main = "main:\n  proxy_port: 20000\n";

static void defaults_apply(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_main);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, NULL));
    /* the default file:./registry is made absolute once, at start */
    char want[PATH_MAX + 32], cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "file:%s/registry", cwd);
    assert_string_equal(cfg->backend, want);
    assert_string_equal(cfg->backend_relative, "file:./registry");
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--backend", "file:r/x",
                      NULL));
    snprintf(want, sizeof(want), "file:%s/r/x", cwd);
    assert_string_equal(cfg->backend, want);
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--backend", "file:/r",
                      NULL));
    assert_string_equal(cfg->backend, "file:/r");
    assert_null(cfg->backend_relative);
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, NULL));
    assert_string_equal(cfg->admin_addr, "0.0.0.0:6666");
    assert_int_equal(cfg->drain_seconds, 30);
    assert_int_equal(cfg->ttl_seconds, 10);
    assert_int_equal(cfg->agent_port, 0);
    assert_int_equal(cfg->grace_seconds, 30);
    assert_null(cfg->state_dir);
    assert_int_equal(cfg->nadmin_allow, 0);
    assert_false(cfg->adaptive_drain);
    assert_int_equal(cfg->min_drain_seconds, 10);
    assert_int_equal(cfg->log_format, LOG_FORMAT_TEXT);
    assert_null(cfg->app_argv);
    assert_false(cfg->help);
    assert_int_equal(cfg->nchecks, 1);
    const struct check_spec *c = &cfg->checks[0];
    assert_string_equal(c->name, "svc.main");
    assert_string_equal(c->ns, "main");
    assert_string_equal(c->instance, "main");
    assert_true(c->registered);
    assert_int_equal(c->port, 8888);
    assert_int_equal(c->probe, PROBE_HTTP);
    assert_string_equal(c->probe_host, "127.0.0.1");
    assert_int_equal(c->probe_port, 8888);
    assert_string_equal(c->probe_uri, "/status");
    assert_int_equal(c->timeout_ms, 1000);
    assert_int_equal(c->interval_ms, 2000);
    assert_int_equal(c->rise, 1);
    assert_int_equal(c->fall, 2);
    assert_int_equal(c->weight, 10);
    char host[256];
    gethostname(host, sizeof(host));
    assert_string_equal(c->instance_id, host);
    unsigned char a[4];
    assert_int_equal(inet_pton(AF_INET, c->host, a), 1);
    config_free(cfg);
    config_free(NULL);
}

static void flag_beats_env_beats_file_beats_default(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_main);
    const char *file = put("meshreg.yaml", "port: 7001\n"
                                           "admin: 127.0.0.1:7101\n"
                                           "backend: file:/from-file\n"
                                           "drain_seconds: 11\n"
                                           "host: 10.0.0.3\n");
    const char *env[] = {"PAASTA_PORT=7002", "MESHREG_ADMIN=127.0.0.1:7102",
                         "MESHREG_BACKEND=file:/from-env", "PAASTA_HOST=10.0.0.2", NULL};
    /* flag wins */
    assert_loads(load(&cfg, env, "-c", file, "--service", "svc", "--smartstack", ss, "--port",
                      "7003", "--admin=127.0.0.1:7103", "--backend", "file:/from-flag",
                      "--drain-seconds=12", "--host", "10.0.0.1", NULL));
    assert_int_equal(cfg->checks[0].port, 7003);
    assert_string_equal(cfg->admin_addr, "127.0.0.1:7103");
    assert_string_equal(cfg->backend, "file:/from-flag");
    assert_int_equal(cfg->drain_seconds, 12);
    assert_string_equal(cfg->checks[0].host, "10.0.0.1");
    assert_string_equal(cfg->config_file, file);
    config_free(cfg);
    /* env beats file */
    assert_loads(load(&cfg, env, "-c", file, "--service", "svc", "--smartstack", ss, NULL));
    assert_int_equal(cfg->checks[0].port, 7002);
    assert_string_equal(cfg->admin_addr, "127.0.0.1:7102");
    assert_string_equal(cfg->backend, "file:/from-env");
    assert_int_equal(cfg->drain_seconds, 11); /* no env var for it */
    assert_string_equal(cfg->checks[0].host, "10.0.0.2");
    config_free(cfg);
    /* file beats default */
    assert_loads(load(&cfg, NULL, "--config", file, "--service", "svc", "--smartstack", ss, NULL));
    assert_int_equal(cfg->checks[0].port, 7001);
    assert_string_equal(cfg->admin_addr, "127.0.0.1:7101");
    assert_string_equal(cfg->backend, "file:/from-file");
    assert_string_equal(cfg->checks[0].host, "10.0.0.3");
    config_free(cfg);
}

static void service_and_instance_come_from_paasta_env(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "canary:\n  proxy_port: 20001\n  mode: tcp\n");
    const char *env[] = {"PAASTA_SERVICE=envsvc", "PAASTA_INSTANCE=canary",
                         "MESHREG_SMARTSTACK=", NULL};
    assert_loads(load(&cfg, env, "--smartstack", ss, NULL));
    assert_int_equal(cfg->nchecks, 1);
    assert_string_equal(cfg->checks[0].name, "envsvc.canary");
    assert_int_equal(cfg->checks[0].probe, PROBE_TCP);
    config_free(cfg);
}

static void every_option_is_settable_in_the_file(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n"
                                            "other:\n  proxy_port: 20001\n");
    const char *file = put("all.yaml", "service: svc\n"
                                       "instance: main\n"
                                       "smartstack: %SS%\n"
                                       "registrations: [svc.main, svc.other]\n"
                                       "port: 9000\n"
                                       "host: 10.1.2.3\n"
                                       "instance_id: node7\n"
                                       "backend: etcd://127.0.0.1:2379/mesh\n"
                                       "admin: 127.0.0.1:6000\n"
                                       "drain_seconds: 5\n"
                                       "interval_ms: 700\n"
                                       "rise: 3\n"
                                       "fall: 4\n"
                                       "weight: 42\n"
                                       "ttl_seconds: 20\n"
                                       "agent_port: 6001\n"
                                       "state_dir: /var/lib/meshreg\n"
                                       "admin_allow: [10.0.0.0/8, \"::1\"]\n"
                                       "grace_seconds: 7\n"
                                       "adaptive_drain: true\n"
                                       "min_drain_seconds: 4\n"
                                       "log_format: json\n");
    /* substitute the smartstack path */
    char text[2048];
    FILE *f = fopen(file, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, "%SS%");
    char out[2048];
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, ss, at + 4);
    file = put("all.yaml", out);
    assert_loads(load(&cfg, NULL, "-c", file, NULL));
    assert_int_equal(cfg->nchecks, 2);
    assert_string_equal(cfg->checks[1].name, "svc.other");
    assert_int_equal(cfg->checks[0].port, 9000);
    assert_string_equal(cfg->checks[0].host, "10.1.2.3");
    assert_string_equal(cfg->checks[0].instance_id, "node7");
    assert_string_equal(cfg->backend, "etcd://127.0.0.1:2379/mesh");
    assert_string_equal(cfg->admin_addr, "127.0.0.1:6000");
    assert_int_equal(cfg->drain_seconds, 5);
    assert_int_equal(cfg->checks[0].interval_ms, 700);
    assert_int_equal(cfg->checks[0].rise, 3);
    assert_int_equal(cfg->checks[0].fall, 4);
    assert_int_equal(cfg->checks[0].weight, 42);
    assert_int_equal(cfg->ttl_seconds, 20);
    assert_int_equal(cfg->agent_port, 6001);
    assert_string_equal(cfg->state_dir, "/var/lib/meshreg");
    assert_int_equal(cfg->nadmin_allow, 2);
    assert_string_equal(cfg->admin_allow[1], "::1");
    assert_int_equal(cfg->grace_seconds, 7);
    assert_true(cfg->adaptive_drain);
    assert_int_equal(cfg->min_drain_seconds, 4);
    assert_int_equal(cfg->log_format, LOG_FORMAT_JSON);
    config_free(cfg);
}

static void registration_flags_replace_the_file_list(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n"
                                            "a:\n  proxy_port: 20001\n"
                                            "b:\n  proxy_port: 20002\n");
    const char *file = put("m.yaml", "registrations: [svc.main]\n");
    assert_loads(load(&cfg, NULL, "-c", file, "--service", "svc", "--smartstack", ss,
                      "--registration", "svc.a", "--registration=svc.b", NULL));
    assert_int_equal(cfg->nchecks, 2);
    assert_string_equal(cfg->checks[0].name, "svc.a");
    assert_string_equal(cfg->checks[1].name, "svc.b");
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "-c", file, "--service", "svc", "--smartstack", ss, NULL));
    assert_int_equal(cfg->nchecks, 1);
    assert_string_equal(cfg->checks[0].name, "svc.main");
    config_free(cfg);
}

static void bad_flags_are_all_reported(void **state)
{
    struct mr_config *cfg;
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--port", "0", "--rise", "x", "--bogus",
                          "--log-format", "xml", "--admin-allow", "10.0.0.0/33", "--backend",
                          "http://x", "--admin", "nowhere", "stray", "--interval-ms", "99999999999",
                          "--drain-seconds", NULL),
                     -1);
    assert_null(cfg);
    assert_err_has("--port: 0 is out of range 1..65535");
    assert_err_has("--rise: 'x' is not an integer");
    assert_err_has("--bogus: unknown option");
    assert_err_has("--log-format: 'xml' is not one of: text, json");
    assert_err_has("--admin-allow: '10.0.0.0/33' is not an address or CIDR");
    assert_err_has("--backend: 'http://x': expected file:DIR");
    assert_err_has("--admin: 'nowhere' is not ADDR:PORT");
    assert_err_has("stray: unexpected argument");
    assert_err_has("--interval-ms: 99999999999 is out of range 10..86400000");
    assert_err_has("--drain-seconds: needs a value");
    assert_int_equal(count_lines(terr), 10);
}

static void bad_env_values_name_the_variable(void **state)
{
    struct mr_config *cfg;
    const char *env[] = {"PAASTA_PORT=abc", "MESHREG_BACKEND=consul://x", "PAASTA_SERVICE=../etc",
                         NULL};
    assert_int_equal(load(&cfg, env, NULL), -1);
    assert_err_has("PAASTA_PORT: 'abc' is not an integer");
    assert_err_has("MESHREG_BACKEND: 'consul://x': expected file:DIR");
    assert_err_has("PAASTA_SERVICE: '../etc' is not a valid name");
    assert_int_equal(count_lines(terr), 3);
}

static void config_file_errors_have_positions(void **state)
{
    struct mr_config *cfg;
    const char *file = put("bad.yaml", "service: svc\n"
                                       "drain_seconds: \"30\"\n"
                                       "drain_second: 30\n"
                                       "rise: 0\n"
                                       "registrations: [svc.main, 5]\n"
                                       "adaptive_drain: maybe\n"
                                       "locations: [a]\n");
    assert_int_equal(load(&cfg, NULL, "-c", file, NULL), -1);
    assert_err_at(file, "2:16: drain_seconds: expected integer, got string");
    assert_err_at(file, "3:1: unknown key 'drain_second'");
    assert_err_at(file, "4:7: rise: 0 is out of range 1..1000");
    assert_err_at(file, "5:27: registrations: expected a list of strings");
    assert_err_at(file, "6:17: adaptive_drain: expected boolean, got string");
    assert_err_at(file, "7:12: locations: expected a map");
    assert_int_equal(count_lines(terr), 6);
}

static void missing_config_file_and_service_are_errors(void **state)
{
    struct mr_config *cfg;
    assert_int_equal(load(&cfg, NULL, "-c", "/nonexistent/meshreg.yaml", NULL), -1);
    assert_err_has("/nonexistent/meshreg.yaml: cannot read: No such file or directory");
    assert_int_equal(load(&cfg, NULL, NULL), -1);
    assert_err_has("--service: required");
}

static void app_argv_help_and_usage(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_main);
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--", "/bin/app",
                      "--port", "1", NULL));
    assert_non_null(cfg->app_argv);
    assert_string_equal(cfg->app_argv[0], "/bin/app");
    assert_string_equal(cfg->app_argv[1], "--port");
    assert_string_equal(cfg->app_argv[2], "1");
    assert_null(cfg->app_argv[3]);
    assert_int_equal(cfg->checks[0].port, 8888); /* the app's --port is not ours */
    config_free(cfg);

    assert_loads(load(&cfg, NULL, "--bogus", "--help", NULL));
    assert_true(cfg->help);
    config_free(cfg);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_usage(f);
    fclose(f);
    const char *flags[] = {"--smartstack FILE",
                           "--service NAME",
                           "--instance NAME",
                           "--registration SVC.NS",
                           "--port N",
                           "--host ADDR",
                           "--instance-id ID",
                           "--backend URI",
                           "--admin ADDR:PORT",
                           "--drain-seconds N",
                           "--interval-ms N",
                           "--rise N",
                           "--fall N",
                           "--weight N",
                           "--ttl-seconds N",
                           "--agent-port N",
                           "--state-dir DIR",
                           "--instance-config FILE",
                           "--soa-dir DIR",
                           "--admin-allow CIDR",
                           "--grace-seconds N",
                           "--adaptive-drain",
                           "--log-format text|json",
                           "-c, --config FILE",
                           "PAASTA_PORT",
                           "MESHREG_SOA_DIR"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (!strstr(buf, flags[i]))
            fail_msg("usage lacks %s:\n%s", flags[i], buf);
    free(buf);
}

static void adaptive_drain_flag_forms(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", ss_main);
    const char *file = put("m.yaml", "adaptive_drain: true\n");
    assert_loads(
        load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--adaptive-drain", NULL));
    assert_true(cfg->adaptive_drain);
    config_free(cfg);
    assert_loads(load(&cfg, NULL, "-c", file, "--service", "svc", "--smartstack", ss,
                      "--adaptive-drain=false", NULL));
    assert_false(cfg->adaptive_drain);
    config_free(cfg);
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--adaptive-drain=perhaps", NULL), -1);
    assert_err_has("--adaptive-drain: 'perhaps' is not a boolean");
}

/* A reload names exactly the restart-only settings whose value changed
 * (the settings table's column), once each, whatever else changed. */
static void restart_only_changes_are_named(void **state)
{
    struct mr_config *a, *b;
    const char *ss = put("smartstack.yaml", ss_main);
    assert_loads(load(&a, NULL, "--service", "svc", "--smartstack", ss, "--ttl-seconds", "10",
                      "--admin-allow", "10.0.0.0/8", "--drain-seconds", "5", NULL));
    assert_loads(load(&b, NULL, "--service", "svc", "--smartstack", ss, "--ttl-seconds", "20",
                      "--admin-allow", "10.0.0.0/8,::1", "--drain-seconds", "9", "--rise", "3",
                      NULL));
    size_t i = 0;
    assert_string_equal(config_restart_changed(a, b, &i), "ttl_seconds");
    assert_string_equal(config_restart_changed(a, b, &i), "admin_allow");
    assert_null(config_restart_changed(a, b, &i));
    i = 0;
    assert_null(config_restart_changed(a, a, &i)); /* nothing changed */
    config_free(a);
    config_free(b);
    assert_loads(load(&a, NULL, "--service", "svc", "--smartstack", ss, NULL));
    assert_loads(load(&b, NULL, "--service", "svc", "--smartstack", ss, "--backend",
                      "zk://127.0.0.1:2181/x", "--state-dir", "/tmp/s", NULL));
    i = 0;
    assert_string_equal(config_restart_changed(a, b, &i), "backend");
    assert_string_equal(config_restart_changed(a, b, &i), "state_dir");
    assert_null(config_restart_changed(a, b, &i));
    config_free(a);
    config_free(b);
}

static void config_fixture_errors_are_all_reported(void **state)
{
    struct mr_config *cfg;
    const char *f = "tests/fixtures/config/bad-meshreg.yaml";
    assert_int_equal(load(&cfg, NULL, "-c", f, NULL), -1);
    assert_err_has("bad-meshreg.yaml:3:7: port: expected integer, got string");
    assert_err_has("bad-meshreg.yaml:4:16: drain_seconds: -1 is out of range 0..86400");
    assert_err_has("bad-meshreg.yaml:5:10: backend: 'http://127.0.0.1:2379': expected file:DIR");
    assert_err_has("bad-meshreg.yaml:6:27: admin_allow: 'not-a-cidr' is not an address or CIDR");
    assert_err_has("bad-meshreg.yaml:7:13: log_format: 'yaml' is not one of: text, json");
    assert_err_has("bad-meshreg.yaml:8:14: interval_ms: 5 is out of range 10..86400000");
    assert_err_has("bad-meshreg.yaml:9:1: unknown key 'regisrations'");
    assert_int_equal(count_lines(terr), 7);

    f = "tests/fixtures/config/bad-kubernetes.yaml";
    assert_int_equal(load(&cfg, NULL, "--service", "svc", "--instance-config", f, NULL), -1);
    assert_err_has("bad-kubernetes.yaml:4:18: main.registrations: expected list, got string");
    assert_err_has("bad-kubernetes.yaml:5:33: main.healthcheck_interval_seconds: expected "
                   "number, got string \"10\"");
    assert_err_has("bad-kubernetes.yaml:6:41: main.healthcheck_max_consecutive_failures: 0 is "
                   "out of range 1..1000");
    assert_err_has("bad-kubernetes.yaml:7:37: main.healthcheck_grace_period_seconds: -5 is out "
                   "of range 0..86400");
    assert_err_has("bad-kubernetes.yaml:8:14: main.lifecycle: expected map, got list");
    assert_int_equal(count_lines(terr), 5);
}

/* ---- the config layer's allocation helpers and error collector ---- */

/* In the child: abort() ends in exit(134), so that a --coverage build still
 * writes what the child ran (a signal death writes nothing). */
static void exit_on_abort(int sig)
{
    exit(128 + sig);
}

#define ABORTED(st) (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGABRT)
#define OOM_LINE "meshreg: out of memory\n"

/* Runs fn in a child with the nth allocation failing; returns the wait
 * status (ABORTED for abort()), stderr in err. */
static int in_child_failing(void (*fn)(void), unsigned nth, char *err, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        signal(SIGABRT, exit_on_abort);
        failalloc_arm(nth, false);
        fn();
        unsigned failed = failalloc_failed();
        failalloc_off();
        exit(failed ? 3 : 0); /* 3: a failure that did not abort */
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(p[0], err + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void do_malloc(void)
{
    free(cmem_malloc(8));
}
static void do_calloc(void)
{
    free(cmem_calloc(2, 8));
}
static void do_realloc(void)
{
    free(cmem_realloc(NULL, 8));
}
static void do_strdup(void)
{
    free(cmem_strdup("x"));
}
static void do_strndup(void)
{
    free(cmem_strndup("xyz", 2));
}
static void do_push(void)
{
    int *a = NULL;
    size_t n = 0;
    cmem_push(&a, &n, sizeof(*a));
    free(a);
}

/* Out of memory in the config layer is fatal by design (cmem.h): a message
 * and abort(), never a NULL handed on. */
static void cmem_aborts_when_memory_runs_out(void **state)
{
    void (*const fns[])(void) = {do_malloc, do_calloc, do_realloc, do_strdup, do_strndup, do_push};
    char err[256];
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int st = in_child_failing(fns[i], 1, err, sizeof(err));
        /* (a --coverage build may add its own complaints after the line) */
        if (!ABORTED(st) || strncmp(err, OOM_LINE, strlen(OOM_LINE)) != 0)
            fail_msg("helper %zu: status 0x%x, stderr: %s", i, st, err);
    }
    /* and with memory, what each one promises */
    char *p = cmem_malloc(0);
    assert_non_null(p);
    free(p);
    p = cmem_calloc(0, 0);
    assert_non_null(p);
    free(p);
    assert_null(cmem_strdup(NULL));
    assert_null(cmem_strndup(NULL, 3));
    p = cmem_strndup("abcdef", 3);
    assert_string_equal(p, "abc");
    free(p);
    p = cmem_printf("%s-%d", "a", 7);
    assert_string_equal(p, "a-7");
    free(p);
    int *a = NULL;
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        *(int *)cmem_push(&a, &n, sizeof(int)) = i * i;
    assert_int_equal(n, 5);
    assert_int_equal(a[4], 16);
    free(a);
}

static const char *oom_args[16];
static int oom_nargs;

static void do_config_load(void)
{
    struct mr_config *cfg = NULL;
    char err[1024];
    static const char *const env[] = {"PAASTA_DEPLOY_GROUP=prod", "MESHREG_LOCATION_REGION=r1",
                                      NULL};
    if (config_load(oom_nargs, (char **)oom_args, (char **)env, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "load failed: %s\n", err);
        exit(4);
    }
    config_free(cfg);
}

/* A whole config load with its allocations failing one at a time (a
 * sample of them): each failure ends in the out-of-memory abort, never in
 * a crash or a wrong config; past the last allocation the load succeeds. */
static void config_load_out_of_memory_aborts_cleanly(void **state)
{
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n"
                                            "  extra_healthcheck_headers: {Host: h}\n"
                                            "  advertise: [region]\n"
                                            "other:\n  proxy_port: 20001\n  mode: tcp\n");
    const char *file = put("m.yaml", "service: svc\nregistrations: [svc.main, svc.other]\n"
                                     "admin_allow: [10.0.0.0/8]\nlocations: {habitat: h1}\n");
    oom_nargs = 0;
    oom_args[oom_nargs++] = "-c";
    oom_args[oom_nargs++] = file;
    oom_args[oom_nargs++] = "--smartstack";
    oom_args[oom_nargs++] = ss;
    oom_args[oom_nargs++] = "--";
    oom_args[oom_nargs++] = "/bin/app";
    oom_args[oom_nargs] = NULL;
    char err[2048];

    /* how many allocations a load makes: the first n that is never reached */
    unsigned lo = 1, hi = 1;
    while (ABORTED(in_child_failing(do_config_load, hi, err, sizeof(err))))
        lo = hi, hi *= 2;
    while (lo + 1 < hi) {
        unsigned mid = (lo + hi) / 2;
        if (ABORTED(in_child_failing(do_config_load, mid, err, sizeof(err))))
            lo = mid;
        else
            hi = mid;
    }
    unsigned total = lo;
    assert_true(total > 50);
    int st = in_child_failing(do_config_load, total + 1, err, sizeof(err));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("load with every allocation: status 0x%x: %s", st, err);

    /* the first 30 and then about 40 spread over the rest */
    unsigned step = total > 30 ? (total - 30) / 40 + 1 : 1;
    for (unsigned n = 1; n <= total; n = n < 30 ? n + 1 : n + step) {
        st = in_child_failing(do_config_load, n, err, sizeof(err));
        if (!ABORTED(st) || strncmp(err, OOM_LINE, strlen(OOM_LINE)) != 0)
            fail_msg("allocation %u of %u failing: status 0x%x, stderr: %s", n, total, st, err);
    }
}

static void diag_edges(void **state)
{
    struct diag d;
    char err[32] = "untouched";
    diag_init(&d);
    diag_copy(&d, err, sizeof(err)); /* nothing collected: empty */
    assert_string_equal(err, "");
    diag_add(&d, "first\nline with a break\r");
    diag_add(&d, "%s", "second");
    assert_int_equal(d.count, 2);
    assert_string_equal(d.buf, "first line with a break \nsecond");
    strcpy(err, "untouched");
    diag_copy(&d, err, 0); /* no room: nothing written */
    assert_string_equal(err, "untouched");
    diag_copy(&d, NULL, 10);
    diag_copy(&d, err, 8); /* cut to fit */
    assert_string_equal(err, "first l");
    /* many lines: the buffer grows */
    for (int i = 0; i < 200; i++)
        diag_add(&d, "line %d of a long list of problems", i);
    assert_int_equal(d.count, 202);
    assert_non_null(strstr(d.buf, "\nline 199 of a long list of problems"));
    /* a list longer than the buffer: whole lines, then how many more */
    char big[200];
    diag_copy(&d, big, sizeof(big));
    assert_string_equal(big, "first line with a break \nsecond\n"
                             "line 0 of a long list of problems\n"
                             "line 1 of a long list of problems\n"
                             "line 2 of a long list of problems\n"
                             "line 3 of a long list of problems\n"
                             "... and 196 more");
    char fit[42]; /* exactly the first line, "\n... and 201 more" and the NUL */
    diag_copy(&d, fit, sizeof(fit));
    assert_string_equal(fit, "first line with a break \n... and 201 more");
    diag_copy(&d, fit, 20); /* not even one line fits with the count: cut */
    assert_string_equal(fit, "first line with a b");
    diag_free(&d);
    assert_null(d.buf);
    diag_free(&d);
    diag_free(NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_smartstack_files_fail_at_the_right_place),
        cmocka_unit_test(paasta_accepted_files_load_with_warnings),
        cmocka_unit_test(every_error_of_a_file_is_reported),
        cmocka_unit_test(full_schema_file_is_valid_and_extracted),
        cmocka_unit_test(minimal_and_merge_key_files_are_valid),
        cmocka_unit_test(example_files_are_valid),
        cmocka_unit_test_setup_teardown(defaults_apply, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(flag_beats_env_beats_file_beats_default, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(service_and_instance_come_from_paasta_env, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(every_option_is_settable_in_the_file, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(registration_flags_replace_the_file_list, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test(bad_flags_are_all_reported),
        cmocka_unit_test(bad_env_values_name_the_variable),
        cmocka_unit_test_setup_teardown(config_file_errors_have_positions, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test(missing_config_file_and_service_are_errors),
        cmocka_unit_test_setup_teardown(app_argv_help_and_usage, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(adaptive_drain_flag_forms, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(restart_only_changes_are_named, tdir_setup, tdir_teardown),
        cmocka_unit_test(config_fixture_errors_are_all_reported),
        cmocka_unit_test(cmem_aborts_when_memory_runs_out),
        cmocka_unit_test_setup_teardown(config_load_out_of_memory_aborts_cleanly, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test(diag_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
