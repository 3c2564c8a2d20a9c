/* Wrapper mode's supervision of the app, with real child processes on the
 * default libev loop: exit codes and signals reported, exec failures, the
 * app's clean start (own process group, default signal state), signals
 * forwarded, SIGTERM and SIGKILL as the drain machine asks, other children
 * reaped without being mistaken for the app, and fork failing. The log
 * (stdout) is captured to check what is said about the app. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/log.h"
#include "sidecar/supervise.h"
#include "tests/test_noproc.h"

static char tdir[64];

struct seen {
    int calls;
    int code;
    struct supervise *s;
};

static void on_exit_cb(struct supervise *s, int code, void *arg)
{
    struct seen *x = arg;
    x->calls++;
    x->code = code;
    x->s = s;
    assert_false(s->running);
    ev_break(s->loop, EVBREAK_ALL);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until the app is no longer running (or `limit` s). */
static void run_until_exit(struct supervise *s, double limit)
{
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, limit, 0.);
    ev_timer_start(s->loop, &guard);
    while (s->running && ev_is_active(&guard))
        ev_run(s->loop, EVRUN_ONCE);
    ev_timer_stop(s->loop, &guard);
}

static void run_for(struct ev_loop *loop, double seconds)
{
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, seconds, 0.);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

/* ---- capturing stdout (the log) and stderr ---- */

static int saved_out = -1, saved_err = -1;
static FILE *cap_out, *cap_err;
static char log_text[16384], err_text[4096];

static void capture_start(void)
{
    log_setup(LOG_FORMAT_TEXT, LOG_DEBUG);
    fflush(stdout);
    fflush(stderr);
    cap_out = tmpfile();
    cap_err = tmpfile();
    assert_non_null(cap_out);
    assert_non_null(cap_err);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fileno(cap_out), 1);
    dup2(fileno(cap_err), 2);
}

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void capture_stop(void)
{
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(cap_out, log_text, sizeof(log_text));
    slurp(cap_err, err_text, sizeof(err_text));
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR); /* quiet outside captures */
}

static void expect_in(const char *buf, const char *needle)
{
    if (!strstr(buf, needle))
        fail_msg("'%s' not in:\n%s", needle, buf);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char *tpath(const char *name)
{
    static char p[4][128];
    static int k;
    char *b = p[k++ % 4];
    snprintf(b, 128, "%s/%s", tdir, name);
    return b;
}

static bool wait_file(struct ev_loop *loop, const char *path, double limit)
{
    double end = ev_time() + limit;
    while (access(path, F_OK) != 0 && ev_time() < end)
        run_for(loop, 0.01);
    return access(path, F_OK) == 0;
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Starts `sh -c script` under supervision. */
static void start_sh(struct supervise *s, struct seen *x, const char *script)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char err[128] = "";
    memset(x, 0, sizeof(*x));
    if (supervise_start(s, ev_default_loop(0), argv, on_exit_cb, x, err, sizeof(err)) != 0)
        fail_msg("supervise_start: %s", err);
    assert_true(s->running);
    assert_true(s->pid > 0);
}

/* ---- tests ---- */

static void test_exit_codes_are_reported(void **state)
{
    struct supervise s;
    struct seen x;

    capture_start();
    start_sh(&s, &x, "exit 7");
    pid_t pid = s.pid;
    run_until_exit(&s, 10);
    supervise_release(&s);
    capture_stop();
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.code, 7);
    assert_int_equal(s.exit_code, 7);
    assert_ptr_equal(x.s, &s);
    char want[96];
    snprintf(want, sizeof(want), "started app sh (pid %d)", (int)pid);
    expect_in(log_text, want);
    snprintf(want, sizeof(want), "app (pid %d) exited with status 7", (int)pid);
    expect_in(log_text, want);

    /* death by a signal is 128 + the signal, as a shell reports it */
    capture_start();
    start_sh(&s, &x, "kill -TERM $$");
    pid = s.pid;
    run_until_exit(&s, 10);
    supervise_release(&s);
    capture_stop();
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.code, 128 + SIGTERM);
    snprintf(want, sizeof(want), "app (pid %d) killed by signal 15", (int)pid);
    expect_in(log_text, want);
}

/* argv[0] is looked up in PATH; one that cannot run exits 127 with a
 * message on stderr, like a shell's. */
