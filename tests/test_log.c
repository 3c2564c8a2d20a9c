/* Logging: one event per line, the registration's name in it, valid JSON
 * in json mode. stdout is redirected to a file for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sidecar/log.h"

static char path[64];
static int saved = -1;

static int capture(void **state)
{
    snprintf(path, sizeof(path), "/tmp/meshreg-log-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    saved = dup(1);
    dup2(fd, 1);
    close(fd);
    return 0;
}

static char *release(void)
{
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    saved = -1;
    FILE *f = fopen(path, "r");
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    return buf;
}

static int teardown(void **state)
{
    if (saved >= 0) /* a failed assertion skipped release(): give stdout back */
        release();
    log_setup(LOG_FORMAT_TEXT, LOG_INFO);
    return 0;
}

static void text_line_carries_the_registration(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_INFO);
    log_info("svc.main", "now %s", "healthy");
    log_info(NULL, "started");
    char *out = release();
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_non_null(strstr(out, " info  svc.main: now healthy"));
    assert_non_null(strstr(nl + 1, " info  started\n"));
    assert_null(strstr(nl + 1, ": started"));
}

static void json_lines_parse_and_keep_fields(void **state)
{
    log_setup(LOG_FORMAT_JSON, LOG_INFO);
    log_warn("svc.canary", "probe failed: %s", "HTTP 503 \"x\"\\");
    log_error(NULL, "plain");
    char *out = release();
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "registration")), "svc.canary");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "probe failed: HTTP 503 \"x\"\\");
    assert_non_null(json_object_get(j, "ts"));
    json_decref(j);
    j = json_loads(second, JSON_DISABLE_EOF_CHECK, &e);
    assert_non_null(j);
    assert_null(json_object_get(j, "registration"));
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    json_decref(j);
}

static void one_event_is_one_line(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_INFO);
    log_info("r", "two\nlines\r\nhere");
    log_setup(LOG_FORMAT_JSON, LOG_INFO);
    log_info("r", "a\nb\x01");
    char *out = release();
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "two lines  here"));
    char *second = strchr(out, '\n') + 1;
    json_error_t e;
    json_t *j = json_loads(second, JSON_DISABLE_EOF_CHECK, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "a b\x01");
    json_decref(j);
}

static void below_the_level_is_dropped(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_WARN);
    log_info("r", "hidden");
    log_debug("r", "hidden");
    log_warn("r", "shown");
    char *out = release();
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "shown"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_line_carries_the_registration, capture, teardown),
        cmocka_unit_test_setup_teardown(json_lines_parse_and_keep_fields, capture, teardown),
        cmocka_unit_test_setup_teardown(one_event_is_one_line, capture, teardown),
        cmocka_unit_test_setup_teardown(below_the_level_is_dropped, capture, teardown),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
