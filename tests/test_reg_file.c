/* The registry core driven through the file: backend on a real directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sidecar/backend/reg.h"

struct fixture {
    struct ev_loop *loop;
    char dir[64];
    char uri[96];
    struct reg *r;
    int changes;
};

static void on_change(void *arg)
{
    ((struct fixture *)arg)->changes++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(f->dir, sizeof(f->dir), "/tmp/meshreg-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->uri, sizeof(f->uri), "file:%s/registry", f->dir);
    char err[256];
    f->r = reg_new(f->loop, f->uri, 10, err, sizeof(err));
    assert_non_null(f->r);
    f->r->on_change = on_change;
    f->r->on_change_arg = f;
    assert_int_equal(reg_start(f->r), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    reg_free(f->r);
    ev_loop_destroy(f->loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void put_writes_the_file_and_del_removes_it(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/registry/svc.main/host_8888.json", f->dir);
    assert_int_equal(f->r->conn, REG_CONNECTED);
    reg_set(f->r, "svc.main", "host_8888", "{\"a\":1}");
    assert_true(reg_present(f->r, "svc.main", "host_8888"));
    assert_int_equal(reg_pending(f->r), 0);
    assert_string_equal(slurp(path), "{\"a\":1}");
    reg_set(f->r, "svc.main", "host_8888", "{\"a\":2}");
    assert_string_equal(slurp(path), "{\"a\":2}");
    reg_set(f->r, "svc.main", "host_8888", NULL);
    assert_false(reg_present(f->r, "svc.main", "host_8888"));
    assert_int_equal(access(path, F_OK), -1);
    assert_null(f->r->entries); /* settled deletions are forgotten */
    assert_true(f->changes >= 3);
}

/* Stopping has no session to end: it is done when reg_stop returns, with
 * one change notice (what the sidecar's drain waits for), and sets nothing
 * more. The file's readers are local: no adaptive-drain floor. */
static void stop_is_done_at_once(void **state)
{
    struct fixture *f = *state;
    assert_true(reg_local_readers(f->r));
    assert_false(reg_stopped(f->r));
    int before = f->changes;
    reg_stop(f->r);
    assert_true(reg_stopped(f->r));
    assert_int_equal(f->changes, before + 1);
    reg_set(f->r, "svc.main", "h_9", "{}");
    assert_false(reg_present(f->r, "svc.main", "h_9"));
}

static void no_temp_files_left_behind(void **state)
{
    struct fixture *f = *state;
    reg_set(f->r, "svc.main", "h_1", "{}");
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s/registry/svc.main | grep -v '^h_1.json$')\"",
             f->dir);
    assert_int_equal(system(cmd), 0);
}

static void repeated_set_is_cheap_and_idempotent(void **state)
{
    struct fixture *f = *state;
    reg_set(f->r, "svc.main", "h_1", "{}");
    unsigned long ops = f->r->ops_ok;
    for (int i = 0; i < 100; i++)
        reg_set(f->r, "svc.main", "h_1", "{}");
    assert_int_equal(f->r->ops_ok, ops);
    for (int i = 0; i < 100; i++)
        reg_set(f->r, "svc.other", "h_1", NULL); /* never put: nothing to do */
    assert_int_equal(f->r->ops_ok, ops);
}

static void clear_removes_a_leftover_of_an_earlier_run(void **state)
{
    struct fixture *f = *state;
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/registry/svc.main", f->dir);
    snprintf(path, sizeof(path), "%s/old_1.json", dir);
    mkdir(dir, 0755);
    FILE *fp = fopen(path, "w");
    fputs("{}", fp);
    fclose(fp);
    reg_clear(f->r, "svc.main", "old_1");
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(reg_pending(f->r), 0);
}

static void failures_stay_pending_and_retry_with_backoff(void **state)
{
    struct fixture *f = *state;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/registry/svc.ro", f->dir);
    /* A regular file where the directory should be: every put fails. */
    FILE *fp = fopen(dir, "w");
    fclose(fp);
    reg_set(f->r, "svc.ro", "h_1", "{}");
    assert_false(reg_present(f->r, "svc.ro", "h_1"));
    assert_int_equal(reg_pending(f->r), 1);
    assert_true(ev_is_active(&f->r->retry));
    assert_true(f->r->ops_failed >= 1);
    assert_non_null(strstr(f->r->last_error, "Not a directory"));
    /* Fix the cause; the retry timer converges without another reg_set. */
    unlink(dir);
    ev_run(f->loop, EVRUN_ONCE);
    for (int i = 0; i < 50 && reg_pending(f->r); i++)
        ev_run(f->loop, EVRUN_ONCE);
    assert_int_equal(reg_pending(f->r), 0);
    assert_true(reg_present(f->r, "svc.ro", "h_1"));
}

