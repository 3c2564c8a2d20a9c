/* The cmd probe's edges, with real commands under /bin/sh: what the detail
 * keeps of the output (last line, partial lines, control characters, long
 * lines, floods), how a command ends (signals, not found, not executable),
 * the child's clean start (signals, mask, stdin, fds, its own process
 * group), orphans coming back to us as subreaper, and the failures of the
 * attempt itself (no command, no memory, no fd, no process). test_probe.c
 * covers exit codes, deadlines and killing the group. */
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/probe/probe.h"
#include "tests/failalloc.h"
#include "tests/test_probe_util.h"
#include "tests/test_noproc.h"

static struct check_spec cmd_spec(const char *cmd)
{
    struct check_spec s = {
        .name = "svc.cmd",
        .probe = PROBE_CMD,
        .probe_cmd = (char *)cmd,
        .timeout_ms = 5000,
        .interval_ms = 50, /* first attempt within 50 ms */
        .rise = 1,
        .fall = 1,
    };
    return s;
}

/* One attempt of cmd; its pass/fail and detail must be exactly these. */
static void expect_cmd(const char *cmd, bool pass, const char *detail)
{
    struct check_spec s = cmd_spec(cmd);
    struct rec r;

    probe_once(&s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    if (r.pass[0] != pass || strcmp(r.detail[0], detail) != 0)
        fail_msg("%s: got %s \"%s\", want %s \"%s\"", cmd, r.pass[0] ? "pass" : "fail", r.detail[0],
                 pass ? "pass" : "fail", detail);
}

/* One attempt; returns its detail in a static buffer. */
static const char *detail_of(const char *cmd, bool *pass)
{
    static char out[256];
    struct check_spec s = cmd_spec(cmd);
    struct rec r;

    probe_once(&s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    *pass = r.pass[0];
    snprintf(out, sizeof(out), "%s", r.detail[0]);
    return out;
}

/* ---- the output kept for the detail ---- */

static void test_last_line_rules(void **state)
{
    /* the last non-empty line, also when it has no newline */
    expect_cmd("printf 'first\\nlast line'", true, "exit 0: last line");
    expect_cmd("echo keep; echo; echo ''; printf '\\n\\n'", true, "exit 0: keep");
    /* CR and CRLF end lines too */
    expect_cmd("printf 'one\\r\\ntwo\\rthree\\r\\n'; exit 2", false, "exit 2: three");
    /* control characters become spaces: one event per log line */
    expect_cmd("printf 'a\\tb\\001c\\033[31md\\177e\\n'", true, "exit 0: a b c [31md e");
    /* nothing printed: no ": " */
    expect_cmd("exit 4", false, "exit 4");
    /* stderr counts the same as stdout */
    expect_cmd("echo out; echo err >&2; exit 1", false, "exit 1: err");
}

static void test_long_lines_are_cut(void **state)
{
    char want[256];
    bool pass;

    /* 300 digits: 159 kept */
    snprintf(want, sizeof(want), "exit 0: %0159d", 0);
    expect_cmd("printf '%0300d\\n' 0", true, want);
    /* a cut line still ends the way lines do; the next line replaces it */
    expect_cmd("printf '%0300d\\nshort\\n' 0", true, "exit 0: short");
    /* without a final newline the cut partial line is the detail */
    const char *d = detail_of("printf '%0400d' 7", &pass);
    assert_true(pass);
    assert_int_equal(strlen(d), strlen("exit 0: ") + 159);
}

/* Far more output than one read takes, and a writer that outlives the
 * shell: both end with the shell's exit, not at the deadline. */
static void test_output_floods(void **state)
{
    bool pass;

    /* 300 kB in many reads, then the last line */
    expect_cmd("yes 'spam spam spam' | head -c 300000; echo; echo END", true, "exit 0: END");
    /* a background writer keeps the pipe open and busy after the shell is
     * gone: the rest is read up to a cap and the group killed */
    const char *d = detail_of("yes & sleep 0.2; exit 3", &pass);
    assert_false(pass);
    if (strcmp(d, "exit 3: y") != 0) /* not "timeout after 5000 ms" */
        fail_msg("detail \"%s\"", d);
}

static void stop_once_running(struct ev_loop *loop, ev_check *w, int revents)
{
    struct probe *p = w->data;
    if (p->running)
        ev_break(loop, EVBREAK_ALL);
}

/* The command's stdout is an ordinary blocking pipe: while the sidecar's
 * loop is busy elsewhere and the pipe is full, a writer waits instead of
 * failing with EAGAIN. Here the loop does not run for 0.5 s while the
 * command writes four pipes' worth. */
static void test_writer_blocks_while_loop_is_busy(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    char rcfile[] = "/tmp/meshreg-test-cmd-rc-XXXXXX", cmd[256], buf[32] = "";
    int fd = mkstemp(rcfile);
    assert_true(fd >= 0);
    snprintf(cmd, sizeof(cmd), "yes | head -c 262144; echo $? > %s; echo done", rcfile);
    struct check_spec s = cmd_spec(cmd);
    struct rec r;
    struct probe *p = rec_probe(&s, &r, 1);

    /* leave the loop in the very iteration that starts the attempt, before
     * it reads anything */
    ev_check started;
    ev_check_init(&started, stop_once_running);
    started.data = p;
    ev_check_start(loop, &started);
    probe_start(p);
    run_for(loop, 5.0);
    ev_check_stop(loop, &started);
    assert_true(p->running);
    usleep(500 * 1000); /* the loop is busy: nobody reads the pipe */
    run_for(loop, 10.0);
    probe_free(p);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.detail[0], "exit 0: done");
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    unlink(rcfile);
    assert_string_equal(buf, "0\n"); /* head wrote everything */
}

/* ---- how a command ends ---- */

static void test_endings(void **state)
{
    bool pass;

    expect_cmd("kill -KILL $$", false, "killed by signal 9 (Killed)");
    expect_cmd("echo dumping; kill -SEGV $$", false,
               "killed by signal 11 (Segmentation fault): dumping");
    /* sh reports what it could not run; that is the detail */
    const char *d = detail_of("no-such-command-for-meshreg", &pass);
    assert_false(pass);
    if (strncmp(d, "exit 127: ", 10) != 0 || !strstr(d, "no-such-command-for-meshreg") ||
        !strstr(d, "not found"))
        fail_msg("detail \"%s\"", d);

    char path[] = "/tmp/meshreg-test-cmd-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
    close(fd);
    chmod(path, 0644); /* not executable */
    d = detail_of(path, &pass);
    assert_false(pass);
    if (strncmp(d, "exit 126: ", 10) != 0 || !strstr(d, "Permission denied"))
        fail_msg("detail \"%s\"", d);
    chmod(path, 0755);
    d = detail_of(path, &pass);
    assert_true(pass);
    assert_string_equal(d, "exit 0");
    unlink(path);
}

/* ---- the child's start ---- */

/* The command starts as if from a fresh shell: no ignored or blocked
 * signals inherited from the sidecar, stdin at EOF, only fds 0-2, and a
 * process group of its own. */
static void test_clean_start(void **state)
{
    sigset_t block, old;
    int keep[2];

    /* what the child must not inherit: SIGPIPE ignored (main), SIGUSR2
     * blocked, an fd without CLOEXEC */
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    assert_int_equal(pipe(keep), 0);

    /* Signals 32 and 33 are glibc's own (its sigaction refuses them): an
     * ignore inherited from whoever started the test stays, and is not ours. */
    expect_cmd(
        "x=$(sed -n 's/^SigIgn:\t//p' /proc/self/status); echo SigIgn $((0x$x & ~0x180000000))",
        true, "exit 0: SigIgn 0");
    expect_cmd("grep SigBlk /proc/self/status", true, "exit 0: SigBlk: 0000000000000000");
    expect_cmd("read line && echo \"got $line\" || echo eof", true, "exit 0: eof");
    /* ls holds fd 3 for the directory it lists */
    expect_cmd("ls /proc/self/fd | tr '\\n' ' '", true, "exit 0: 0 1 2 3 ");
    expect_cmd("set -- $(cat /proc/$$/stat); [ \"$5\" = \"$$\" ] && echo leader", true,
               "exit 0: leader");

    close(keep[0]);
    close(keep[1]);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* A grandchild that leaves the group (setsid) is not killed with it; once
 * its shell is gone it is reparented to us (the first cmd attempt made us
 * a subreaper) and reaped by the loop, never left a zombie. */
static void test_orphans_come_back(void **state)
{
    bool pass;
    int sub = 0;
    char stat[64], buf[512];

    const char *d = detail_of("setsid sleep 0.5 & echo $!", &pass);
    assert_true(pass);
    assert_int_equal(prctl(PR_GET_CHILD_SUBREAPER, &sub), 0);
    assert_int_equal(sub, 1);
    pid_t pid = (pid_t)atoi(d + strlen("exit 0: "));
    assert_true(pid > 1);

    snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(stat, "r");
    if (f) { /* still sleeping (it should be): its parent is us now */
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        int ppid = 0;
        char st;
        const char *p = strrchr(buf, ')');
        assert_non_null(p);
        assert_int_equal(sscanf(p + 2, "%c %d", &st, &ppid), 2);
        assert_int_equal(ppid, (int)getpid());
    }
    /* it exits after 0.5 s and the loop reaps it: no zombie left */
    struct ev_loop *loop = ev_default_loop(0);
    double deadline = ev_time() + 10;
    while (kill(pid, 0) == 0 && ev_time() < deadline)
        run_for(loop, 0.05);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

/* ---- the attempt cannot start ---- */

static void test_no_command(void **state)
{
    expect_cmd(NULL, false, "no command");
    expect_cmd("", false, "no command");
}

static void test_out_of_memory_then_recovers(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct check_spec s = cmd_spec("echo fine");
    struct rec r;
    struct probe *p = rec_probe(&s, &r, 2);

    failalloc_arm(1, false); /* the attempt's state */
    probe_start(p);
    run_for(loop, 10.0);
    failalloc_off();
    probe_free(p);
    assert_int_equal(r.n, 2);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "out of memory");
    assert_true(r.pass[1]);
    assert_string_equal(r.detail[1], "exit 0: fine");
}

/* No fd left for the output pipe: the attempt fails at once, nothing runs. */
static void test_no_fd_for_the_pipe(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct check_spec s = cmd_spec("echo never");
    struct rec r;
    struct probe *p = rec_probe(&s, &r, 1);

    probe_start_without_fds(p, loop, 5.0);
    probe_free(p);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "pipe: Too many open files");
}

/* No process to be had (tests/test_noproc.h): the attempt fails, saying so. */
static void attempt_without_nproc(struct ev_loop *loop, char *out, size_t len)
{
    struct check_spec s = cmd_spec("echo never");
    struct rec r;
    char err[128];

    memset(&r, 0, sizeof(r));
    r.loop = loop;
    r.want = 1;
    struct probe *pr = probe_new(loop, &s, on_result, &r, err, sizeof(err));
    probe_start(pr);
    run_for(loop, 5.0);
    probe_free(pr);
    snprintf(out, len, "%d %s", r.n, r.n ? r.detail[0] : "");
}

static void test_fork_fails(void **state)
{
    char buf[300];

    run_without_nproc(attempt_without_nproc, buf, sizeof(buf));
    assert_string_equal(buf, "1 fork: Resource temporarily unavailable");
}

/* A probe freed before any attempt, or stopped between attempts, has
 * nothing to cancel. */
static void test_free_and_stop_without_attempt(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct check_spec s = cmd_spec("true");
    struct rec r;
    struct probe *p = rec_probe(&s, &r, 1);

    probe_free(p); /* never started: no state */
    p = rec_probe(&s, &r, 1);
    probe_start(p);
    run_for(loop, 5.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_false(p->running);
    int before = count_fds();
    probe_stop(p); /* between attempts */
    probe_free(p);
    assert_int_equal(count_fds(), before);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_line_rules),
        cmocka_unit_test(test_long_lines_are_cut),
        cmocka_unit_test(test_output_floods),
        cmocka_unit_test(test_writer_blocks_while_loop_is_busy),
        cmocka_unit_test(test_endings),
        cmocka_unit_test(test_clean_start),
        cmocka_unit_test(test_orphans_come_back),
        cmocka_unit_test(test_no_command),
        cmocka_unit_test(test_out_of_memory_then_recovers),
        cmocka_unit_test(test_no_fd_for_the_pipe),
        cmocka_unit_test(test_fork_fails),
        cmocka_unit_test(test_free_and_stop_without_attempt),
    };
    return cmocka_run_group_tests_name("probe_cmd", tests, NULL, NULL);
}
