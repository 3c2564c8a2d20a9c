/* The drain state kept across restarts (sidecar/state.c, --state-dir):
 * DIR/drain.json written atomically while an admin drain is in force,
 * removed on undrain, restored at start-up unless expired; a file that
 * cannot be read or parsed is logged and ignored. Real files in a temp
 * dir; the tests may run as root, so "unwritable" means a path the kernel
 * refuses whoever asks (a regular file as a directory, a directory where a
 * file must go). stdout (the log) is captured to check what was said. */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/drain.h"
#include "sidecar/log.h"
#include "sidecar/state.h"

/* ---- fixture: a fresh state dir, stdout captured ---- */

struct fx {
    char dir[64];
    char path[128]; /* dir/drain.json */
    char tmp[128];  /* dir/.drain.json.tmp */
    char logpath[64];
    int saved_stdout;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/meshreg-test-state-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/drain.json", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s/.drain.json.tmp", f->dir);
    snprintf(f->logpath, sizeof(f->logpath), "/tmp/meshreg-test-state-log-XXXXXX");
    int fd = mkstemp(f->logpath);
    assert_true(fd >= 0);
    fflush(stdout);
    f->saved_stdout = dup(1);
    assert_true(f->saved_stdout >= 0);
    dup2(fd, 1);
    close(fd);
    log_setup(LOG_FORMAT_TEXT, LOG_INFO);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fflush(stdout);
    dup2(f->saved_stdout, 1);
    close(f->saved_stdout);
    unlink(f->logpath);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Everything logged since the last call. */
static const char *logged(struct fx *f)
{
    static char buf[8192];
    fflush(stdout);
    FILE *fp = fopen(f->logpath, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    assert_int_equal(truncate(f->logpath, 0), 0);
    assert_int_equal(lseek(1, 0, SEEK_SET), 0);
    return buf;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A drain as POST /drain makes it, at loop time `now`. */
static struct drain drained(double now, const char *reason, double expires_s)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    drain_request_admin(&d, now, reason, expires_s);
    return d;
}

static struct drain fresh(void)
{
    struct drain d;
    drain_init(&d, 30, 10, false);
    return d;
}

/* ---- tests ---- */

static void no_dir_is_a_no_op(void **state)
{
    struct fx *f = *state;
    struct drain d = drained(100, "x", 0);
    assert_int_equal(state_save(NULL, &d, 100), 0);
    struct drain e = fresh();
    state_load(NULL, &e, 100);
    assert_false(e.admin);
    assert_string_equal(logged(f), "");
}

/* The file holds wall-clock time, the drain the loop's clock: restored on a
 * loop whose clock reads something else entirely, the drain has the same
 * time left, its reason, and a window counted from the restore. */
static void save_then_restore(void **state)
{
    struct fx *f = *state;
    const char *reason = "deploy \"v2\" \\ \xc3\xa9t\xc3\xa9";
    struct drain d = drained(100, reason, 600);
    double w0 = wall_now();
    assert_int_equal(state_save(f->dir, &d, 100), 0);
    assert_false(exists(f->tmp));

    json_error_t jerr;
    json_t *o = json_load_file(f->path, 0, &jerr);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "drained")));
    assert_string_equal(json_string_value(json_object_get(o, "reason")), reason);
    double exp = json_number_value(json_object_get(o, "expires_at"));
    assert_true(fabs(exp - (w0 + 600)) < 5);
    json_decref(o);

    struct drain e = fresh();
    state_load(f->dir, &e, 5000);
    assert_true(e.admin);
    assert_true(drain_is_draining(&e));
    assert_string_equal(e.reason, reason);
    assert_true(fabs(e.admin_expires_at - (5000 + 600)) < 5);
    assert_true(e.admin_at == 5000);
    assert_true(fabs(drain_window_remaining(&e, 5000) - 30) < 1e-9);
    /* and it still expires, on the new clock */
    drain_tick(&e, 5000 + 300, 0);
    assert_true(e.admin);
    drain_tick(&e, 5000 + 601, 0);
    assert_false(e.admin);
    assert_null(strstr(logged(f), "error"));
}

