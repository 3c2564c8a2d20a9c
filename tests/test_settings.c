/* The sidecar settings table on its own (settings_load): every validator's
 * message for a bad flag, environment value and config file value, the
 * forms of -c/--config and bare flags, where each value came from (source
 * and origin), list settings from the file (scalar or list, with item
 * positions), locations, and freeing what a failed load kept.
 * test_config.c covers the same through config_load, with the checks. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/diag.h"
#include "config/settings.h"
#include "config/ytree.h"
#include "tests/test_config_util.h"

static struct settings S;
static struct diag D;

/* settings_load(argv...) with env; argv NULL-terminated. */
static int sload(const char *const *env, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, env);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 63;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    settings_free(&S);
    diag_free(&D);
    diag_init(&D);
    static const char *const noenv[] = {NULL};
    return settings_load(&S, n, (char **)args, (char **)(env ? env : noenv), &D);
}

static int setup(void **state)
{
    memset(&S, 0, sizeof(S));
    diag_init(&D);
    return tdir_setup(state);
}

static int teardown(void **state)
{
    settings_free(&S);
    diag_free(&D);
    return tdir_teardown(state);
}

#define assert_diag_has(want)                                                                      \
    do {                                                                                           \
        if (!D.buf || !strstr(D.buf, (want)))                                                      \
            fail_msg("diag lacks \"%s\"; it is:\n%s", (want), D.buf ? D.buf : "(empty)");          \
    } while (0)

/* One bad value, exactly one message, exactly this one. */
static void expect_flag_error(const char *flag, const char *value, const char *want)
{
    if (sload(NULL, flag, value, NULL) != -1)
        fail_msg("%s %s: accepted", flag, value);
    if (D.count != 1 || strcmp(D.buf, want) != 0)
        fail_msg("%s '%s': want\n  %s\ngot (%d)\n  %s", flag, value, want, D.count,
                 D.buf ? D.buf : "");
}

/* ---- validators, through flags ---- */

static void test_string_validators(void **state)
{
    expect_flag_error("--host", "", "--host: must not be empty");
    /* the address goes into every record: a space or '/' would corrupt it */
    expect_flag_error("--host", "a b/c",
                      "--host: 'a b/c' is not an IP address or a hostname (letters, digits, '-' "
                      "and '.'; no spaces, no '/')");
    static const char *const bad_hosts[] = {"a/b", "x y",  "a..b",        ".a",   "-a",
                                            "a-",  "a-.b", "10.0.0.1/24", "h:80", "a\tb"};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        if (sload(NULL, "--host", bad_hosts[i], NULL) != -1)
            fail_msg("--host '%s' accepted", bad_hosts[i]);
        assert_non_null(strstr(D.buf, "is not an IP address or a hostname"));
    }
    static const char *const good_hosts[] = {"10.0.0.3", "::1",  "fe80::1", "web-1.example.com",
                                             "host_1",   "a.b.", "x"};
    for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++)
        if (sload(NULL, "--host", good_hosts[i], NULL) != 0)
            fail_msg("--host '%s' refused: %s", good_hosts[i], D.buf ? D.buf : "");
    expect_flag_error("--state-dir", "", "--state-dir: must not be empty");
    expect_flag_error("--service", "a/b",
                      "--service: 'a/b' is not a valid name (letters, digits, _ - . only)");
    expect_flag_error("--service", ".hidden",
                      "--service: '.hidden' is not a valid name (letters, digits, _ - . only)");
    expect_flag_error("--instance", "",
                      "--instance: '' is not a valid name (letters, digits, _ - . only)");
    expect_flag_error("--registration", "svc", "--registration: 'svc' is not SERVICE.NAMESPACE");
    expect_flag_error("--registration", ".main",
                      "--registration: '.main' is not SERVICE.NAMESPACE");
    expect_flag_error("--registration", "svc.", "--registration: 'svc.' is not SERVICE.NAMESPACE");
    expect_flag_error("--registration", "a/b.main",
                      "--registration: 'a/b.main': invalid service name");
    expect_flag_error("--registration", ".x.main",
                      "--registration: '.x.main' is not SERVICE.NAMESPACE");
    expect_flag_error("--backend", "consul://x",
                      "--backend: 'consul://x': expected file:DIR | zk://H:P[,H:P]/ROOT | "
                      "etcd://H:P[,H:P]/PREFIX | etcds://H:P[,H:P]/PREFIX | "
                      "smartstack[:CLUSTER_TYPE]");
    expect_flag_error("--backend", "smartstack:a/b",
                      "--backend: 'smartstack:a/b': cluster type 'a/b' is not a name (letters, "
                      "digits, _ - . only); expected smartstack[:CLUSTER_TYPE]");
    expect_flag_error("--admin", ":6666", "--admin: ':6666' is not ADDR:PORT");
    expect_flag_error("--admin", "x:99999",
                      "--admin: 'x:99999': port 99999 is out of range 0..65535");
    expect_flag_error("--admin", "x:", "--admin: 'x:': port '' is not an integer");
    expect_flag_error("--log-format", "JSON", "--log-format: 'JSON' is not one of: text, json");

    /* names may hold letters, digits, _ - . (not first) */
    assert_int_equal(sload(NULL, "--service", "Svc_1-a.b", "--registration", "o_t-h.er.ns",
                           "--backend", "zk://h:1/r", "--admin", "[::1]:0", NULL),
                     0);
    assert_string_equal(S.service, "Svc_1-a.b");
    assert_string_equal(S.registrations.items[0].value, "o_t-h.er.ns");
}

