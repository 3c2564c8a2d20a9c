/* The drains kept across restarts (sidecar/state.c, --state-dir):
 * DIR/drain.json written atomically while any admin drain is in force,
 * removed when none is, restored at start-up unless expired; a file that
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

static struct spool one(const char *scope, const char *reason, double until, double now)
{
    struct spool s;
    bool replaced;
    spool_init(&s);
    assert_int_equal(spool_down(&s, scope, reason, until, now, NULL, &replaced), 0);
    return s;
}

/* ---- tests ---- */

static void no_dir_is_a_no_op(void **state)
{
    struct fx *f = *state;
    struct spool s = one("all", "x", 0, 100);
    char err[128];
    assert_int_equal(state_save(NULL, &s), 0);
    assert_int_equal(state_prepare(NULL, err, sizeof(err)), 0);
    struct spool e;
    spool_init(&e);
    state_load(NULL, &e, 100);
    assert_int_equal(e.n, 0);
    assert_string_equal(logged(f), "");
    spool_clear(&s);
}

/* Every drain comes back with its scope, reason, start and end. */
static void save_then_restore(void **state)
{
    struct fx *f = *state;
    const char *reason = "deploy \"v2\" \\ \xc3\xa9t\xc3\xa9";
    double now = wall_now();
    bool replaced;
    struct spool s = one("all", reason, now + 600, now - 5);
    assert_int_equal(spool_down(&s, "svc.main", "bob", 0, now - 3, NULL, &replaced), 0);
    assert_int_equal(state_save(f->dir, &s), 0);
    assert_false(exists(f->tmp));

    json_error_t jerr;
    json_t *o = json_load_file(f->path, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "drains")), 2);
    json_decref(o);

    struct spool e;
    spool_init(&e);
    state_load(f->dir, &e, now);
    assert_int_equal(e.n, 2);
    const struct spool_entry *all = spool_find(&e, "all", now);
    assert_non_null(all);
    assert_string_equal(all->reason, reason);
    assert_true(fabs(all->until - (now + 600)) < 1e-3);
    assert_true(fabs(all->since - (now - 5)) < 1e-3);
    const struct spool_entry *m = spool_find(&e, "svc.main", now);
    assert_non_null(m);
    assert_true(m->until == 0);
    assert_string_equal(m->reason, "bob");
    assert_null(strstr(logged(f), "error"));
    spool_clear(&s);
    spool_clear(&e);
}

/* A later save replaces the file whole; no drain left removes it, and
 * removing an absent file is fine. */
static void overwrite_and_undrain(void **state)
{
    struct fx *f = *state;
    bool replaced;
    struct spool s = one("all", "first", 0, 100);
    assert_int_equal(state_save(f->dir, &s), 0);
    assert_int_equal(spool_down(&s, "all", "second", 1e10, 110, NULL, &replaced), 0);
    assert_int_equal(state_save(f->dir, &s), 0);
    struct spool e;
    spool_init(&e);
    state_load(f->dir, &e, 200);
    assert_string_equal(spool_find(&e, "all", 200)->reason, "second");
    spool_clear(&e);

    spool_up(&s, "all", NULL);
    assert_int_equal(state_save(f->dir, &s), 0);
    assert_false(exists(f->path));
    assert_int_equal(state_save(f->dir, &s), 0);
    state_load(f->dir, &e, 0);
    assert_int_equal(e.n, 0);
    /* the one restore was said, nothing else */
    const char *log = logged(f);
    assert_non_null(strstr(log, "drain of all in force since before the restart (since 110, "
                                "reason: second)"));
    assert_null(strstr(log, "error"));
    spool_clear(&s);
}

/* The one-drain file of earlier versions is an `all` drain; an expired
 * drain is not restored, and says so. */
static void old_format_and_expiry(void **state)
{
    struct fx *f = *state;
    char text[256];
    struct spool e;
    spool_init(&e);
    snprintf(text, sizeof(text), "{\"drained\": true, \"reason\": \"old\", \"expires_at\": %.3f}",
             wall_now() - 10);
    write_file(f->path, text);
    state_load(f->dir, &e, wall_now());
    assert_int_equal(e.n, 0);
    assert_non_null(strstr(logged(f), "expired while meshreg was down"));

    snprintf(text, sizeof(text), "{\"drained\": true, \"expires_at\": %lld}",
             (long long)wall_now() + 100);
    write_file(f->path, text);
    state_load(f->dir, &e, wall_now());
    assert_non_null(spool_find(&e, "all", wall_now()));
    spool_clear(&e);

    write_file(f->path, "{\"drained\": false, \"reason\": \"x\"}");
    state_load(f->dir, &e, 50);
    assert_int_equal(e.n, 0);

    snprintf(text, sizeof(text),
             "{\"drains\": [{\"scope\": \"svc.a\", \"until\": %.3f}, {\"scope\": \"svc.b\"}]}",
             wall_now() - 1);
    write_file(f->path, text);
    state_load(f->dir, &e, wall_now());
    assert_int_equal(e.n, 1);
    assert_non_null(spool_find(&e, "svc.b", wall_now()));
    spool_clear(&e);
}

