/* The cmd probe (README "Probes"): `/bin/sh -c CMD` in its own process group, stdin from
 * /dev/null, stdout and stderr into a pipe of which the last line is kept for
 * the detail. Exit 0 passes. The attempt ends when the shell exits; then, or
 * at the deadline, the whole process group is SIGKILLed so no background
 * child of a check outlives its attempt.
 *
 * Child exit is seen with an ev_child watcher, which libev supports only on
 * the default loop (the sidecar runs on ev_default_loop(); probe_new refuses
 * any other). libev's default loop reaps every child of the process on
 * SIGCHLD, so a shell killed on cancel is reaped even after its watcher is
 * gone: no zombies, and nothing waits here. The first cmd attempt also makes
 * the process a child subreaper, so grandchildren orphaned by a killed shell
 * come back to us (and are reaped the same way) instead of piling up as
 * zombies under a container's PID 1 that may never reap them. */
#include "sidecar/probe/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_CMD_LINE 160
/* Output read after the shell exited: a background writer must not keep
 * the attempt reading forever. */
#define PROBE_CMD_DRAIN_MAX (64 * 1024)

struct probe_cmd {
    struct probe *p;
    pid_t pid; /* the shell, leader of its own process group; 0 when none */
    int out;   /* read end of the output pipe, or -1 */
    ev_child child;
    ev_io io;
    char partial[PROBE_CMD_LINE]; /* the line being received */
    size_t partial_len;
    char last[PROBE_CMD_LINE]; /* the last complete non-empty line */
};

static void cmd_take_output(struct probe_cmd *st, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];

        if (ch == '\n' || ch == '\r') {
            if (st->partial_len > 0) {
                memcpy(st->last, st->partial, st->partial_len);
                st->last[st->partial_len] = '\0';
                st->partial_len = 0;
            }
            continue;
        }
        /* Keep the detail printable; long lines are cut. */
        if ((unsigned char)ch < 0x20 || ch == 0x7f)
            ch = ' ';
        if (st->partial_len < sizeof(st->partial) - 1)
            st->partial[st->partial_len++] = ch;
    }
}