static void test_exec_failures(void **state)
{
    struct supervise s;
    struct seen x;
    char err[128];
    char *argv[] = {"/nonexistent/meshreg-app", "--flag", NULL};

    /* reported by supervise_start itself (one error for the caller to log,
     * nothing on stderr, no exit callback): README "Running it" wrapper mode */
    memset(&x, 0, sizeof(x));
    capture_start();
    assert_int_equal(
        supervise_start(&s, ev_default_loop(0), argv, on_exit_cb, &x, err, sizeof(err)),
        SUPERVISE_EXEC_FAILED);
    supervise_release(&s);
    capture_stop();
    assert_int_equal(x.calls, 0);
    assert_string_equal(err, "cannot run /nonexistent/meshreg-app: No such file or directory");
    assert_null(strstr(err_text, "cannot run"));

    /* a file that is not executable */
    const char *script = tpath("not-exec.sh");
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(script, 0644);
    char *argv2[] = {(char *)script, NULL};
    assert_int_equal(
        supervise_start(&s, ev_default_loop(0), argv2, on_exit_cb, &x, err, sizeof(err)),
        SUPERVISE_EXEC_FAILED);
    supervise_release(&s);
    assert_non_null(strstr(err, "Permission denied"));

    /* found through PATH */
    char *argv3[] = {"true", NULL};
    assert_int_equal(
        supervise_start(&s, ev_default_loop(0), argv3, on_exit_cb, &x, err, sizeof(err)), 0);
    run_until_exit(&s, 10);
    supervise_release(&s);
    assert_int_equal(x.code, 0);
}

/* The app leads its own process group and starts with default signal
 * dispositions and an empty mask, whatever meshreg set up for itself. */
static void test_clean_start(void **state)
{
    struct supervise s;
    struct seen x;
    sigset_t block, old;
    char script[512], buf[512];

    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    signal(SIGHUP, SIG_IGN);
    snprintf(script, sizeof(script),
             "set -- $(cat /proc/$$/stat); echo \"pgrp $5 pid $$\" > %s; "
             "grep -E '^Sig(Ign|Blk)' /proc/self/status >> %s",
             tpath("start"), tpath("start"));
    start_sh(&s, &x, script);
    pid_t pid = s.pid;
    run_until_exit(&s, 10);
    supervise_release(&s);
    signal(SIGHUP, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(x.code, 0);
    read_file(tpath("start"), buf, sizeof(buf));
    char want[96];
    snprintf(want, sizeof(want), "pgrp %d pid %d\n", (int)pid, (int)pid);
    expect_in(buf, want);
    /* Signals 32 and 33 are glibc's own (its sigaction refuses them): an
     * ignore inherited from whoever started the test stays, and is not ours. */
    const char *ign = strstr(buf, "SigIgn:\t");
    unsigned long long mask = ~0ULL;
    if (!ign || sscanf(ign, "SigIgn:\t%llx", &mask) != 1)
        fail_msg("no SigIgn in:\n%s", buf);
    mask &= ~((1ULL << 31) | (1ULL << 32));
    if (mask != 0)
        fail_msg("signals still ignored in the app: %llx\n%s", mask, buf);
    expect_in(buf, "SigBlk:\t0000000000000000\n");
}

/* A forwarded signal reaches the app; once the app is gone, forwarding
 * does nothing. */
static void test_signals_are_forwarded(void **state)
{
    struct supervise s;
    struct seen x;
    char script[256];

    snprintf(script, sizeof(script), "trap 'exit 42' USR1; touch %s; while :; do sleep 0.02; done",
             tpath("ready"));
    start_sh(&s, &x, script);
    assert_true(wait_file(s.loop, tpath("ready"), 10));
    supervise_signal(&s, SIGUSR1);
    run_until_exit(&s, 10);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.code, 42);
    supervise_signal(&s, SIGUSR1); /* not running: nothing sent */
    supervise_term(&s);            /* nor stopped */
    supervise_kill(&s);
    assert_false(s.termed);
    run_for(s.loop, 0.05);
    assert_int_equal(x.calls, 1);
    supervise_release(&s);
}

/* supervise_term: SIGTERM, once; an app that leaves on it is not killed. */
static void test_term_is_enough(void **state)
{
    struct supervise s;
    struct seen x;
    char script[256];

    snprintf(script, sizeof(script), "trap 'exit 0' TERM; touch %s; while :; do sleep 0.02; done",
             tpath("ready2"));
    capture_start();
    start_sh(&s, &x, script);
    assert_true(wait_file(s.loop, tpath("ready2"), 10));
    supervise_term(&s);
    supervise_term(&s); /* already asked: no second SIGTERM */
    assert_true(s.termed);
    run_until_exit(&s, 10);
    supervise_release(&s);
    capture_stop();
    assert_int_equal(x.code, 0);
    assert_int_equal(count_of(log_text, "sending SIGTERM to the app"), 1);
    assert_null(strstr(log_text, "SIGKILL"));
}

