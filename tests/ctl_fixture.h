/* The servers and the runner of tests/test_ctl.c: a child process serving
 * the real admin endpoint over the admin fixture (its own libev loop), raw
 * server children scripted for what a healthy sidecar never does, and
 * ctl_main() run with stdout and stderr captured. Header-only: static
 * functions, test_ctl.c includes it once. Include after <cmocka.h>,
 * sidecar/admin/ctl.h and tests/admin_fixture.h. */
#ifndef MESHREG_CTL_FIXTURE_H
#define MESHREG_CTL_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the server child ---- */

struct server_opts {
    double drain_seconds;
    double exit_after_drain; /* > 0: exit this long after an admin drain (before the window) */
};

struct server {
    pid_t pid;
    int port;
};

struct child {
    struct afx *f;
    double exit_after_drain;
    ev_timer watch;
    ev_signal term;
};

static void child_watch(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct child *ch = w->data;
    const struct spool_entry *d = spool_find(&ch->f->spool, SPOOL_ALL, ev_now(loop));
    if (d && ev_now(loop) - d->asked >= ch->exit_after_drain)
        ev_break(loop, EVBREAK_ALL);
}

static void child_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void child_main(const struct server_opts *o, int port_fd)
{
    static struct child ch;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    /* one healthy registration behind the admin endpoint (tests/admin_fixture.h) */
    ch.f = afx_new(1, 2);
    drain_init(&ch.f->drain, o->drain_seconds, 10, false);
    struct admin_limits lim = {16384, 65536, 10.0, 64};
    afx_admin(ch.f, &lim, NULL, 0);
    struct ev_loop *loop = ch.f->loop;
    if (o->exit_after_drain > 0) {
        ch.exit_after_drain = o->exit_after_drain;
        ev_timer_init(&ch.watch, child_watch, 0.02, 0.02);
        ch.watch.data = &ch;
        ev_timer_start(loop, &ch.watch);
    }
    ev_signal_init(&ch.term, child_term, SIGTERM);
    ev_signal_start(loop, &ch.term);
    int port = ch.f->port;
    if (write(port_fd, &port, sizeof(port)) != sizeof(port))
        _exit(5);
    close(port_fd);
    ev_run(loop, 0);
    afx_free(ch.f);
    _exit(0);
}

static void server_start(struct server *s, const struct server_opts *o)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        close(p[0]);
        child_main(o, p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], &s->port, sizeof(s->port)), sizeof(s->port));
    close(p[0]);
}

/* Returns the child's exit status. */
static int server_stop(struct server *s)
{
    int st = 0;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void raw_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A scripted raw server child for what a healthy sidecar never does. Each
 * connection: the whole request is read (head + Content-Length body), then
 * the server acts. The answer picked is `post` for a POST, `get` otherwise. */
enum raw_act {
    RAW_SAME,   /* (get_act only) as for a POST */
    RAW_ANSWER, /* send the answer, FIN, wait for the client to close */
    RAW_HOLD,   /* send the answer and keep the connection open */
    RAW_CLOSE,  /* close without a byte of answer (FIN) */
    RAW_RST,    /* reset the connection without answering */
    RAW_BIG,    /* a 200 declaring 40 MB, then as much body as the client reads */
    RAW_ECHO,   /* a 200 whose body is the request's body */
};

struct raw_spec {
    enum raw_act act, get_act; /* for POSTs; for other requests unless RAW_SAME */
    const char *post, *get;
    int port; /* 0: any free port */
};

/* Reads one request from c into buf (NUL-terminated). Returns its length. */
static size_t read_request(int c, char *buf, size_t cap, size_t *body_at)
{
    size_t len = 0, want = 0;
    *body_at = 0;
    for (;;) {
        ssize_t n = recv(c, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        *body_at = (size_t)(end + 4 - buf);
        const char *cl = strcasestr(buf, "\r\nContent-Length: ");
        want = *body_at + (cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0);
        if (len >= want || len == cap - 1)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void send_all(int c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void raw_conn(const struct raw_spec *rs, int c)
{
    char req[8192], head[128];
    size_t body_at, len = read_request(c, req, sizeof(req), &body_at);
    bool post = strncmp(req, "POST ", 5) == 0;
    const char *ans = post || !rs->get ? rs->post : rs->get;
    enum raw_act act = post || rs->get_act == RAW_SAME ? rs->act : rs->get_act;
    struct linger lin = {1, 0};

    switch (act) {
    case RAW_SAME:
        break;
    case RAW_ANSWER:
    case RAW_HOLD:
        send_all(c, ans, strlen(ans));
        if (act == RAW_HOLD)
            return; /* leaked on purpose: open until the parent kills us */
        shutdown(c, SHUT_WR);
        while (recv(c, req, sizeof(req), 0) > 0)
            ;
        break;
    case RAW_CLOSE:
        break;
    case RAW_RST:
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
        break;
    case RAW_BIG: {
        static char chunk[65536];
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 40000000\r\n\r\n";
        memset(chunk, 'x', sizeof(chunk));
        send_all(c, h, strlen(h));
        for (int i = 0; i < 640; i++)
            if (send(c, chunk, sizeof(chunk), MSG_NOSIGNAL) <= 0)
                break;
        break;
    }
    case RAW_ECHO:
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                 len - body_at);
        send_all(c, head, strlen(head));
        send_all(c, req + body_at, len - body_at);
        shutdown(c, SHUT_WR);
        while (recv(c, req, sizeof(req), 0) > 0)
            ;
        break;
    }
    close(c);
}

/* Returns the child's pid, or -1 when rs->port cannot be bound. */
static pid_t raw_server2(const struct raw_spec *rs, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)rs->port)};
    socklen_t len = sizeof(sin);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct timeval tv = {10, 0}; /* bounded: the parent kills us anyway */
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                continue;
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            raw_conn(rs, c);
        }
    }
    close(fd);
    return pid;
}

