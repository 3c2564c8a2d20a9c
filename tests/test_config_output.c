/* Effective checks as an operator sees them: `meshreg check` output for
 * every probe kind, and the reload comparison (which changes take effect on
 * SIGHUP, field by field). The checks themselves: test_config_checks.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/checks.h"
#include "tests/test_config_util.h"

static void check_output_shows_every_check(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n"
                                            "t:\n  proxy_port: 20001\n  mode: tcp\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.9",
                      "--instance-id", "node1", "--registration", "svc.main", "--registration",
                      "svc.t", "--backend", "file:/reg", NULL));
    expect_printed(cfg, "svc.main: http://127.0.0.1:8888/status interval 2000ms rise 1 "
                        "fall 2 timeout 1000ms weight 10 register 10.0.0.9:8888 as node1 "
                        "in file:/reg labels paasta_instance=main\n"
                        "svc.t: tcp 127.0.0.1:8888 interval 2000ms rise 1 fall 2 timeout "
                        "1000ms weight 10 register 10.0.0.9:8888 as node1 in "
                        "file:/reg labels paasta_instance=main\n");
    config_free(cfg);
    const char *ic = put("k.yaml", "w:\n  healthcheck_cmd: echo \"hi\"\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "w", "--smartstack", ss,
                      "--instance-config", ic, NULL));
    expect_printed(cfg, "svc.w: cmd \"echo \"hi\"\" interval 2000ms rise 1 fall 2 timeout "
                        "1000ms worker (not registered)\n");
    config_free(cfg);
    assert_string_equal(probe_kind_name(PROBE_GRPC), "grpc");
}

static void reload_comparison(void **state)
{
    struct mr_config *a, *b;
    const char *ss = put("smartstack.yaml", "main:\n  proxy_port: 20000\n");
    assert_loads(
        load(&a, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.1", NULL));
    assert_loads(
        load(&b, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.1", NULL));
    assert_true(config_check_same(&a->checks[0], &b->checks[0]));
    config_free(b);
    put("smartstack.yaml", "main:\n  proxy_port: 20000\n  healthcheck_uri: /other\n");
    assert_loads(
        load(&b, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.1", NULL));
    assert_false(config_check_same(&a->checks[0], &b->checks[0]));
    config_free(b);
    assert_loads(load(&b, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.1",
                      "--weight", "11", NULL));
    assert_false(config_check_same(&a->checks[0], &b->checks[0]));
    config_free(b);
    config_free(a);
}

/* `meshreg check` lines for grpc, https and a worker with a grace period. */
static void check_output_other_probes(void **state)
{
    struct mr_config *cfg;
    const char *ss = put("smartstack.yaml", "g:\n  proxy_port: 20000\n  healthcheck_mode: grpc\n"
                                            "  healthcheck_uri: /pkg.Svc\n"
                                            "s:\n  proxy_port: 20001\n  mode: https\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--smartstack", ss, "--host", "10.0.0.9",
                      "--instance-id", "n1", "--registration", "svc.g", "--registration", "svc.s",
                      "--backend", "file:/reg", NULL));
    char *buf = config_printed(NULL);
    assert_string_equal(buf, ""); /* no configuration: nothing */
    free(buf);
    expect_printed(cfg, "svc.g: grpc 127.0.0.1:8888 service \"pkg.Svc\" interval 2000ms rise "
                        "1 fall 2 timeout 1000ms weight 10 register 10.0.0.9:8888 as n1 in "
                        "file:/reg labels paasta_instance=main\n"
                        "svc.s: https://127.0.0.1:8888/status interval 2000ms rise 1 fall 2 "
                        "timeout 1000ms weight 10 register 10.0.0.9:8888 as n1 in "
                        "file:/reg labels paasta_instance=main\n");
    config_free(cfg);

    const char *ic = put("k.yaml", "w:\n  healthcheck_grace_period_seconds: 3\n");
    assert_loads(load(&cfg, NULL, "--service", "svc", "--instance", "w", "--smartstack", ss,
                      "--instance-config", ic, NULL));
    expect_printed(cfg, "svc.w: tcp 127.0.0.1:8888 interval 2000ms rise 1 fall 2 timeout "
                        "1000ms grace 3000ms worker (not registered)\n");
    config_free(cfg);
    assert_string_equal(probe_kind_name((enum probe_kind)99), "?");
    static const char *const names[] = {[PROBE_HTTP] = "http",
                                        [PROBE_HTTPS] = "https",
                                        [PROBE_TCP] = "tcp",
                                        [PROBE_CMD] = "cmd",
                                        [PROBE_GRPC] = "grpc"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        enum probe_kind back = PROBE_GRPC + 1;
        assert_string_equal(probe_kind_name((enum probe_kind)k), names[k]);
        assert_true(probe_kind_parse(names[k], &back));
        assert_int_equal(back, (int)k);
    }
    /* PaaSTA's http2 is probed as http; nothing else parses */
    enum probe_kind k2 = PROBE_CMD;
    assert_true(probe_kind_parse("http2", &k2));
    assert_int_equal(k2, PROBE_HTTP);
    assert_false(probe_kind_parse("HTTP", &k2));
    assert_false(probe_kind_parse("", &k2));
    assert_false(probe_kind_parse("mysql", &k2));
    assert_int_equal(k2, PROBE_HTTP);
}