static void test_cidr_validator(void **state)
{
    static const char *const bad[] = {
        "",           "/8",          "10.0.0.0/",   "10.0.0.0/x", "10.0.0.0/33",
        "fe80::/129", "10.0.0.0/-1", "example.com", "1.2.3.4.5",  "10.0.0.0/8/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "--admin-allow: '%s' is not an address or CIDR", bad[i]);
        expect_flag_error("--admin-allow", bad[i], want);
    }
    /* longer than any address: refused before parsing */
    char longv[80];
    memset(longv, '1', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    char want[160];
    snprintf(want, sizeof(want), "--admin-allow: '%s' is not an address or CIDR", longv);
    expect_flag_error("--admin-allow", longv, want);

    /* a comma-separated list; each bad item reported, the good ones kept */
    assert_int_equal(sload(NULL, "--admin-allow", "10.0.0.1,::1/128,192.168.0.0/16", NULL), 0);
    assert_int_equal(S.admin_allow.n, 3);
    assert_string_equal(S.admin_allow.items[0].value, "10.0.0.1");
    assert_string_equal(S.admin_allow.items[1].value, "::1/128");
    assert_string_equal(S.admin_allow.items[2].value, "192.168.0.0/16");
    assert_string_equal(S.admin_allow.items[2].origin, "--admin-allow");
    assert_int_equal(sload(NULL, "--admin-allow", "bogus,10.0.0.0/8,,x", NULL), -1);
    assert_int_equal(D.count, 3);
    assert_diag_has("--admin-allow: 'bogus' is not an address or CIDR");
    assert_diag_has("--admin-allow: '' is not an address or CIDR");
    assert_diag_has("--admin-allow: 'x' is not an address or CIDR");
}

static void test_integers_and_booleans(void **state)
{
    expect_flag_error("--port", "", "--port: '' is not an integer");
    expect_flag_error("--port", " 80", "--port: ' 80' is not an integer");
    expect_flag_error("--port", "80 ", "--port: '80 ' is not an integer");
    expect_flag_error("--port", "0x50", "--port: '0x50' is not an integer");
    expect_flag_error("--port", "99999999999999999999",
                      "--port: '99999999999999999999' is not an integer");
    expect_flag_error("--weight", "-1", "--weight: -1 is out of range 0..65535");
    expect_flag_error("--ttl-seconds", "3601", "--ttl-seconds: 3601 is out of range 1..3600");
    expect_flag_error("--adaptive-drain=2", NULL,
                      "--adaptive-drain: '2' is not a boolean (true/false)");

    static const struct {
        const char *v;
        bool b;
    } bools[] = {{"1", true},  {"TRUE", true},   {"Yes", true}, {"on", true},
                 {"0", false}, {"False", false}, {"NO", false}, {"off", false}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char arg[40];
        snprintf(arg, sizeof(arg), "--adaptive-drain=%s", bools[i].v);
        assert_int_equal(sload(NULL, arg, NULL), 0);
        assert_int_equal(S.adaptive_drain, bools[i].b);
        assert_int_equal(S.src[SET_ADAPTIVE_DRAIN], SETTINGS_FLAG);
    }
    /* bare: true */
    assert_int_equal(sload(NULL, "--adaptive-drain", NULL), 0);
    assert_true(S.adaptive_drain);
    assert_int_equal(settings_parse_int("-5", -10, 10, &(int){0}, (char[64]){0}, 64), 0);
}

/* ---- argv forms ---- */

static void test_argv_forms(void **state)
{
    const char *f = put("m.yaml", "port: 7\n");
    assert_int_equal(sload(NULL, "-c", NULL), -1);
    assert_string_equal(D.buf, "-c: needs a value");
    assert_int_equal(sload(NULL, "--config", NULL), -1);
    assert_string_equal(D.buf, "--config: needs a value");

    char eq[512], glued[512];
    snprintf(eq, sizeof(eq), "--config=%s", f);
    snprintf(glued, sizeof(glued), "-c%s", f);
    assert_int_equal(sload(NULL, eq, NULL), 0);
    assert_string_equal(S.config_file, f);
    assert_int_equal(S.port, 7);
    assert_int_equal(sload(NULL, glued, NULL), 0);
    assert_string_equal(S.config_file, f);
    /* the last -c wins */
    assert_int_equal(sload(NULL, "-c", "/nonexistent/x.yaml", glued, NULL), 0);
    assert_string_equal(S.config_file, f);

    assert_int_equal(sload(NULL, "--nope=3", "-x", NULL), -1);
    assert_int_equal(D.count, 2);
    assert_diag_has("--nope: unknown option (see --help)");
    assert_diag_has("-x: unexpected argument (the app's command goes after --)");

    /* "--" with nothing after: a usage error, not a silent plain sidecar */
    assert_int_equal(sload(NULL, "--port", "9", "--", NULL), -1);
    assert_null(S.app_argv);
    assert_diag_has("--: no app after it (wrapper mode is -- APP [ARGS...])");

    /* --help: nothing more is read (not even a missing file) */
    assert_int_equal(sload(NULL, "-h", "-c", "/nonexistent/x.yaml", NULL), 0);
    assert_true(S.help);
    assert_int_equal(D.count, 0);
    assert_null(S.host); /* the machine defaults are not computed either */
}

/* A failed load still owns what it parsed (the app's argv among it):
 * settings_free releases it (ASan: no leak), and twice is harmless. */
static void test_failed_load_frees_everything(void **state)
{
    const char *f = put("m.yaml", "locations: {region: uswest1-prod}\nregistrations: [a.b]\n"
                                  "services: [{service: x}]\nport: oops\n");
    assert_int_equal(sload(NULL, "-c", f, "--admin-allow", "10.0.0.0/8", "--host", "h", "--",
                           "/bin/app", "arg", NULL),
                     -1);
    assert_non_null(S.app_argv);
    assert_string_equal(S.app_argv[1], "arg");
    assert_non_null(S.file_doc);
    assert_non_null(S.services);
    assert_int_equal(S.nlocations, 1);
    settings_free(&S);
    assert_null(S.app_argv);
    assert_null(S.file_doc);
    settings_free(&S);
    settings_free(NULL);
}

/* ---- sources, origins and the environment ---- */

static void test_sources_and_origins(void **state)
{
    const char *f = put("m.yaml", "port: 7001\nweight: 5\nhost: 10.0.0.3\nrise: 2\n");
    const char *env[] = {"PAASTA_PORT=7002",   "PAASTA_HOST=",    "PAASTA_PORTX=1",
                         "MESHREG_ADMINX=1:1", "PAASTA_INSTANCE", NULL};
    assert_int_equal(sload(env, "-c", f, "--weight", "6", NULL), 0);
    assert_int_equal(S.port, 7002);
    assert_int_equal(S.src[SET_PORT], SETTINGS_ENV);
    assert_string_equal(S.origin[SET_PORT], "PAASTA_PORT");
    assert_int_equal(S.weight, 6);
    assert_int_equal(S.src[SET_WEIGHT], SETTINGS_FLAG);
    assert_string_equal(S.origin[SET_WEIGHT], "--weight");
    /* an empty variable is unset: the file's value stays */
    assert_string_equal(S.host, "10.0.0.3");
    assert_int_equal(S.src[SET_HOST], SETTINGS_FILE);
    char want[600];
    snprintf(want, sizeof(want), "%s:3:7", f);
    assert_string_equal(S.origin[SET_HOST], want);
    assert_int_equal(S.rise, 2);
    /* defaults, and names that only start like a variable */
    assert_int_equal(S.src[SET_ADMIN], SETTINGS_DEFAULT);
    assert_string_equal(S.admin, "0.0.0.0:6666");
    assert_string_equal(S.instance, "main");
    assert_null(S.origin[SET_ADMIN]);

    assert_null(settings_env((char **)env, "PAASTA_HOST"));
    assert_null(settings_env((char **)env, "PAASTA_INSTANCE"));
    assert_null(settings_env((char **)env, "PAASTA"));
    assert_string_equal(settings_env((char **)env, "PAASTA_PORTX"), "1");
    assert_null(settings_env(NULL, "PAASTA_PORT"));
}

/* ---- the config file ---- */

static void test_file_shapes(void **state)
{
    /* empty, or a document with nothing in it: sets nothing */
    const char *f = put("empty.yaml", "");
    assert_int_equal(sload(NULL, "-c", f, NULL), 0);
    assert_int_equal(S.src[SET_PORT], SETTINGS_DEFAULT);
    f = put("comment.yaml", "# nothing here\n---\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), 0);

    char want[600];
    f = put("list.yaml", "- port: 1\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    snprintf(want, sizeof(want), "%s:1:1: top level: expected a map of settings, got list", f);
    assert_string_equal(D.buf, want);
    f = put("scalar.yaml", "port\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    snprintf(want, sizeof(want), "%s:1:1: top level: expected a map of settings, got string", f);
    assert_string_equal(D.buf, want);
    f = put("syntax.yaml", "port: [1\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    assert_int_equal(D.count, 1);
    snprintf(want, sizeof(want), "%s:2:1: ", f);
    assert_diag_has(want);
}

/* Each key's YAML type is checked, with the value's position (or the
 * key's, for an empty value). */
static void test_file_value_types(void **state)
{
    const char *f = put("t.yaml", "instance_id: [a]\n"    /* 1 */
                                  "host: ~\n"             /* 2 */
                                  "smartstack:\n"         /* 3 */
                                  "soa_dir: yes\n"        /* 4 */
                                  "port: 80.5\n"          /* 5 */
                                  "adaptive_drain: 1\n"   /* 6 */
                                  "registrations: 5\n"    /* 7 */
                                  "admin_allow: {a: b}\n" /* 8 */
                                  "state_dir: null\n"     /* 9 */
                                  "locations: {region: [x], zone: 3, ok: here}\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    static const char *const wants[] = {
        "1:14: instance_id: expected string, got list",
        "2:7: host: expected string, got null",
        "3:1: smartstack: expected string, got null",
        "4:10: soa_dir: expected string, got boolean yes",
        "5:7: port: expected integer, got number 80.5",
        "6:17: adaptive_drain: expected boolean, got integer 1",
        "7:16: registrations: expected list of strings, got integer 5",
        "8:14: admin_allow: expected list of strings, got map",
        "9:12: state_dir: expected string, got null",
        "10:21: locations.region: expected string, got list",
        "10:32: locations.zone: expected string, got integer",
    };
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        char want[600];
        snprintf(want, sizeof(want), "%s:%s", f, wants[i]);
        assert_diag_has(want);
    }
    assert_int_equal(D.count, (int)(sizeof(wants) / sizeof(wants[0])));
    /* the good location is kept */
    assert_int_equal(S.nlocations, 1);
    assert_string_equal(settings_location(&S, "ok"), "here");
}

/* List settings from the file: a list (each item at its own position) or
 * one string (split on ',' for admin_allow); bad items named where they
 * are. A plain number is a fine string for a string key. */
static void test_file_lists(void **state)
{
    const char *f = put("l.yaml", "registrations: svc.main\n"
                                  "admin_allow: 10.0.0.0/8,::1\n"
                                  "instance_id: 1234\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), 0);
    char want[600];
    assert_int_equal(S.registrations.n, 1);
    assert_string_equal(S.registrations.items[0].value, "svc.main");
    snprintf(want, sizeof(want), "%s:1:16", f);
    assert_string_equal(S.registrations.items[0].origin, want);
    assert_string_equal(S.origin[SET_REGISTRATION], want);
    assert_int_equal(S.admin_allow.n, 2);
    assert_string_equal(S.admin_allow.items[1].value, "::1");
    snprintf(want, sizeof(want), "%s:2:14", f);
    assert_string_equal(S.admin_allow.items[0].origin, want);
    assert_string_equal(S.admin_allow.items[1].origin, want);
    assert_string_equal(S.instance_id, "1234");

    f = put("l2.yaml", "registrations:\n"
                       "  - svc.main\n"
                       "  - [nested]\n"
                       "  - bad\n"
                       "  - 7\n"
                       "  - svc.other\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    snprintf(want, sizeof(want),
             "%s:3:5: registrations: expected a list of strings, got list in it", f);
    assert_diag_has(want);
    snprintf(want, sizeof(want), "%s:4:5: registrations: 'bad' is not SERVICE.NAMESPACE", f);
    assert_diag_has(want);
    snprintf(want, sizeof(want),
             "%s:5:5: registrations: expected a list of strings, got integer in it", f);
    assert_diag_has(want);
    assert_int_equal(D.count, 3);
    /* the good ones, each with its own position */
    assert_int_equal(S.registrations.n, 2);
    snprintf(want, sizeof(want), "%s:6:5", f);
    assert_string_equal(S.registrations.items[1].origin, want);

    /* a good list: the setting's origin is the list, each item's its own */
    f = put("l4.yaml", "registrations: [svc.a, svc.b]\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), 0);
    snprintf(want, sizeof(want), "%s:1:16", f);
    assert_string_equal(S.origin[SET_REGISTRATION], want);
    snprintf(want, sizeof(want), "%s:1:24", f);
    assert_string_equal(S.registrations.items[1].origin, want);
    assert_int_equal(S.src[SET_REGISTRATION], SETTINGS_FILE);

    /* a scalar list value with a bad item */
    f = put("l3.yaml", "admin_allow: 10.0.0.0/8,nope\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    snprintf(want, sizeof(want), "%s:1:14: admin_allow: 'nope' is not an address or CIDR", f);
    assert_string_equal(D.buf, want);
}

/* Locations: the file's map, beaten by MESHREG_LOCATION_<TYPE> (upper-cased,
 * other characters as '_'); not a map is an error. */
static void test_locations(void **state)
{
    const char *f = put("loc.yaml", "locations:\n  region: uswest1-prod\n"
                                    "  super-region: norcal\n  habitat: a1\n");
    const char *env[] = {"MESHREG_LOCATION_SUPER_REGION=socal", "MESHREG_LOCATION_HABITAT=", NULL};
    assert_int_equal(sload(env, "-c", f, NULL), 0);
    assert_string_equal(settings_location(&S, "region"), "uswest1-prod");
    assert_string_equal(settings_location(&S, "super-region"), "socal");
    assert_string_equal(settings_location(&S, "habitat"), "a1"); /* empty env: unset */
    assert_null(settings_location(&S, "ecosystem"));
    /* a very long type name is cut to fit, not overflowed */
    char longtype[300];
    memset(longtype, 'a', sizeof(longtype) - 1);
    longtype[sizeof(longtype) - 1] = '\0';
    assert_null(settings_location(&S, longtype));

    f = put("loc2.yaml", "locations: [region]\n");
    assert_int_equal(sload(NULL, "-c", f, NULL), -1);
    char want[600];
    snprintf(want, sizeof(want),
             "%s:1:12: locations: expected a map of advertise type -> location, got list", f);
    assert_string_equal(D.buf, want);
}

/* Computed defaults: the host's first IPv4 (never loopback unless that is
 * all) and its hostname. */
static void test_machine_defaults(void **state)
{
    assert_int_equal(sload(NULL, NULL), 0);
    assert_non_null(S.host);
    unsigned char a[4];
    assert_int_equal(inet_pton(AF_INET, S.host, a), 1);
    char host[256];
    gethostname(host, sizeof(host));
    assert_string_equal(S.instance_id, host);
    assert_int_equal(S.src[SET_HOST], SETTINGS_DEFAULT);
}

/* The reload column: every setting says whether SIGHUP applies it, and the
 * ones bound to sockets, sessions or start-up are restart-only. */
static void test_reload_column(void **state)
{
    static const enum settings_id restart[] = {
        SET_BACKEND, SET_ADMIN, SET_AGENT_PORT, SET_TTL_SECONDS, SET_ADMIN_ALLOW, SET_STATE_DIR,
        SET_LOG_FORMAT, SET_ETC_DIR, SET_ZK_PATH_ENCODING, SET_BACKEND_MAX_OPS, SET_ZK_ACL,
        /* the TLS contexts are built when the backend starts; the password
         * file, in contrast, is read again on SIGHUP */
        SET_BACKEND_CACERT, SET_BACKEND_CERT, SET_BACKEND_KEY};
    for (int id = 0; id < SET_COUNT; id++) {
        enum settings_reload r = settings_reload_of((enum settings_id)id);
        if (r != SETTINGS_RELOADABLE && r != SETTINGS_RESTART)
            fail_msg("setting %s has no reload column", settings_key((enum settings_id)id));
        bool want = false;
        for (size_t i = 0; i < sizeof(restart) / sizeof(restart[0]); i++)
            want = want || restart[i] == (enum settings_id)id;
        if (want != (r == SETTINGS_RESTART))
            fail_msg("setting %s: restart-only is %d, want %d", settings_key((enum settings_id)id),
                     r == SETTINGS_RESTART, want);
    }
    assert_string_equal(settings_key(SET_TTL_SECONDS), "ttl_seconds");
    assert_string_equal(settings_key(SET_MIN_DRAIN_SECONDS), "min_drain_seconds");
}

/* Value text, what reload compares: every type, unset included. */
static void test_value_text(void **state)
{
    assert_int_equal(sload(NULL, "--ttl-seconds", "7", "--admin-allow", "10.0.0.0/8,::1",
                           "--adaptive-drain", NULL),
                     0);
    const struct {
        enum settings_id id;
        const char *want;
    } cases[] = {
        {SET_TTL_SECONDS, "7"},       {SET_ADMIN_ALLOW, "10.0.0.0/8,::1"},
        {SET_ADAPTIVE_DRAIN, "true"}, {SET_BACKEND, "file:./registry"},
        {SET_STATE_DIR, ""},          {SET_MIN_DRAIN_SECONDS, "10"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = settings_value_text(&S, cases[i].id);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_string_validators),
        T(test_cidr_validator),
        T(test_integers_and_booleans),
        T(test_argv_forms),
        T(test_failed_load_frees_everything),
        T(test_sources_and_origins),
        T(test_file_shapes),
        T(test_file_value_types),
        T(test_file_lists),
        T(test_locations),
        T(test_machine_defaults),
        T(test_reload_column),
        T(test_value_text),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