/* ---- the backend's own failures: an obstacle in the file system makes
 * a write, rename or unlink fail. The tests may run as root, where chmod
 * stops nothing, so the obstacles are ones the kernel refuses to anyone:
 * a directory where a file must go, a regular file where a directory
 * must be, a name too long, a full device. Each time the failure is
 * reported (last_error, ops_failed), the record stays pending with the
 * retry timer armed and reg_present() false, no temp file is left, and
 * once the obstacle is gone the retry lands it without another reg_set. */

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until nothing is pending, or `timeout` seconds passed.
 * The retry backoff starts at 0.1 s. */
static bool wait_settled(struct fixture *f, double timeout)
{
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, guard_cb, timeout, 0.);
    t.data = &timed_out;
    ev_timer_start(f->loop, &t);
    while (reg_pending(f->r) > 0 && !timed_out)
        ev_run(f->loop, EVRUN_ONCE);
    ev_timer_stop(f->loop, &t);
    return reg_pending(f->r) == 0;
}

/* Entries of dir other than `except` (temp files, leftovers). */
static int others_in(const char *dir, const char *except)
{
    char cmd[512], out[16] = "";
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -v -x -F '%s' | wc -l", dir, except);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof(out), p));
    pclose(p);
    return atoi(out);
}

static void assert_failed_pending(struct fixture *f, const char *svc, const char *node,
                                  unsigned long failed_before, const char *what)
{
    assert_false(reg_present(f->r, svc, node));
    assert_int_equal(reg_pending(f->r), 1);
    assert_true(ev_is_active(&f->r->retry));
    assert_true(f->r->ops_failed > failed_before);
    if (!strstr(f->r->last_error, what))
        fail_msg("last_error \"%s\", want it to mention \"%s\"", f->r->last_error, what);
}

static void mkdir_with_a_file(const char *dir)
{
    char inside[320];
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(inside, sizeof(inside), "%s/x", dir);
    FILE *fp = fopen(inside, "w");
    assert_non_null(fp);
    fclose(fp);
}

