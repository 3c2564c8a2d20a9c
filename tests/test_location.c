/* The host's location db (config/location.c) on a real host layout written to
 * a scratch directory (tests/location_fixture.h): environment_tools'
 * conversions up, down and across a DAG, this host's location per type with
 * its precedence env > config > files, absent layouts, and every malformed
 * file named in the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/location.h"
#include "config/settings.h"
#include "tests/location_fixture.h"

static char lerr[1024];

static struct location_db *load_db(const char *etc, const struct settings *s)
{
    lerr[0] = '\0';
    return location_db_load(etc, s, lerr, sizeof(lerr));
}

/* Converts and joins the result with ',' ("ERR: message" on failure). */
static const char *conv(const struct location_db *db, const char *loc, const char *src,
                        const char *dst)
{
    static char out[1024];
    char **v, err[512];
    size_t n;
    if (location_convert(db, loc, src, dst, &v, &n, err, sizeof(err)) < 0) {
        snprintf(out, sizeof(out), "ERR: %s", err);
        assert_null(v);
        return out;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", v[i]);
    assert_null(v[n]);
    location_list_free(v);
    return out;
}

static void converts_up_down_and_across(void **state)
{
    struct location_db *db = load_db(put_host_layout(), NULL);
    assert_non_null(db);
    assert_true(location_db_has_hierarchy(db));
    /* up: the single ancestor of the type asked for */
    assert_string_equal(conv(db, "uswest1aprod", "habitat", "ecosystem"), "prod");
    assert_string_equal(conv(db, "uswest1aprod", "habitat", "superregion"), "norcal-prod");
    assert_string_equal(conv(db, "useast1-prod", "region", "superregion"), "nova-prod");
    /* down: every descendant of the type, sorted */
    assert_string_equal(conv(db, "norcal-prod", "superregion", "habitat"),
                        "shared,uswest1aprod,uswest1bprod,uswest2aprod");
    assert_string_equal(conv(db, "prod", "ecosystem", "region"),
                        "useast1-prod,uswest1-prod,uswest2-prod");
    /* same type: itself */
    assert_string_equal(conv(db, "uswest2-prod", "region", "region"), "uswest2-prod");
    /* a DAG node has two parents; the two ecosystems stay apart */
    assert_string_equal(conv(db, "shared", "habitat", "region"), "uswest1-prod,uswest2-prod");
    assert_string_equal(conv(db, "devc", "ecosystem", "habitat"), "devc,uswest1cdevc");
    assert_string_equal(conv(db, "devc", "habitat", "ecosystem"), "devc");
    assert_string_equal(conv(db, "devc", "ecosystem", "superregion"), "norcal-devc");
    /* the type disambiguates: there is no devc region */
    const char *e = conv(db, "devc", "region", "habitat");
    assert_true(strncmp(e, "ERR: unknown location region:devc (not in ", 42) == 0);
    location_db_free(db);
}

static void conversion_errors(void **state)
{
    const char *etc = put_host_layout();
    struct location_db *db = load_db(etc, NULL);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "ERR: unknown location type 'rack' (not in %s)",
             tpath("etc/services/location_types.json"));
    assert_string_equal(conv(db, "uswest1aprod", "habitat", "rack"), want);
    assert_string_equal(conv(db, "uswest1aprod", "rack", "region"), want);
    snprintf(want, sizeof(want), "ERR: unknown location region:mars (not in %s)",
             tpath("etc/services/location_mapping.json"));
    assert_string_equal(conv(db, "mars", "region", "habitat"), want);
    location_db_free(db);
    /* no hierarchy at all */
    db = load_db(tpath("nothing-here"), NULL);
    assert_non_null(db);
    assert_false(location_db_has_hierarchy(db));
    assert_string_equal(conv(db, "uswest1aprod", "habitat", "region"),
                        "ERR: no location hierarchy (location_types.json, location_mapping.json)");
    assert_int_equal(location_db_type_index(db, "region"), -1);
    location_db_free(db);
    /* NULL db: same answers, no crash */
    assert_string_equal(conv(NULL, "a", "b", "c"),
                        "ERR: no location hierarchy (location_types.json, location_mapping.json)");
    assert_null(location_db_host(NULL, "region"));
    location_db_free(NULL);
}

