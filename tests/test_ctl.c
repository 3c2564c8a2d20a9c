/* `meshreg drain|undrain|status` (ctl_main) against a real admin endpoint:
 * a child process runs admin_new() over a real struct sidecar on its own
 * libev loop; the test calls ctl_main() in the parent, capturing stdout and
 * stderr. A few raw servers cover what a healthy sidecar never does
 * (403, never answering). */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/admin.h"
#include "sidecar/ctl.h"
#include "sidecar/log.h"
#include "sidecar/reg.h"
#include "sidecar/sidecar.h"

/* ---- the server child ---- */

struct server_opts {
    double drain_seconds;
    double exit_after_drain; /* > 0: exit this long after an admin drain (before the window) */
};

struct server {
    pid_t pid;
    int port;
    char dir[64];
};

struct child {
    struct sidecar sc;
    double exit_after_drain;
    ev_timer watch;
    ev_signal term;
};

static void child_watch(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct child *ch = w->data;
    if (ch->sc.drain.admin && ev_now(loop) - ch->sc.drain.admin_at >= ch->exit_after_drain)
        ev_break(loop, EVBREAK_ALL);
}

static void child_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void child_main(const struct server_opts *o, const char *dir, int port_fd)
{
    static struct check_spec spec;
    static struct check check;
    static struct mr_config cfg;
    static struct child ch;
    char backend[128], err[256];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(backend, sizeof(backend), "file:%s", dir);
    spec.name = "svc.main";
    spec.service = "svc";
    spec.ns = "main";
    spec.instance = "main";
    spec.registered = true;
    spec.host = "10.0.0.5";
    spec.port = 8888;
    spec.instance_id = "host1";
    spec.weight = 10;
    spec.probe = PROBE_TCP;
    spec.probe_host = "127.0.0.1";
    spec.probe_port = 8888;
    spec.interval_ms = 2000;
    spec.rise = 1;
    spec.fall = 2;
    cfg.backend = backend;
    cfg.admin_addr = "127.0.0.1:0";
    cfg.checks = &spec;
    cfg.nchecks = 1;

    struct sidecar *sc = &ch.sc;
    sc->loop = loop;
    sc->cfg = &cfg;
    sc->checks = &check;
    sc->nchecks = 1;
    sc->started = ev_now(loop);
    drain_init(&sc->drain, o->drain_seconds, 10, false);
    check.spec = &spec;
    check.sc = sc;
    health_init(&check.health, 1, 2);
    health_feed(&check.health, true);
    check.node = "host1_8888";
    check.record = "{}";
    sc->reg = reg_new(loop, backend, 10, err, sizeof(err));
    if (!sc->reg || reg_start(sc->reg) != 0)
        _exit(3);
    struct admin_limits lim = {16384, 65536, 10.0, 64};
    struct admin *a = admin_new(loop, sc, "127.0.0.1:0", NULL, 0, &lim, err, sizeof(err));
    if (!a)
        _exit(4);
    sc->admin = a;
    if (o->exit_after_drain > 0) {
        ch.exit_after_drain = o->exit_after_drain;
        ev_timer_init(&ch.watch, child_watch, 0.02, 0.02);
        ch.watch.data = &ch;
        ev_timer_start(loop, &ch.watch);
    }
    ev_signal_init(&ch.term, child_term, SIGTERM);
    ev_signal_start(loop, &ch.term);
    int port = admin_port(a);
    if (write(port_fd, &port, sizeof(port)) != sizeof(port))
        _exit(5);
    close(port_fd);
    ev_run(loop, 0);
    admin_free(a);
    _exit(0);
}

static void server_start(struct server *s, const struct server_opts *o)
{
    int p[2];
    snprintf(s->dir, sizeof(s->dir), "/tmp/meshreg-test-ctl-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        close(p[0]);
        child_main(o, s->dir, p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], &s->port, sizeof(s->port)), sizeof(s->port));
    close(p[0]);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Returns the child's exit status. */
static int server_stop(struct server *s)
{
    int st = 0;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A raw server child that reads one request per connection and answers
 * it with `answer` (NULL: never answers). */
static pid_t raw_server(const char *answer, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                continue;
            char buf[4096];
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            (void)n;
            if (!answer) {
                sleep(30); /* bounded: the parent kills us */
                _exit(0);
            }
            if (send(c, answer, strlen(answer), MSG_NOSIGNAL) < 0)
                _exit(1);
            close(c);
        }
    }
    close(fd);
    return pid;
}

static void raw_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A port nobody listens on (bound, then released). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
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

/* Runs ctl_main(cmd, args...) with stdout/stderr captured into out_buf and
 * err_buf. args: NULL-terminated. */
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

/* ---- tests ---- */