/* Reload comparison: a change in any one field is a different check. */
static void reload_comparison_field_by_field(void **state)
{
    struct kv h[] = {{"A", "1"}}, l[] = {{"L", ""}};
    const struct check_spec a = {.name = "s.m",
                                 .service = "s",
                                 .ns = "m",
                                 .instance = "m",
                                 .registered = true,
                                 .host = "10.0.0.1",
                                 .port = 1,
                                 .instance_id = "i",
                                 .weight = 2,
                                 .probe = PROBE_HTTP,
                                 .probe_host = "127.0.0.1",
                                 .probe_port = 3,
                                 .probe_uri = "/u",
                                 .probe_cmd = "c",
                                 .body_expect = "b",
                                 .headers = h,
                                 .nheaders = 1,
                                 .timeout_ms = 4,
                                 .interval_ms = 5,
                                 .rise = 6,
                                 .fall = 7,
                                 .grace_ms = 8,
                                 .labels = l,
                                 .nlabels = 1};
    struct check_spec b = a;
    assert_true(config_check_same(&a, &b));
#define DIFFERS(field, value)                                                                      \
    do {                                                                                           \
        b = a;                                                                                     \
        b.field = value;                                                                           \
        if (config_check_same(&a, &b) || config_check_same(&b, &a))                                \
            fail_msg("a different " #field " is the same check");                                  \
    } while (0)
    DIFFERS(name, "s.n");
    DIFFERS(service, "t");
    DIFFERS(ns, NULL);
    DIFFERS(instance, "x");
    DIFFERS(registered, false);
    DIFFERS(host, "10.0.0.2");
    DIFFERS(port, 9);
    DIFFERS(instance_id, "j");
    DIFFERS(weight, 9);
    DIFFERS(probe, PROBE_TCP);
    DIFFERS(probe_host, "::1");
    DIFFERS(probe_port, 9);
    DIFFERS(probe_uri, "/v");
    DIFFERS(probe_cmd, NULL);
    DIFFERS(body_expect, "B");
    DIFFERS(nheaders, 0);
    DIFFERS(timeout_ms, 9);
    DIFFERS(interval_ms, 9);
    DIFFERS(rise, 9);
    DIFFERS(fall, 9);
    DIFFERS(grace_ms, 9);
    DIFFERS(nlabels, 0);
#undef DIFFERS
}

/* Reload comparison looks at every header and label, by count and value. */
static void reload_comparison_of_headers_and_labels(void **state)
{
    struct kv h1[] = {{"A", "1"}, {"B", "2"}}, h2[] = {{"A", "1"}, {"B", "3"}}, h3[] = {{"A", "1"}},
              h4[] = {{"A", "1"}, {"C", "2"}};
    struct check_spec a = {.name = "s.m", .headers = h1, .nheaders = 2};
    struct check_spec b = a;
    assert_true(config_check_same(&a, &b));
    b.headers = h2;
    assert_false(config_check_same(&a, &b));
    b.headers = h3;
    b.nheaders = 1;
    assert_false(config_check_same(&a, &b));
    b.headers = h4;
    b.nheaders = 2;
    assert_false(config_check_same(&a, &b));
    b = a;
    b.labels = h3;
    b.nlabels = 1;
    assert_false(config_check_same(&a, &b));
    a.labels = h3;
    a.nlabels = 1;
    assert_true(config_check_same(&a, &b));
    b.probe_cmd = "x"; /* NULL vs set */
    assert_false(config_check_same(&a, &b));
    checks_spec_clear(NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
    const struct CMUnitTest tests[] = {
        T(check_output_shows_every_check),
        T(reload_comparison),
        T(check_output_other_probes),
        T(reload_comparison_field_by_field),
        T(reload_comparison_of_headers_and_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
