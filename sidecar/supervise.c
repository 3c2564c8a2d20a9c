#include "sidecar/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sidecar/log.h"

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    struct supervise *s = w->data;
    if (w->rpid != s->pid || !s->running)
        return; /* a probe's child or an orphan reaped for PID 1 duty */
    s->running = false;
    int st = w->rstatus;
    s->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    if (WIFSIGNALED(st))
        log_info(NULL, "app (pid %d) killed by signal %d", (int)s->pid, WTERMSIG(st));
    else
        log_info(NULL, "app (pid %d) exited with status %d", (int)s->pid, s->exit_code);
    if (s->cb)
        s->cb(s, s->exit_code, s->cb_arg);
}

int supervise_start(struct supervise *s, struct ev_loop *loop, char *const *argv,
                    supervise_exit_cb cb, void *arg, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->cb = cb;
    s->cb_arg = arg;
    ev_child_init(&s->child, child_cb, 0, 0);
    s->child.data = s;
    ev_child_start(loop, &s->child);

    /* The child reports a failed exec through this close-on-exec pipe: the
     * error is ours to log (one line, in the log's format), before anything
     * says the app started. */
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        ev_child_stop(loop, &s->child);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(ep[0]);
        close(ep[1]);
        ev_child_stop(loop, &s->child);
        return -1;
    }
    if (pid == 0) {
        /* Its own process group: a Ctrl-C or `kill -- -PGID` aimed at meshreg
         * must reach meshreg only, or the app would stop before the drain
         * (meshreg forwards what the app should see). */
        setpgid(0, 0);
        /* The app gets default signal dispositions and an empty mask, not the
         * ones libev set up for us. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        close(ep[0]);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(ep[1], &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    close(ep[1]);
    int child_errno = 0;
    ssize_t got;
    while ((got = read(ep[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    if (got == (ssize_t)sizeof(child_errno)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(child_errno));
        ev_child_stop(loop, &s->child);
        return SUPERVISE_EXEC_FAILED;
    }
    setpgid(pid, pid); /* also here: no race with the first forwarded signal */
    s->pid = pid;
    s->running = true;
    log_info(NULL, "started app %s (pid %d)", argv[0], (int)pid);
    return 0;
}

void supervise_signal(struct supervise *s, int sig)
{
    if (s->running)
        kill(s->pid, sig);
}

void supervise_term(struct supervise *s)
{
    if (!s->running || s->termed)
        return;
    s->termed = true;
    log_info(NULL, "sending SIGTERM to the app (pid %d)", (int)s->pid);
    kill(s->pid, SIGTERM);
}

void supervise_kill(struct supervise *s)
{
    if (!s->running)
        return;
    log_warn(NULL, "app (pid %d) still running after SIGTERM and the grace period: SIGKILL",
             (int)s->pid);
    kill(s->pid, SIGKILL);
}

void supervise_release(struct supervise *s)
{
    if (!s->loop)
        return;
    ev_child_stop(s->loop, &s->child);
}