static void a_drain_without_expiry_stays_without(void **state)
{
    struct fx *f = *state;
    struct drain d = drained(100, "", 0);
    assert_int_equal(state_save(f->dir, &d, 100), 0);
    struct drain e = fresh();
    state_load(f->dir, &e, 7);
    assert_true(e.admin);
    assert_true(e.admin_expires_at == 0);
    assert_string_equal(e.reason, "");
    drain_tick(&e, 1e9, 0);
    assert_true(e.admin);
}

/* A later save replaces the file whole; undrain removes it, and removing an
 * absent file is fine. */
static void overwrite_and_undrain(void **state)
{
    struct fx *f = *state;
    struct drain d = drained(100, "first", 0);
    assert_int_equal(state_save(f->dir, &d, 100), 0);
    drain_request_admin(&d, 110, "second", 60);
    assert_int_equal(state_save(f->dir, &d, 110), 0);
    struct drain e = fresh();
    state_load(f->dir, &e, 0);
    assert_string_equal(e.reason, "second");
    assert_true(e.admin_expires_at > 0);

    drain_request_undrain(&d);
    assert_int_equal(state_save(f->dir, &d, 120), 0);
    assert_false(exists(f->path));
    assert_int_equal(state_save(f->dir, &d, 120), 0);
    e = fresh();
    state_load(f->dir, &e, 0);
    assert_false(e.admin);
    assert_string_equal(logged(f), "");
}

static void expired_while_down_is_not_restored(void **state)
{
    struct fx *f = *state;
    char text[128];
    snprintf(text, sizeof(text), "{\"drained\": true, \"reason\": \"old\", \"expires_at\": %.3f}",
             wall_now() - 10);
    write_file(f->path, text);
    struct drain e = fresh();
    state_load(f->dir, &e, 50);
    assert_false(e.admin);
    assert_string_equal(e.reason, "");
    assert_non_null(strstr(logged(f), "expired while meshreg was down"));

    /* not yet expired: restored with what is left */
    snprintf(text, sizeof(text), "{\"drained\": true, \"expires_at\": %.3f}", wall_now() + 20);
    write_file(f->path, text);
    state_load(f->dir, &e, 50);
    assert_true(e.admin);
    assert_true(e.admin_expires_at > 50 + 10 && e.admin_expires_at < 50 + 20.01);
    /* an integer expiry is a number too */
    snprintf(text, sizeof(text), "{\"drained\": true, \"expires_at\": %lld}",
             (long long)wall_now() + 100);
    write_file(f->path, text);
    e = fresh();
    state_load(f->dir, &e, 50);
    assert_true(e.admin);
    assert_true(e.admin_expires_at > 50 + 90);
}

static void drained_false_restores_nothing(void **state)
{
    struct fx *f = *state;
    write_file(f->path, "{\"drained\": false, \"reason\": \"x\"}");
    struct drain e = fresh();
    state_load(f->dir, &e, 50);
    assert_false(e.admin);
    assert_string_equal(logged(f), "");
}

static void missing_file_restores_nothing(void **state)
{
    struct fx *f = *state;
    struct drain e = fresh();
    state_load(f->dir, &e, 50);
    assert_false(e.admin);
    char gone[160];
    snprintf(gone, sizeof(gone), "%s/nope", f->dir);
    state_load(gone, &e, 50);
    assert_false(e.admin);
    assert_string_equal(logged(f), "");
}

/* Whatever is in the file, a bad one is ignored with one error line that
 * names it, and the drain state is left as it was. */
