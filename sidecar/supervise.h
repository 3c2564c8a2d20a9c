/* Wrapper mode (README "Running it"): the app runs as meshreg's child. We start it, forward
 * the signals it should see, reap every child (safe as PID 1), and report its
 * exit. Stopping it is the drain machine's call (sidecar/drain.h: when to
 * SIGTERM, when the grace is over and SIGKILL follows); this only sends. */
#ifndef MESHREG_SUPERVISE_H
#define MESHREG_SUPERVISE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct supervise;
typedef void (*supervise_exit_cb)(struct supervise *s, int exit_code, void *arg);

struct supervise {
    struct ev_loop *loop;
    pid_t pid;
    bool running;
    int exit_code;  /* the app's status, 128+signal if signalled */
    ev_child child; /* pid 0: every child, so orphans are reaped too */
    bool termed;    /* SIGTERM sent */
    supervise_exit_cb cb;
    void *cb_arg;
};

/* Starts argv[0] (PATH searched) with argv. Returns -1 with err on failure,
 * SUPERVISE_EXEC_FAILED with err when argv[0] cannot be run (not found, not
 * executable): meshreg then exits 127, as a shell does. */
#define SUPERVISE_EXEC_FAILED (-127)
int supervise_start(struct supervise *s, struct ev_loop *loop, char *const *argv,
                    supervise_exit_cb cb, void *arg, char *err, size_t errlen);
/* Forwards a signal to the app, if running. */
void supervise_signal(struct supervise *s, int sig);
/* SIGTERM, once, if running. */
void supervise_term(struct supervise *s);
/* SIGKILL, if running (the grace after supervise_term() is over). */
void supervise_kill(struct supervise *s);
void supervise_release(struct supervise *s);

#endif