static void missing_file_restores_nothing(void **state)
{
    struct fx *f = *state;
    struct spool e;
    spool_init(&e);
    state_load(f->dir, &e, 50);
    char gone[160];
    snprintf(gone, sizeof(gone), "%s/nope", f->dir);
    state_load(gone, &e, 50);
    assert_int_equal(e.n, 0);
    assert_string_equal(logged(f), "");
}

/* Whatever is in the file, a bad one is ignored whole with one error line
 * that names it. */
static void corrupt_or_truncated_file_is_ignored(void **state)
{
    struct fx *f = *state;
    struct spool s = one("all", "a reason long enough to be cut", 1e10, 100);
    assert_int_equal(state_save(f->dir, &s), 0);
    spool_clear(&s);
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
        "{\"drains\": 5}",
        "{\"drains\": [{\"reason\": \"no scope\"}]}",
        "{\"drains\": [{\"scope\": \"all\"}, {\"scope\": \"\"}]}",
        "{\"drains\": [{\"scope\": \"x\", \"until\": \"soon\"}]}",
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
        struct spool e;
        spool_init(&e);
        state_load(f->dir, &e, 50);
        const char *log = logged(f);
        if (e.n != 0 || !strstr(log, "error") || !strstr(log, f->path))
            fail_msg("file %zu (%s): %zu drains, log: %s", i, text, e.n, log);
        spool_clear(&e);
    }
    /* a directory where the file should be */
    unlink(f->path);
    assert_int_equal(mkdir(f->path, 0755), 0);
    struct spool e;
    spool_init(&e);
    state_load(f->dir, &e, 50);
    assert_int_equal(e.n, 0);
    assert_non_null(strstr(logged(f), f->path));
}

/* --state-dir is created (with parents) at start; a path that cannot be a
 * directory is an error naming it. */
static void prepare_creates_or_refuses(void **state)
{
    struct fx *f = *state;
    char err[256], deep[160], file_dir[160], under[200];
    snprintf(deep, sizeof(deep), "%s/a/b/c", f->dir);
    assert_int_equal(state_prepare(deep, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(state_prepare(deep, err, sizeof(err)), 0); /* exists: fine */

    snprintf(file_dir, sizeof(file_dir), "%s/plain", f->dir);
    write_file(file_dir, "x");
    assert_int_equal(state_prepare(file_dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a directory"));
    snprintf(under, sizeof(under), "%s/plain/sub", f->dir);
    assert_int_equal(state_prepare(under, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot create"));
    assert_int_equal(state_prepare("", err, sizeof(err)), -1);
}

/* Saving fails: reported (-1, one error line naming the file), no temp file
 * left behind, and a drain.json already there is not clobbered. */
static void unwritable_dir_is_reported(void **state)
{
    struct fx *f = *state;
    struct spool d = one("all", "new", 0, 100);

    char file_dir[160];
    snprintf(file_dir, sizeof(file_dir), "%s/plain", f->dir);
    write_file(file_dir, "x");
    assert_int_equal(state_save(file_dir, &d), -1);
    assert_non_null(strstr(logged(f), "state: cannot write"));

    struct spool old = one("all", "old", 0, 100);
    assert_int_equal(state_save(f->dir, &old), 0);
    assert_int_equal(mkdir(f->tmp, 0755), 0);
    assert_int_equal(state_save(f->dir, &d), -1);
    assert_non_null(strstr(logged(f), f->path));
    struct spool e;
    spool_init(&e);
    state_load(f->dir, &e, 0);
    assert_string_equal(spool_find(&e, "all", 0)->reason, "old");
    spool_clear(&e);
    assert_int_equal(rmdir(f->tmp), 0);

    /* drain.json is a directory: rename fails, undrain cannot remove it */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0755), 0);
    char inside[160];
    snprintf(inside, sizeof(inside), "%s/keep", f->path);
    write_file(inside, "x");
    assert_int_equal(state_save(f->dir, &d), -1);
    assert_false(exists(f->tmp));
    struct spool none;
    spool_init(&none);
    assert_int_equal(state_save(f->dir, &none), -1);
    assert_non_null(strstr(logged(f), "state: cannot remove"));
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(rmdir(f->path), 0);
    assert_int_equal(state_save(f->dir, &d), 0);
    spool_clear(&d);
    spool_clear(&old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_dir_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(save_then_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(overwrite_and_undrain, setup, teardown),
        cmocka_unit_test_setup_teardown(old_format_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_restores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_or_truncated_file_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(prepare_creates_or_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_dir_is_reported, setup, teardown),
    };
    return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