static void corrupt_or_truncated_file_is_ignored(void **state)
{
    struct fx *f = *state;
    struct drain d = drained(100, "a reason long enough to be cut", 60);
    assert_int_equal(state_save(f->dir, &d, 100), 0);
    FILE *fp = fopen(f->path, "r");
    char good[512];
    size_t n = fread(good, 1, sizeof(good) - 1, fp);
    fclose(fp);
    good[n] = '\0';
    assert_true(n > 20);

    const char *bad[] = {
        "",
        "not json at all",
        "\x01\x02\xff\xfe",
        "[true]",
        "{\"drained\": \"yes\"}",
        "{\"reason\": \"no drained key\"}",
        "{\"drained\": true, \"reason\": 5}",
        "{\"drained\": true, \"expires_at\": \"tomorrow\"}",
        "{\"drained\": true, \"reason\": \"a\\u0000b\"}",
    };
    for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        if (i < sizeof(bad) / sizeof(bad[0])) {
            snprintf(text, sizeof(text), "%s", bad[i]);
        } else {
            snprintf(text, sizeof(text), "%s", good);
            text[n / 2] = '\0'; /* cut short, as by a crash mid-write */
        }
        write_file(f->path, text);
        struct drain e = fresh();
        state_load(f->dir, &e, 50);
        const char *log = logged(f);
        if (e.admin || !strstr(log, "error") || !strstr(log, f->path))
            fail_msg("file %zu (%s): admin=%d, log: %s", i, text, e.admin, log);
        assert_string_equal(e.reason, "");
    }
    /* a directory where the file should be */
    unlink(f->path);
    assert_int_equal(mkdir(f->path, 0755), 0);
    struct drain e = fresh();
    state_load(f->dir, &e, 50);
    assert_false(e.admin);
    assert_non_null(strstr(logged(f), f->path));
}

/* A reason longer than the drain keeps is cut, not overflowed. */
static void overlong_reason_is_cut(void **state)
{
    struct fx *f = *state;
    char text[1024], reason[600];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"drained\": true, \"reason\": \"%s\"}", reason);
    write_file(f->path, text);
    struct drain e = fresh();
    state_load(f->dir, &e, 50);
    assert_true(e.admin);
    assert_int_equal(strlen(e.reason), sizeof(e.reason) - 1);
    assert_memory_equal(e.reason, reason, sizeof(e.reason) - 1);
}

/* Saving fails: reported (-1, one error line naming the file), no temp file
 * left behind, and a drain.json already there is not clobbered. */
static void unwritable_dir_is_reported(void **state)
{
    struct fx *f = *state;
    struct drain d = drained(100, "new", 0);

    /* the state dir is a regular file */
    char file_dir[160];
    snprintf(file_dir, sizeof(file_dir), "%s/plain", f->dir);
    write_file(file_dir, "x");
    assert_int_equal(state_save(file_dir, &d, 100), -1);
    assert_non_null(strstr(logged(f), "state: cannot write"));
    /* ... or missing */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(state_save(missing, &d, 100), -1);
    assert_false(exists(missing));
    logged(f);

    /* a directory where the temp file goes: the old state survives */
    struct drain old = drained(100, "old", 0);
    assert_int_equal(state_save(f->dir, &old, 100), 0);
    assert_int_equal(mkdir(f->tmp, 0755), 0);
    assert_int_equal(state_save(f->dir, &d, 100), -1);
    assert_non_null(strstr(logged(f), f->path));
    struct drain e = fresh();
    state_load(f->dir, &e, 0);
    assert_string_equal(e.reason, "old");
    assert_int_equal(rmdir(f->tmp), 0);

    /* drain.json is a directory that rename cannot replace: the temp file
     * is removed again */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0755), 0);
    char inside[160];
    snprintf(inside, sizeof(inside), "%s/keep", f->path);
    write_file(inside, "x");
    assert_int_equal(state_save(f->dir, &d, 100), -1);
    assert_false(exists(f->tmp));
    assert_non_null(strstr(logged(f), "state: cannot write"));
    /* and undrain cannot remove it either: reported */
    struct drain none = fresh();
    assert_int_equal(state_save(f->dir, &none, 100), -1);
    assert_non_null(strstr(logged(f), "state: cannot remove"));

    /* the obstacle gone, saving works again */
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(rmdir(f->path), 0);
    assert_int_equal(state_save(f->dir, &d, 100), 0);
    e = fresh();
    state_load(f->dir, &e, 0);
    assert_string_equal(e.reason, "new");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_dir_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(save_then_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(a_drain_without_expiry_stays_without, setup, teardown),
        cmocka_unit_test_setup_teardown(overwrite_and_undrain, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_while_down_is_not_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(drained_false_restores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_restores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_or_truncated_file_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(overlong_reason_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_dir_is_reported, setup, teardown),
    };
    return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