static void host_locations_from_files(void **state)
{
    struct location_db *db = load_db(put_host_layout(), NULL);
    assert_string_equal(location_db_host(db, "region"), "uswest1-prod");  /* trimmed */
    assert_string_equal(location_db_host(db, "habitat"), "uswest1aprod"); /* no newline */
    assert_string_equal(location_db_host(db, "ecosystem"), "prod");
    assert_string_equal(location_db_host_origin(db, "region"), tpath("etc/region"));
    assert_null(location_db_host(db, "rack"));
    assert_int_equal(location_db_type_index(db, "ecosystem"), 0);
    assert_int_equal(location_db_type_index(db, "habitat"), 3);
    location_db_free(db);
}

static void precedence_env_then_config_then_files(void **state)
{
    const char *etc = put_host_layout();
    struct kv locs[] = {{"region", "uswest2-prod"}, {"superregion", "nova-prod"}};
    const char *env[] = {"MESHREG_LOCATION_REGION=useast1-prod",
                         "MESHREG_LOCATION_HABITAT=", "MESHREG_LOCATION_SUPER_REGION=x",
                         "MESHREG_LOCATIONS=y", NULL};
    struct settings s;
    memset(&s, 0, sizeof(s));
    s.locations = locs;
    s.nlocations = 2;
    s.envp = (char **)env;
    struct location_db *db = load_db(etc, &s);
    assert_non_null(db);
    assert_string_equal(location_db_host(db, "region"), "useast1-prod"); /* env */
    assert_string_equal(location_db_host_origin(db, "region"), "MESHREG_LOCATION_REGION");
    assert_string_equal(location_db_host(db, "superregion"), "nova-prod"); /* config */
    assert_string_equal(location_db_host_origin(db, "superregion"), "locations:");
    assert_string_equal(location_db_host(db, "habitat"), "uswest1aprod"); /* empty env: unset */
    assert_string_equal(location_db_host(db, "super-region"), "x");       /* env spelling */
    location_db_free(db);
    /* env and config without any file or hierarchy: today's behaviour */
    db = load_db(tpath("none"), &s);
    assert_string_equal(location_db_host(db, "region"), "useast1-prod");
    assert_string_equal(location_db_host(db, "superregion"), "nova-prod");
    assert_null(location_db_host(db, "habitat"));
    location_db_free(db);
}

static void files_without_hierarchy_use_paastas_types(void **state)
{
    put("etc/region", "uswest1-prod\n");
    put("etc/rack", "r12\n"); /* not a type anyone declared: not read */
    struct location_db *db = load_db(tpath("etc"), NULL);
    assert_non_null(db);
    assert_false(location_db_has_hierarchy(db));
    assert_string_equal(location_db_host(db, "region"), "uswest1-prod");
    assert_null(location_db_host(db, "rack"));
    assert_string_equal(location_db_types_file(db), "");
    location_db_free(db);
    /* with location_types.json, its types are the ones read */
    put("etc/services/location_types.json", "[\"rack\"]");
    put("etc/services/location_mapping.json", "{\"r12_rack\": {}}");
    db = load_db(tpath("etc"), NULL);
    assert_string_equal(location_db_host(db, "rack"), "r12");
    assert_null(location_db_host(db, "region"));
    location_db_free(db);
}

/* Loads tdir/etc expecting a failure whose message starts with the path of
 * rel (in tdir) followed by `rest`. */
