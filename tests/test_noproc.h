/* Running a piece of a test where no new process can be had: in a forked
 * child with RLIMIT_NPROC 0, as user nobody when run as root (root ignores
 * the limit), keeping root as the saved uid to come back (coverage files
 * are written at exit). Shared by test_supervise.c and test_probe_cmd.c.
 * Header-only. Include after <cmocka.h> and <ev.h>. */
#ifndef MESHREG_TEST_NOPROC_H
#define MESHREG_TEST_NOPROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(loop, out, len) in such a child, on the default loop forked for
 * it; out in this process gets what fn wrote there. Fails the test when the
 * child could not drop the limit or did not exit 0. */
static inline void run_without_nproc(void (*fn)(struct ev_loop *loop, char *out, size_t len),
                                     char *out, size_t len)
{
    int p[2];

    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ev_loop *loop = ev_default_loop(0);
        struct rlimit rl = {0, RLIM_INFINITY};
        uid_t uid = getuid();

        close(p[0]);
        ev_loop_fork(loop);
        getrlimit(RLIMIT_NPROC, &rl);
        rl.rlim_cur = 0;
        if (uid == 0 && setresuid(65534, 65534, 0) != 0)
            _exit(10);
        if (setrlimit(RLIMIT_NPROC, &rl) != 0)
            _exit(11);
        out[0] = '\0';
        fn(loop, out, len);
        if (uid == 0 && setresuid(0, 0, 0) != 0)
            _exit(12);
        if (write(p[1], out, strlen(out)) < 0)
            _exit(13);
        exit(0);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, len - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child: status 0x%x", st);
}

#endif