static void test_status_drain_undrain(void **state)
{
    struct server s;
    struct server_opts o = {.drain_seconds = 30};
    server_start(&s, &o);

    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"drain\": {"); /* pretty-printed */
    expect_in(out_buf, "\n    \"phase\": \"running\"");
    expect_in(out_buf, "\"admin\": false");

    char admin_eq[80];
    snprintf(admin_eq, sizeof(admin_eq), "--admin=%s", addr_of(s.port));
    assert_int_equal(ctl("drain", admin_eq, "--reason", "deploy 42 & more", "--expires=600", NULL),
                     0);
    expect_in(out_buf, "\"draining\": true");
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"admin\": true");
    expect_in(out_buf, "\"reason\": \"deploy 42 & more\"");
    /* At most 600000: a fast machine may answer within the same loop
     * timestamp as the drain itself. */
    const char *ex = strstr(out_buf, "\"expires_in_ms\": ");
    assert_non_null(ex);
    long ms = strtol(ex + strlen("\"expires_in_ms\": "), NULL, 10);
    assert_in_range(ms, 590000, 600000);

    assert_int_equal(ctl("undrain", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"draining\": false");
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"admin\": false");
    assert_int_equal(server_stop(&s), 0);
}

static void test_admin_from_env_and_any(void **state)
{
    struct server s;
    struct server_opts o = {.drain_seconds = 30};
    server_start(&s, &o);
    char env[64];

    /* 0.0.0.0 (what `run` listens on by default) means loopback here */
    snprintf(env, sizeof(env), "0.0.0.0:%d", s.port);
    setenv("MESHREG_ADMIN", env, 1);
    assert_int_equal(ctl("status", NULL), 0);
    expect_in(out_buf, "\"checks\"");
    /* the flag wins over the environment */
    setenv("MESHREG_ADMIN", "127.0.0.1:1", 1);
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    assert_int_equal(ctl("status", NULL), 1);
    unsetenv("MESHREG_ADMIN");
    assert_int_equal(server_stop(&s), 0);
}

static void test_drain_wait_window(void **state)
{
    struct server s;
    struct server_opts o = {.drain_seconds = 0.8};
    server_start(&s, &o);

    double t0 = now_s();
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(s.port), NULL), 0);
    double took = now_s() - t0;
    if (took < 0.7 || took > 3)
        fail_msg("drain --wait took %.2f s for a 0.8 s window", took);
    expect_in(out_buf, "\"draining\": true");
    expect_in(err_buf, "window over");
    assert_int_equal(server_stop(&s), 0);
}

/* The sidecar exits at the end of its window (shutdown): connection
 * refused while waiting means done, not failure. */
static void test_drain_wait_sidecar_exits(void **state)
{
    struct server s;
    struct server_opts o = {.drain_seconds = 30, .exit_after_drain = 0.3};
    server_start(&s, &o);

    double t0 = now_s();
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(s.port), NULL), 0);
    double took = now_s() - t0;
    if (took < 0.25 || took > 3)
        fail_msg("drain --wait took %.2f s for a sidecar exiting after 0.3 s", took);
    expect_in(err_buf, "sidecar gone");
    assert_int_equal(server_stop(&s), 0);
}

static void test_failures(void **state)
{
    /* nobody listening */
    int port = closed_port();
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 1);
    expect_in(err_buf, "cannot connect");
    assert_int_equal(ctl("drain", "--admin", addr_of(port), NULL), 1);
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 1);

    /* a refusal */
    pid_t pid = raw_server("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 10\r\nConnection: close\r\n\r\nforbidden\n",
                           &port);
    assert_int_equal(ctl("drain", "--admin", addr_of(port), NULL), 1);
    expect_in(err_buf, "403");
    expect_in(err_buf, "forbidden");
    assert_int_equal(ctl("undrain", "--admin", addr_of(port), NULL), 1);
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 1);
    raw_stop(pid);

    /* not HTTP at all */
    pid = raw_server("SSH-2.0-OpenSSH\r\n", &port);
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 1);
    expect_in(err_buf, "not an HTTP answer");
    raw_stop(pid);
}

/* A sidecar that accepts and never answers must not hang the client. */
static void test_timeout(void **state)
{
    int port;
    pid_t pid = raw_server(NULL, &port);
    double t0 = now_s();
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 1);
    double took = now_s() - t0;
    expect_in(err_buf, "no answer within");
    assert_true(took >= 4.5 && took < 8);
    raw_stop(pid);
}

static void test_usage(void **state)
{
    assert_int_equal(ctl("drain", "--help", NULL), 0);
    expect_in(out_buf, "usage: meshreg drain");
    expect_in(out_buf, "Exit status: 0");
    assert_int_equal(ctl("status", "-h", NULL), 0);
    expect_in(out_buf, "usage: meshreg status");

    assert_int_equal(ctl("drain", "--bogus", NULL), 2);
    expect_in(err_buf, "unknown option");
    expect_in(err_buf, "usage:");
    assert_int_equal(ctl("drain", "--expires", "abc", NULL), 2);
    expect_in(err_buf, "--expires");
    assert_int_equal(ctl("drain", "--expires=-3", NULL), 2);
    assert_int_equal(ctl("drain", "--reason", NULL), 2);
    expect_in(err_buf, "needs a value");
    assert_int_equal(ctl("status", "--wait", NULL), 2);
    assert_int_equal(ctl("undrain", "--reason", "x", NULL), 2);
    assert_int_equal(ctl("status", "--admin", "nohost", NULL), 2);
    expect_in(err_buf, "--admin");
    assert_int_equal(ctl("status", "--admin", "[::1:6666", NULL), 2);
    assert_int_equal(ctl("restart", NULL), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_drain_undrain),
        cmocka_unit_test(test_admin_from_env_and_any),
        cmocka_unit_test(test_drain_wait_window),
        cmocka_unit_test(test_drain_wait_sidecar_exits),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