static void assert_bad(const char *rel, const char *rest)
{
    struct location_db *db = load_db(tpath("etc"), NULL);
    if (db)
        fail_msg("%s: loaded, expected an error", rel);
    char want[PATH_MAX + 256];
    snprintf(want, sizeof(want), "%s%s", tpath(rel), rest);
    if (strncmp(lerr, want, strlen(want)) != 0)
        fail_msg("error is \"%s\", expected it to start with \"%s\"", lerr, want);
}

static void malformed_files_are_named(void **state)
{
    put_host_layout();
    put("etc/services/location_types.json", "[\"ecosystem\", \"region\",]\n");
    assert_bad("etc/services/location_types.json", ":1:24: ");
    put("etc/services/location_types.json", "{\"region\": 1}");
    assert_bad("etc/services/location_types.json",
               ": expected a non-empty JSON list of location types");
    put("etc/services/location_types.json", "[\"region\", \"../x\"]");
    assert_bad("etc/services/location_types.json", ": item 2: expected a location type name");
    put("etc/services/location_types.json", "[\"region\", \"region\"]");
    assert_bad("etc/services/location_types.json", ": location type 'region' listed twice");
    put("etc/services/location_types.json", fixture_types);
    put("etc/services/location_mapping.json", "{\"prod_ecosystem\": {\"x_region\": []}}");
    assert_bad("etc/services/location_mapping.json",
               ": \"x_region\": expected an object of the locations it contains");
    put("etc/services/location_mapping.json", "{\"prod\": {}}");
    assert_bad("etc/services/location_mapping.json", ": \"prod\": expected LOCATION_TYPE");
    put("etc/services/location_mapping.json", "[]");
    assert_bad("etc/services/location_mapping.json", ": expected a JSON object of locations");
    put("etc/services/location_mapping.json", "{\"a_region\": {}, \"a_region\": {}}");
    assert_bad("etc/services/location_mapping.json", ":1:");
    put("etc/services/location_mapping.json", fixture_mapping);
    put("etc/region", "uswest1-prod\nuswest2-prod\n");
    assert_bad("etc/region", ": expected one location name on one line (byte 13 is 0x0a)");
    put("etc/region", " \n");
    assert_bad("etc/region", ": empty (expected this host's location on one line)");
    remove(tpath("etc/region"));
    mkdir(tpath("etc/region"), 0755);
    assert_bad("etc/region", ": not a regular file");
    rmdir(tpath("etc/region"));
    put("etc/region", "uswest1-prod\n");
    struct location_db *db = load_db(tpath("etc"), NULL);
    assert_non_null(db);
    location_db_free(db);
    /* half a hierarchy */
    remove(tpath("etc/services/location_mapping.json"));
    assert_bad("etc/services/location_types.json", ": found, but no location_mapping.json in ");
}

/* A FIFO (or a device) where the location file should be is refused at
 * once: opening it must not block the start-up. */
static void fifo_location_file(void **state)
{
    put_host_layout();
    remove(tpath("etc/habitat"));
    assert_int_equal(mkfifo(tpath("etc/habitat"), 0644), 0);
    assert_bad("etc/habitat", ": not a regular file");
}

static void deep_mapping_is_refused(void **state)
{
    put("etc/services/location_types.json", fixture_types);
    char buf[8192] = "";
    for (int i = 0; i < 40; i++)
        strcat(buf, "{\"x_region\": ");
    strcat(buf, "{}");
    for (int i = 0; i < 40; i++)
        strcat(buf, "}");
    put("etc/services/location_mapping.json", buf);
    assert_bad("etc/services/location_mapping.json", ": nested deeper than 32 levels");
}

int main(int argc, char **argv)
{
    (void)argc;
    find_repo_root(argv[0]);
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
    const struct CMUnitTest tests[] = {
        T(converts_up_down_and_across),
        T(conversion_errors),
        T(host_locations_from_files),
        T(precedence_env_then_config_then_files),
        T(files_without_hierarchy_use_paastas_types),
        T(malformed_files_are_named),
        T(fifo_location_file),
        T(deep_mapping_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