static void rm_rf(const char *path)
{
    char cmd[320];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* open() of the temp file fails: a directory holds its name. */
static void temp_file_open_fails(void **state)
{
    struct fixture *f = *state;
    char dir[256], tmp[300], path[300];
    snprintf(dir, sizeof(dir), "%s/registry/svc.main", f->dir);
    snprintf(tmp, sizeof(tmp), "%s/.h_1.json.tmp", dir);
    snprintf(path, sizeof(path), "%s/h_1.json", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(tmp, 0755), 0);
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", "h_1", "{\"v\":1}");
    assert_failed_pending(f, "svc.main", "h_1", failed, "Is a directory");
    assert_non_null(strstr(f->r->last_error, "open"));
    assert_int_equal(access(path, F_OK), -1);
    /* still failing while the obstacle stays, with growing backoff */
    failed = f->r->ops_failed;
    ev_run(f->loop, EVRUN_ONCE);
    ev_run(f->loop, EVRUN_ONCE);
    assert_failed_pending(f, "svc.main", "h_1", failed, "Is a directory");
    /* past the first step: the ceiling doubled at least once (backoff.h) */
    print_message("# backoff ceiling %.2f s\n", f->r->backoff.cur);
    assert_true(f->r->backoff.cur > 2 * f->r->backoff.min);

    assert_int_equal(rmdir(tmp), 0);
    assert_true(wait_settled(f, 20.0));
    assert_true(reg_present(f->r, "svc.main", "h_1"));
    assert_string_equal(slurp(path), "{\"v\":1}");
    assert_int_equal(others_in(dir, "h_1.json"), 0);
}

/* write() fails: the temp name is a symlink to /dev/full (open follows
 * it, every write is ENOSPC). The temp name is unlinked after the failure,
 * which removes the obstacle: the retry lands the record. */
static void temp_file_write_fails(void **state)
{
    struct fixture *f = *state;
    char dir[256], tmp[300], path[300];
    if (access("/dev/full", W_OK) != 0)
        skip();
    snprintf(dir, sizeof(dir), "%s/registry/svc.main", f->dir);
    snprintf(tmp, sizeof(tmp), "%s/.h_1.json.tmp", dir);
    snprintf(path, sizeof(path), "%s/h_1.json", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(symlink("/dev/full", tmp), 0);
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", "h_1", "{\"v\":2}");
    assert_failed_pending(f, "svc.main", "h_1", failed, "No space left on device");
    assert_non_null(strstr(f->r->last_error, "write"));
    assert_int_equal(others_in(dir, ""), 0); /* the temp name is gone, nothing landed */
    assert_int_equal(access("/dev/full", F_OK), 0);
    assert_true(wait_settled(f, 20.0));
    assert_string_equal(slurp(path), "{\"v\":2}");
    assert_int_equal(others_in(dir, "h_1.json"), 0);
}

/* rename() fails: a non-empty directory holds the record's name. The temp
 * file is removed; an update that comes meanwhile is the one that lands. */
static void rename_fails(void **state)
{
    struct fixture *f = *state;
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/registry/svc.main", f->dir);
    snprintf(path, sizeof(path), "%s/h_1.json", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    mkdir_with_a_file(path);
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", "h_1", "{\"v\":1}");
    assert_failed_pending(f, "svc.main", "h_1", failed, "rename");
    assert_int_equal(others_in(dir, "h_1.json"), 0); /* no temp file */
    reg_set(f->r, "svc.main", "h_1", "{\"v\":3}");
    assert_int_equal(reg_pending(f->r), 1);
    rm_rf(path);
    assert_true(wait_settled(f, 20.0));
    assert_true(reg_present(f->r, "svc.main", "h_1"));
    assert_string_equal(slurp(path), "{\"v\":3}");
    assert_int_equal(others_in(dir, "h_1.json"), 0);
}

/* unlink() fails: the record became a non-empty directory. The record is
 * not reported gone while the delete fails; once it can be, it is. */
static void unlink_fails(void **state)
{
    struct fixture *f = *state;
    char path[300];
    snprintf(path, sizeof(path), "%s/registry/svc.main/h_1.json", f->dir);
    reg_set(f->r, "svc.main", "h_1", "{}");
    assert_true(reg_present(f->r, "svc.main", "h_1"));
    assert_int_equal(unlink(path), 0);
    mkdir_with_a_file(path);
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", "h_1", NULL);
    assert_true(reg_present(f->r, "svc.main", "h_1")); /* not confirmed gone */
    assert_int_equal(reg_pending(f->r), 1);
    assert_true(ev_is_active(&f->r->retry));
    assert_true(f->r->ops_failed > failed);
    assert_non_null(strstr(f->r->last_error, "unlink"));
    rm_rf(path);
    assert_true(wait_settled(f, 20.0));
    assert_false(reg_present(f->r, "svc.main", "h_1"));
    assert_null(f->r->entries);
}

/* The registry directory itself is replaced by a regular file (someone
 * cleaned up): puts fail at mkdir until it is a directory again. */
static void registry_dir_replaced_by_a_file(void **state)
{
    struct fixture *f = *state;
    char reg_dir[200], path[300];
    snprintf(reg_dir, sizeof(reg_dir), "%s/registry", f->dir);
    snprintf(path, sizeof(path), "%s/svc.main/h_1.json", reg_dir);
    rm_rf(reg_dir);
    FILE *fp = fopen(reg_dir, "w");
    assert_non_null(fp);
    fclose(fp);
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", "h_1", "{\"v\":4}");
    assert_failed_pending(f, "svc.main", "h_1", failed, "Not a directory");
    assert_non_null(strstr(f->r->last_error, "mkdir"));
    assert_int_equal(unlink(reg_dir), 0);
    assert_true(wait_settled(f, 20.0));
    assert_string_equal(slurp(path), "{\"v\":4}");
}

/* A node name the file system refuses (over NAME_MAX): reported, kept
 * pending (the retry costs one failing syscall per backoff period, at
 * most every 5 s). */
static void name_too_long(void **state)
{
    struct fixture *f = *state;
    char node[300];
    memset(node, 'n', sizeof(node) - 1);
    node[sizeof(node) - 1] = '\0';
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, "svc.main", node, "{}");
    /* (last_error holds 191 bytes: with this path the reason is cut off) */
    assert_failed_pending(f, "svc.main", node, failed, "open ");
}

/* A path over PATH_MAX is refused before any syscall. */
static void path_too_long(void **state)
{
    struct fixture *f = *state;
    char *svc = malloc(5000);
    assert_non_null(svc);
    memset(svc, 's', 4999);
    svc[4999] = '\0';
    unsigned long failed = f->r->ops_failed;
    reg_set(f->r, svc, "h_1", "{}");
    assert_failed_pending(f, svc, "h_1", failed, "path too long");
    free(svc);
}

/* One record that keeps failing must not starve the others: an older
 * record's deregistration lands while the newer one retries forever. */
static void a_failing_record_does_not_starve_the_others(void **state)
{
    struct fixture *f = *state;
    char old_path[256], bad_path[256];
    snprintf(old_path, sizeof(old_path), "%s/registry/svc.main/h_old.json", f->dir);
    snprintf(bad_path, sizeof(bad_path), "%s/registry/svc.main/h_bad.json", f->dir);
    reg_set(f->r, "svc.main", "h_old", "{}");
    assert_true(reg_present(f->r, "svc.main", "h_old"));
    mkdir_with_a_file(bad_path); /* its rename can never land */
    reg_set(f->r, "svc.main", "h_bad", "{}");
    assert_false(reg_present(f->r, "svc.main", "h_bad"));
    reg_set(f->r, "svc.main", "h_old", NULL);
    /* Settles to exactly the one record that cannot land. */
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, guard_cb, 20., 0.);
    t.data = &timed_out;
    ev_timer_start(f->loop, &t);
    while (access(old_path, F_OK) == 0 && !timed_out)
        ev_run(f->loop, EVRUN_ONCE);
    ev_timer_stop(f->loop, &t);
    assert_false(timed_out);
    assert_false(reg_present(f->r, "svc.main", "h_old"));
    assert_int_equal(reg_pending(f->r), 1);
    rm_rf(bad_path);
    assert_true(wait_settled(f, 20.));
    assert_true(reg_present(f->r, "svc.main", "h_bad"));
}

static void resync_rewrites_every_wanted_record(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/registry/svc.main/h_2.json", f->dir);
    reg_set(f->r, "svc.main", "h_2", "{\"x\":1}");
    unlink(path); /* the backend lost it */
    reg_resync(f->r);
    /* re-registration starts after a jitter of up to 1 s */
    assert_true(wait_settled(f, 5.));
    char *got = slurp(path);
    assert_non_null(got);
    assert_string_equal(got, "{\"x\":1}");
}

/* README "Backend pacing": at 200 operations a second, 100 records take
 * about half a second (a tenth of a second's burst first); unpaced, they
 * are written at once. Every one is found again (the hashed index). */
static void operations_are_paced(void **state)
{
    struct fixture *f = *state;
    char node[32];
    ev_tstamp t0;

    reg_set_max_ops(f->r, 200);
    ev_now_update(f->loop);
    t0 = ev_time();
    for (int i = 0; i < 100; i++) {
        snprintf(node, sizeof(node), "h_%d", i);
        reg_set(f->r, "svc.main", node, "{}");
    }
    assert_true(reg_pending(f->r) > 50);
    assert_true(wait_settled(f, 20.));
    assert_true(ev_time() - t0 > 0.3);
    for (int i = 0; i < 100; i++) {
        snprintf(node, sizeof(node), "h_%d", i);
        assert_true(reg_present(f->r, "svc.main", node));
    }
    reg_set_max_ops(f->r, 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(node, sizeof(node), "n_%d", i);
        reg_set(f->r, "svc.other", node, "{}");
    }
    assert_int_equal(reg_pending(f->r), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(node, sizeof(node), "n_%d", i);
        assert_true(reg_present(f->r, "svc.other", node));
        reg_set(f->r, "svc.other", node, NULL);
    }
    assert_int_equal(reg_pending(f->r), 0);
    assert_false(reg_present(f->r, "svc.other", "n_7"));
    assert_true(reg_present(f->r, "svc.main", "h_7"));
}

static void unknown_scheme_is_refused(void **state)
{
    char err[256];
    assert_null(reg_new(((struct fixture *)*state)->loop, "redis://x", 10, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown scheme"));
    assert_int_equal(reg_validate_uri("consul://x", err, sizeof(err)), -1);
    assert_int_equal(reg_validate_uri("file:/tmp/x", err, sizeof(err)), 0);
    assert_null(reg_new(((struct fixture *)*state)->loop, "file:", 10, err, sizeof(err)));
    assert_non_null(strstr(err, "needs a directory"));
}

static void unsafe_names_never_escape_the_directory(void **state)
{
    struct fixture *f = *state;
    reg_set(f->r, "..", "x_1", "{}");
    assert_false(reg_present(f->r, "..", "x_1"));
    reg_set(f->r, "svc.main", "../../x_1", "{}");
    assert_false(reg_present(f->r, "svc.main", "../../x_1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_writes_the_file_and_del_removes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_is_done_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(no_temp_files_left_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(repeated_set_is_cheap_and_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(clear_removes_a_leftover_of_an_earlier_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failures_stay_pending_and_retry_with_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(temp_file_open_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(temp_file_write_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(unlink_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(registry_dir_replaced_by_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(name_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(path_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failing_record_does_not_starve_the_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(resync_rewrites_every_wanted_record, setup, teardown),
        cmocka_unit_test_setup_teardown(operations_are_paced, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_scheme_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unsafe_names_never_escape_the_directory, setup, teardown),
    };
    return cmocka_run_group_tests_name("reg_file", tests, NULL, NULL);
}