/* Reads what is in the pipe now. Returns false at EOF or error. */
static bool cmd_read(struct probe_cmd *st, size_t limit)
{
    char buf[4096];
    size_t total = 0;

    while (total < limit) {
        ssize_t n = read(st->out, buf, sizeof(buf));

        if (n > 0) {
            cmd_take_output(st, buf, (size_t)n);
            total += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

static void cmd_close_pipe(struct probe_cmd *st, struct ev_loop *loop)
{
    ev_io_stop(loop, &st->io);
    if (st->out >= 0) {
        close(st->out);
        st->out = -1;
    }
}

static void cmd_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct probe_cmd *st = w->data;

    /* Only EOF stops reading; the exit status ends the attempt. */
    if (!cmd_read(st, PROBE_CMD_DRAIN_MAX))
        ev_io_stop(loop, &st->io);
}

static void cmd_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    struct probe_cmd *st = w->data;
    int status = w->rstatus;
    const char *sep;

    ev_child_stop(loop, &st->child);
    kill(-st->pid, SIGKILL); /* whatever the shell left running */
    st->pid = 0;
    if (st->out >= 0)
        cmd_read(st, PROBE_CMD_DRAIN_MAX);
    cmd_close_pipe(st, loop);
    if (st->partial_len > 0) {
        memcpy(st->last, st->partial, st->partial_len);
        st->last[st->partial_len] = '\0';
        st->partial_len = 0;
    }
    sep = st->last[0] ? ": " : "";
    if (WIFEXITED(status))
        probe_finish(st->p, WEXITSTATUS(status) == 0, "exit %d%s%s", WEXITSTATUS(status), sep,
                     st->last);
    else if (WIFSIGNALED(status))
        probe_finish(st->p, false, "killed by signal %d (%s)%s%s", WTERMSIG(status),
                     strsignal(WTERMSIG(status)), sep, st->last);
    else
        probe_finish(st->p, false, "exited with status 0x%x", (unsigned)status);
}

/* In the forked child: only async-signal-safe calls until exec. */
static void cmd_exec_child(const char *cmd, int out)
{
    struct sigaction dfl;
    sigset_t none;
    int nul;

    setpgid(0, 0);
    /* Dispositions set to "ignore" (SIGPIPE, say) and the blocked mask
     * survive exec; a check command must start with the defaults. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(out, STDERR_FILENO) < 0)
        _exit(126);
    /* The sidecar's sockets and files are none of the check's business. */
    close_range(3, ~0U, 0);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
}

static int cmd_start(struct probe *p)
{
    struct probe_cmd *st = p->state;
    const char *cmd = p->spec->probe_cmd;
    int pfd[2];
    pid_t pid;

    if (!st) {
        static bool subreaper;

        if (!subreaper) {
            prctl(PR_SET_CHILD_SUBREAPER, 1);
            subreaper = true;
        }
        st = calloc(1, sizeof(*st));
        if (!st) {
            probe_finish(p, false, "out of memory");
            return -1;
        }
        st->p = p;
        st->out = -1;
        ev_child_init(&st->child, cmd_child_cb, 0, 0);
        st->child.data = st;
        ev_io_init(&st->io, cmd_io_cb, -1, EV_READ);
        st->io.data = st;
        p->state = st;
    }
    if (!cmd || !cmd[0]) {
        probe_finish(p, false, "no command");
        return -1;
    }
    st->partial_len = 0;
    st->last[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        probe_finish(p, false, "pipe: %s", strerror(errno));
        return -1;
    }
    /* Only our end is non-blocking: O_NONBLOCK belongs to the open pipe end,
     * which dup2 shares, and the command's stdout must block when the pipe
     * is full (the loop may be busy) instead of failing with EAGAIN. */
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        probe_finish(p, false, "fork: %s", strerror(e));
        return -1;
    }
    if (pid == 0)
        cmd_exec_child(cmd, pfd[1]);
    /* Also from the parent, so kill(-pid) is right even if we cancel before
     * the child got to run (either call may lose the race; one suffices). */
    setpgid(pid, pid);
    close(pfd[1]);
    st->pid = pid;
    st->out = pfd[0];
    /* Started before we return to the loop, i.e. before libev reaps. */
    ev_child_set(&st->child, pid, 0);
    ev_child_start(p->loop, &st->child);
    ev_io_set(&st->io, st->out, EV_READ);
    ev_io_start(p->loop, &st->io);
    return 0;
}

static void cmd_cancel(struct probe *p)
{
    struct probe_cmd *st = p->state;
    int status;

    if (!st)
        return;
    cmd_close_pipe(st, p->loop);
    if (st->pid > 0) {
        ev_child_stop(p->loop, &st->child);
        kill(-st->pid, SIGKILL);
        kill(st->pid, SIGKILL);
        /* Usually reaped later by libev's SIGCHLD handler; try now too. */
        waitpid(st->pid, &status, WNOHANG);
        st->pid = 0;
    }
}

/* A command that exited while the loop was busy is judged by its exit
 * status, not by the deadline (README "Probes under load"). */
static int cmd_poke(struct probe *p, ev_tstamp *sent)
{
    struct probe_cmd *st = p->state;
    siginfo_t si;
    int status, rev;

    *sent = p->started;
    if (!st || st->pid <= 0)
        return 0;
    /* Reaped by libev already, its callback not run yet. */
    rev = ev_clear_pending(p->loop, &st->child);
    if (rev) {
        cmd_child_cb(p->loop, &st->child, rev);
        return 1;
    }
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)st->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != st->pid)
        return 0;
    if (waitpid(st->pid, &status, WNOHANG) != st->pid)
        return 0;
    st->child.rstatus = status;
    cmd_child_cb(p->loop, &st->child, EV_CHILD);
    return 1;
}

static void cmd_free(struct probe *p)
{
    cmd_cancel(p);
    free(p->state);
    p->state = NULL;
}

const struct probe_ops probe_cmd_ops = {
    .name = "cmd",
    .start = cmd_start,
    .cancel = cmd_cancel,
    .free = cmd_free,
    .poke = cmd_poke,
};
