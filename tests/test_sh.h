/* Running a shell command from a cmocka test: sh() and, while a libev loop
 * keeps running, sh_on(). Shared by the backend tests (test_reg_etcd.c,
 * test_zk_util.h). Header-only, static inline. Include after <cmocka.h> and
 * <ev.h>. */
#ifndef MESHREG_TEST_SH_H
#define MESHREG_TEST_SH_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct sh_out {
    char *buf;
    size_t len, cap;
    bool eof;
};

static inline void sh_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sh_out *o = w->data;
    char tmp[4096];
    ssize_t n = read(w->fd, tmp, sizeof tmp);
    if (n > 0) {
        size_t take = (size_t)n < o->cap - 1 - o->len ? (size_t)n : o->cap - 1 - o->len;
        memcpy(o->buf + o->len, tmp, take);
        o->len += take;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        o->eof = true;
        ev_io_stop(loop, w);
        ev_break(loop, EVBREAK_ONE);
    }
}

/* Runs a shell command; its stdout (trimmed) goes to out. Returns the exit
 * status, -1 if it did not exit normally. With a loop, the loop keeps
 * running until the command is done: a session with a short timeout keeps
 * pinging while a (slow to start) observer looks at ZooKeeper. */
static inline int sh_on(struct ev_loop *loop, char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int sh_on(struct ev_loop *loop, char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048], scratch[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!out) {
        out = scratch;
        outlen = sizeof scratch;
    }
    size_t n = 0;
    if (loop) {
        struct sh_out o = {.buf = out, .cap = outlen};
        ev_io w;
        int fd = fileno(p);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ev_io_init(&w, sh_read_cb, fd, EV_READ);
        w.data = &o;
        ev_io_start(loop, &w);
        while (!o.eof)
            ev_run(loop, EVRUN_ONCE);
        ev_io_stop(loop, &w);
        n = o.len;
    } else {
        for (;;) {
            size_t got = fread(out + n, 1, outlen - 1 - n, p);
            n += got;
            if (got == 0 || n == outlen - 1)
                break;
        }
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    char drain[256];
    while (fread(drain, 1, sizeof drain, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define sh(...) sh_on(NULL, __VA_ARGS__)

#endif