/* A raw server child answering every request with `answer`, then a FIN;
 * with NULL, never answering (the connection held open). */
static pid_t raw_server(const char *answer, int *port)
{
    struct raw_spec rs = {.act = answer ? RAW_ANSWER : RAW_HOLD, .post = answer ? answer : ""};
    pid_t pid = raw_server2(&rs, port);

    assert_true(pid > 0);
    return pid;
}

/* ---- running the client ---- */

static char out_buf[65536], err_buf[65536];

static void slurp(FILE *f, char *buf, size_t cap)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs ctl_main(cmd, argc, argv) with stdout/stderr captured into out_buf
 * and err_buf. */
static int ctl_argv(const char *cmd, int argc, char **argv)
{
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    fflush(stdout);
    fflush(stderr);
    int save_o = dup(1), save_e = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    int rc = ctl_main(cmd, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(save_o, 1);
    dup2(save_e, 2);
    close(save_o);
    close(save_e);
    slurp(o, out_buf, sizeof(out_buf));
    slurp(e, err_buf, sizeof(err_buf));
    return rc;
}

/* The same with args... (NULL-terminated). */
static int ctl(const char *cmd, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, cmd);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return ctl_argv(cmd, argc, argv);
}

static char *addr_of(int port)
{
    static char buf[4][64];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 64, "127.0.0.1:%d", port);
    return b;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void expect_in(const char *buf, const char *needle)
{
    if (!strstr(buf, needle))
        fail_msg("'%s' not in:\n%s", needle, buf);
}

/* One command line and what it must do: its exit status, and text its
 * stdout (exit 0) or stderr (otherwise) holds. */
struct usage {
    const char *cmd;
    const char *args[3];
    int exit;
    const char *want[2];
};

static void expect_usage(const struct usage *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *argv[4];
        int argc = 0;

        while (argc < 3 && w[i].args[argc]) {
            argv[argc] = (char *)w[i].args[argc];
            argc++;
        }
        argv[argc] = NULL;
        int rc = ctl_argv(w[i].cmd, argc, argv);
        if (rc != w[i].exit)
            fail_msg("meshreg %s %s %s: exit %d, want %d\n%s%s", w[i].cmd, argc > 0 ? argv[0] : "",
                     argc > 1 ? argv[1] : "", rc, w[i].exit, out_buf, err_buf);
        for (size_t k = 0; k < 2 && w[i].want[k]; k++)
            expect_in(rc ? err_buf : out_buf, w[i].want[k]);
    }
}

#endif
