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

#include "sidecar/reg.h"

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

static void resync_rewrites_every_wanted_record(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/registry/svc.main/h_2.json", f->dir);
    reg_set(f->r, "svc.main", "h_2", "{\"x\":1}");
    unlink(path); /* the backend lost it */
    reg_resync(f->r);
    assert_string_equal(slurp(path), "{\"x\":1}");
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
        cmocka_unit_test_setup_teardown(no_temp_files_left_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(repeated_set_is_cheap_and_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(clear_removes_a_leftover_of_an_earlier_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failures_stay_pending_and_retry_with_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(resync_rewrites_every_wanted_record, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_scheme_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unsafe_names_never_escape_the_directory, setup, teardown),
    };
    return cmocka_run_group_tests_name("reg_file", tests, NULL, NULL);
}