/* An app that ignores SIGTERM stays until supervise_kill() (the drain
 * machine's call once the grace is over). */
static void test_kill_after_term(void **state)
{
    struct supervise s;
    struct seen x;
    char script[256];

    snprintf(script, sizeof(script), "trap '' TERM; touch %s; exec sleep 30", tpath("ready3"));
    capture_start();
    start_sh(&s, &x, script);
    assert_true(wait_file(s.loop, tpath("ready3"), 10));
    supervise_term(&s);
    run_for(s.loop, 0.3);
    assert_true(s.running); /* SIGTERM ignored: nothing else happens by itself */
    assert_int_equal(x.calls, 0);
    supervise_kill(&s);
    run_until_exit(&s, 10);
    supervise_release(&s);
    capture_stop();
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.code, 128 + SIGKILL);
    assert_int_equal(count_of(log_text, "sending SIGTERM to the app"), 1);
    expect_in(log_text, "still running after SIGTERM and the grace period: SIGKILL");
    expect_in(log_text, "killed by signal 9");
}

/* The child watcher sees every child (it reaps orphans as PID 1 would);
 * another child's exit is not the app's. */
static void test_other_children_are_not_the_app(void **state)
{
    struct supervise s;
    struct seen x;
    char script[256];

    snprintf(script, sizeof(script), "touch %s; while [ ! -e %s ]; do sleep 0.02; done; exit 5",
             tpath("ready4"), tpath("go4"));
    start_sh(&s, &x, script);
    assert_true(wait_file(s.loop, tpath("ready4"), 10));

    fflush(NULL);
    pid_t other = fork();
    assert_true(other >= 0);
    if (other == 0)
        _exit(9);
    /* reaped by the loop (a zombie would still take kill(pid, 0)), and
     * the app untouched */
    double end = ev_time() + 10;
    while (kill(other, 0) == 0 && ev_time() < end)
        run_for(s.loop, 0.01);
    assert_int_equal(kill(other, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(s.running);
    assert_int_equal(x.calls, 0);

    FILE *f = fopen(tpath("go4"), "w");
    assert_non_null(f);
    fclose(f);
    run_until_exit(&s, 10);
    supervise_release(&s);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.code, 5);
}

/* No process to be had: supervise_start fails with the reason and leaves
 * nothing watching. In a child process, as nobody (root ignores
 * RLIMIT_NPROC), keeping root as the saved uid to come back. */
static void start_without_nproc(struct ev_loop *loop, char *out, size_t len)
{
    struct supervise s;
    struct seen x = {0};
    char err[128] = "";
    char *argv[] = {"true", NULL};
    int rc = supervise_start(&s, loop, argv, on_exit_cb, &x, err, sizeof(err));

    snprintf(out, len, "%d %d %d %s", rc, s.running, ev_is_active(&s.child), err);
}

static void test_fork_fails(void **state)
{
    char buf[300];

    run_without_nproc(start_without_nproc, buf, sizeof(buf));
    assert_string_equal(buf, "-1 0 0 fork: Resource temporarily unavailable");
}

static void test_release_is_safe(void **state)
{
    struct supervise s;
    memset(&s, 0, sizeof(s));
    supervise_release(&s); /* never started */
    supervise_signal(&s, SIGTERM);
    supervise_term(&s);
    supervise_kill(&s);
    assert_false(s.running);
}

static int rm_all(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int mk_dir(void **state)
{
    snprintf(tdir, sizeof(tdir), "/tmp/meshreg-test-supervise-XXXXXX");
    return mkdtemp(tdir) ? 0 : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ev_default_loop(0);
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes_are_reported),
        cmocka_unit_test(test_exec_failures),
        cmocka_unit_test(test_clean_start),
        cmocka_unit_test(test_signals_are_forwarded),
        cmocka_unit_test(test_term_is_enough),
        cmocka_unit_test(test_kill_after_term),
        cmocka_unit_test(test_other_children_are_not_the_app),
        cmocka_unit_test(test_fork_fails),
        cmocka_unit_test(test_release_is_safe),
    };
    return cmocka_run_group_tests_name("supervise", tests, mk_dir, rm_all);
}
