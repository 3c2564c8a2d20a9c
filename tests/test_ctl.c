/* `meshreg drain|undrain|status` (ctl_main) against a real admin endpoint:
 * a child process runs admin_new() over the admin fixture's view
 * (tests/admin_fixture.h: the real drain machine) on its own libev loop; the test calls ctl_main()
 * in the parent, capturing stdout and stderr. A few raw servers cover what a healthy sidecar never
 * does (403, never answering): tests/ctl_fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/admin/ctl.h"
#include "sidecar/log.h"
#include "tests/admin_fixture.h"
#include "tests/failalloc.h"
#include "tests/test_listen.h"
#include "tests/ctl_fixture.h"

/* ---- tests ---- */

static void test_status_drain_undrain(void **state)
{
    struct server s;
    struct server_opts o = {.drain_seconds = 30};
    server_start(&s, &o);

    /* hastatus' lines; --json is the whole /status */
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    assert_string_equal(out_buf, "UP\tsvc.main\n");
    assert_int_equal(ctl("status", "--json", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"drain\": {"); /* pretty-printed */
    expect_in(out_buf, "\n    \"phase\": \"running\"");
    expect_in(out_buf, "\"admin\": false");

    char admin_eq[80];
    snprintf(admin_eq, sizeof(admin_eq), "--admin=%s", addr_of(s.port));
    assert_int_equal(ctl("drain", admin_eq, "--reason", "deploy 42 & more", "--expires=600", NULL),
                     0);
    expect_in(out_buf, "\"draining\": true");
    expect_in(out_buf, "\"replaced\": null");
    /* the drain's own end and the window are two fields */
    expect_in(out_buf, "\"window_remaining_ms\": 30000");
    const char *ex = strstr(out_buf, "\"expires_in_ms\": ");
    assert_non_null(ex);
    assert_in_range(strtol(ex + strlen("\"expires_in_ms\": "), NULL, 10), 590000, 600000);
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 1);
    assert_memory_equal(out_buf, "DOWN\t", 5);
    expect_in(out_buf, "\tsvc.main\tdeploy 42 & more\n");
    assert_int_equal(ctl("status", "--json", "--admin", addr_of(s.port), NULL), 1);
    expect_in(out_buf, "\"admin\": true");
    expect_in(out_buf, "\"reason\": \"deploy 42 & more\"");
    /* At most 600000: a fast machine may answer within the same loop
     * timestamp as the drain itself. */
    ex = strstr(out_buf, "\"expires_in_ms\": ");
    assert_non_null(ex);
    long ms = strtol(ex + strlen("\"expires_in_ms\": "), NULL, 10);
    assert_in_range(ms, 590000, 600000);

    /* a second drain replaces the first and says so; --until is Unix time */
    assert_int_equal(ctl("drain", "all", admin_eq, "--reason", "other", "--until", "4000000000",
                         NULL),
                     0);
    expect_in(out_buf, "\"replaced\": {");
    expect_in(out_buf, "\"reason\": \"deploy 42 & more\"");
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 1);
    assert_string_equal(out_buf, "DOWN\t4000000000.000000\tsvc.main\tother\n");

    assert_int_equal(ctl("undrain", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"draining\": false");
    expect_in(out_buf, "\"ended\": {");
    assert_int_equal(ctl("status", "--json", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"admin\": false");

    /* one registration by name; the default reason is who did it */
    setenv("SUDO_USER", "alice", 1);
    assert_int_equal(ctl("drain", "svc.main", "--admin", addr_of(s.port), NULL), 0);
    unsetenv("SUDO_USER");
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 1);
    assert_string_equal(out_buf, "DOWN\tinf\tsvc.main\talice\n");
    /* undrain of `all` leaves it */
    assert_int_equal(ctl("undrain", "--admin", addr_of(s.port), NULL), 0);
    expect_in(out_buf, "\"ended\": null");
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 1);
    assert_int_equal(ctl("undrain", "svc.main", "--admin", addr_of(s.port), NULL), 0);
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    /* a name no registration has */
    assert_int_equal(ctl("drain", "svc.nope", "--admin", addr_of(s.port), NULL), 1);
    expect_in(err_buf, "404");
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
    assert_int_equal(ctl("status", "--json", NULL), 0);
    expect_in(out_buf, "\"checks\"");
    /* the flag wins over the environment */
    setenv("MESHREG_ADMIN", "127.0.0.1:1", 1);
    assert_int_equal(ctl("status", "--admin", addr_of(s.port), NULL), 0);
    assert_int_equal(ctl("status", NULL), 3);
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
    /* Well before the 30 s slack past the window's promised end. */
    if (took < 0.7 || took > 20)
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
    if (took < 0.25 || took > 20)
        fail_msg("drain --wait took %.2f s for a sidecar exiting after 0.3 s", took);
    expect_in(err_buf, "sidecar gone");
    assert_int_equal(server_stop(&s), 0);
}

static void test_failures(void **state)
{
    /* nobody listening: status 3, drain 1, drain --wait 0 (preStop) */
    int port = test_dead_port();
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 3);
    expect_in(err_buf, "no sidecar answers");
    expect_in(err_buf, "cannot connect");
    assert_int_equal(ctl("drain", "--admin", addr_of(port), NULL), 1);
    expect_in(err_buf, "no sidecar answers");
    assert_int_equal(ctl("undrain", "--admin", addr_of(port), NULL), 1);
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 0);
    expect_in(err_buf, "nothing to wait for");

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

    /* not HTTP at all: nothing answers as a sidecar would */
    pid = raw_server("SSH-2.0-OpenSSH\r\n", &port);
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 3);
    expect_in(err_buf, "not an HTTP answer");
    raw_stop(pid);
}

/* Runs ctl(cmd, [flag,] "--admin", addr) in a child process, so that slow
 * cases run side by side; child_result() collects its exit status, stdout
 * and stderr. */
static pid_t ctl_in_child(const char *cmd, const char *flag, const char *addr, int *rfd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        int rc = flag ? ctl(cmd, flag, "--admin", addr, NULL) : ctl(cmd, "--admin", addr, NULL);
        size_t olen = strlen(out_buf);
        if (write(p[1], &rc, sizeof(rc)) != sizeof(rc) ||
            write(p[1], &olen, sizeof(olen)) != sizeof(olen) ||
            write(p[1], out_buf, olen) != (ssize_t)olen ||
            write(p[1], err_buf, strlen(err_buf)) < 0)
            _exit(3);
        exit(0); /* not _exit: a --coverage build writes the child's counts at exit */
    }
    close(p[1]);
    *rfd = p[0];
    return pid;
}

static void read_n(int fd, void *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = read(fd, (char *)buf + got, n - got)) > 0)
        got += (size_t)r;
    assert_int_equal(got, n);
}

/* Returns the child's ctl exit status; its stdout and stderr into the
 * given buffers. */
static int child_result(pid_t pid, int rfd, char *out, size_t ocap, char *err, size_t ecap)
{
    int rc = -1, st;
    size_t olen = 0, n = 0;
    ssize_t r;
    read_n(rfd, &rc, sizeof(rc));
    read_n(rfd, &olen, sizeof(olen));
    assert_true(olen < ocap);
    read_n(rfd, out, olen);
    out[olen] = '\0';
    while (n < ecap - 1 && (r = read(rfd, err + n, ecap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(rfd);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return rc;
}

/* A sidecar that accepts and never answers, and one whose accept queue is
 * full (the SYN is dropped: connect hangs), must not hang the client past
 * its 5 s deadline. Both run at once (one in a child) to keep this quick. */
static void test_timeouts(void **state)
{
    int port, hang_port;
    pid_t pid = raw_server(NULL, &port);

    /* backlog 0 with one connection already queued: no more handshakes */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    hang_port = ntohs(sin.sin_port);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);

    int rfd;
    char addr[64], cout[4096], cerr[4096];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", hang_port);
    pid_t child = ctl_in_child("status", NULL, addr, &rfd);

    double t0 = now_s();
    assert_int_equal(ctl("status", "--admin", addr_of(port), NULL), 3);
    double took = now_s() - t0;
    expect_in(err_buf, "no answer within 5 s");
    /* the raw server holds the connection until it is killed */
    if (took < 4.5 || took > 25)
        fail_msg("status against a silent server took %.2f s", took);

    assert_int_equal(child_result(child, rfd, cout, sizeof(cout), cerr, sizeof(cerr)), 3);
    char want[128];
    snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%d: timed out after 5 s", hang_port);
    expect_in(cerr, want);
    close(filler);
    close(lfd);
    raw_stop(pid);
}

static void test_usage(void **state)
{
    static const struct usage w[] = {
        {"drain", {"--help"}, 0, {"usage: meshreg drain", "Exit status: 0"}},
        {"status", {"-h"}, 0, {"usage: meshreg status"}},
        {"drain", {"--bogus"}, 2, {"unknown option", "usage:"}},
        {"drain", {"--expires", "abc"}, 2, {"--expires"}},
        {"drain", {"--expires=-3"}, 2, {NULL}},
        {"drain", {"--reason"}, 2, {"needs a value"}},
        {"status", {"--wait"}, 2, {NULL}},
        {"undrain", {"--reason", "x"}, 2, {NULL}},
        {"status", {"--admin", "nohost"}, 2, {"--admin"}},
        {"status", {"--admin", "[::1:6666"}, 2, {NULL}},
        {"restart", {NULL}, 2, {NULL}},
    };

    expect_usage(w, sizeof(w) / sizeof(w[0]));
}

/* "HTTP/1.1 STATUS X" with body and its Content-Length (8 rotating buffers). */
static const char *answer(int status, const char *body)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof(buf[0]), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s", status,
             strlen(body), body);
    return b;
}

/* Runs `status` against a raw server acting as rs; returns the exit status. */
static int status_against(enum raw_act act, const char *answer)
{
    struct raw_spec rs = {.act = act, .post = answer};
    int port;
    pid_t pid = raw_server2(&rs, &port);
    assert_true(pid > 0);
    int rc = ctl("status", "--json", "--admin", addr_of(port), NULL);
    raw_stop(pid);
    return rc;
}

/* Answers a sidecar never gives, each read the way HTTP/1.1 says. */
static void test_answer_shapes(void **state)
{
    /* an interim 100 is skipped; the final answer may come in the same
     * segment, from a server that does not close at once */
    assert_int_equal(status_against(RAW_HOLD, "HTTP/1.1 100 Continue\r\n\r\n"
                                              "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
                                              "{\"ok\":true}"),
                     0);
    assert_string_equal(out_buf, "{\n  \"ok\": true\n}\n");
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 100 Continue\r\n\r\n"
                                                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
                     0);
    assert_string_equal(out_buf, "[]\n");

    /* no Content-Length: the body ends with the connection */
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.0 200 OK\r\n\r\n{\"a\": [1, 2]}"), 0);
    expect_in(out_buf, "\"a\": [\n    1,\n    2\n  ]");
    assert_string_equal(err_buf, "");

    /* a body that is not JSON is shown as it is, ending in one newline */
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                                                "hello"),
                     0);
    assert_string_equal(out_buf, "hello\n");
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"
                                                "hello\n"),
                     0);
    assert_string_equal(out_buf, "hello\n");
    /* an empty body prints nothing */
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
    assert_string_equal(out_buf, "");

    /* a non-200 status: the body goes to stderr, pretty-printed */
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 503 Unavailable\r\n"
                                                "Content-Length: 14\r\n\r\n{\"error\":\"no\"}"),
                     1);
    assert_string_equal(out_buf, "");
    expect_in(err_buf, "{\n  \"error\": \"no\"\n}\n");
    expect_in(err_buf, "answered 503");

    /* broken answers */
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                                                "{\"cut"),
                     3);
    expect_in(err_buf, "answer cut short");
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 200 OK\r\nContent-"), 3);
    expect_in(err_buf, "connection closed without an answer");
    assert_int_equal(status_against(RAW_CLOSE, NULL), 3);
    expect_in(err_buf, "connection closed without an answer");
    assert_int_equal(status_against(RAW_RST, NULL), 3);
    expect_in(err_buf, "receive: Connection reset by peer");
    assert_int_equal(status_against(RAW_ANSWER, "HTTP/1.1 2x0 OK\r\n\r\n"), 3);
    expect_in(err_buf, "not an HTTP answer");
    /* a 16 MB cap on what is read, whatever the server declares */
    assert_int_equal(status_against(RAW_BIG, NULL), 3);
    expect_in(err_buf, "answer too large");
}

/* drain and undrain refused with something other than 403: no loopback hint. */
static void test_drain_error_answers(void **state)
{
    struct raw_spec rs = {.act = RAW_ANSWER,
                          .post = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\n"
                                  "oops\n"};
    int port;
    pid_t pid = raw_server2(&rs, &port);
    assert_true(pid > 0);
    assert_int_equal(ctl("drain", "--admin", addr_of(port), NULL), 1);
    char want[128];
    snprintf(want, sizeof(want), "meshreg drain: 127.0.0.1:%d answered 500\noops\n", port);
    assert_string_equal(err_buf, want);
    assert_int_equal(ctl("undrain", "--admin", addr_of(port), NULL), 1);
    expect_in(err_buf, "meshreg undrain: ");
    expect_in(err_buf, "answered 500\noops\n");
    assert_null(strstr(err_buf, "loopback"));
    raw_stop(pid);
}

/* What drain sends: a form with reason and expires percent-encoded; one too
 * long for the 512-byte form is cut instead of overflowing, and a field that
 * no longer fits is left out rather than cut in half. */
static void test_drain_form_encoding(void **state)
{
    struct raw_spec rs = {.act = RAW_ECHO};
    int port;
    pid_t pid = raw_server2(&rs, &port);
    assert_true(pid > 0);

    assert_int_equal(ctl("drain", "--admin", addr_of(port), "--reason", "a b&c/\xc3\xa9-._~Z9",
                         "--expires", "1.5", NULL),
                     0);
    assert_string_equal(out_buf, "service=all&reason=a%20b%26c%2F%C3%A9-._~Z9&expires=1.5\n");

    char reason[700];
    memset(reason, '/', sizeof(reason) - 1); /* 3 bytes each once encoded */
    reason[sizeof(reason) - 1] = '\0';
    assert_int_equal(
        ctl("drain", "--admin", addr_of(port), "--reason", reason, "--expires=60", NULL), 0);
    size_t n = strlen(out_buf);
    assert_true(n > 900 && n < 1024 + 1);
    assert_memory_equal(out_buf, "service=all&reason=%2F%2F", 25);
    assert_null(strstr(out_buf, "expires"));
    /* whole %XX triplets only */
    assert_int_equal((n - 1 - strlen("service=all&reason=")) % 3, 0);

    /* undrain sends only the scope */
    assert_int_equal(ctl("undrain", "svc.x", "--admin", addr_of(port), NULL), 0);
    assert_string_equal(out_buf, "service=svc.x\n");
    raw_stop(pid);
}

/* drain --wait against a sidecar whose /status stops making sense: three
 * bad polls in a row end the wait with a failure, naming the last one. */
static void test_drain_wait_bad_polls(void **state)
{
    const char *drained = answer(200, "{\"draining\":true,\"window_remaining_ms\":600000}");
    static const struct {
        const char *get;
        const char *want;
    } cases[] = {
        {"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
         "GET /status answered 500 without a drain window"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n{\"drain\":{\"phase\":1}}",
         "GET /status answered 200 without a drain window"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{", "answer cut short"},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    pid_t servers[N], children[N];
    int fds[N];
    /* side by side: each takes three poll periods */
    for (size_t i = 0; i < N; i++) {
        struct raw_spec rs = {.act = RAW_ANSWER, .post = drained, .get = cases[i].get};
        int port;
        servers[i] = raw_server2(&rs, &port);
        assert_true(servers[i] > 0);
        children[i] = ctl_in_child("drain", "--wait", addr_of(port), &fds[i]);
    }
    for (size_t i = 0; i < N; i++) {
        static char cout[4096], cerr[4096];
        assert_int_equal(child_result(children[i], fds[i], cout, sizeof(cout), cerr, sizeof(cerr)),
                         1);
        expect_in(cout, "\"window_remaining_ms\": 600000");
        expect_in(cerr, "waiting for the drain window (600.0 s)");
        expect_in(cerr, cases[i].want);
        assert_null(strstr(cerr, "window over"));
        raw_stop(servers[i]);
    }
}

/* drain --wait: a poll that finds the window over, or finds the sidecar
 * gone (reset, closed), is done; a drain answer without a window (or not
 * JSON) has nothing to wait for. */
static void test_drain_wait_ends(void **state)
{
    const char *drained = answer(200, "{\"draining\":true,\"window_remaining_ms\":600000}");
    const char *over = answer(200, "{\"drain\":{\"window_remaining_ms\":0}}");
    struct raw_spec rs = {.act = RAW_ANSWER, .post = drained, .get = over};
    int port;
    pid_t pid = raw_server2(&rs, &port);
    assert_true(pid > 0);
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 0);
    expect_in(err_buf, "meshreg drain: window over\n");
    raw_stop(pid);

    rs.act = RAW_RST; /* the POST is reset: no sidecar answers, fine for preStop */
    pid = raw_server2(&rs, &port);
    assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 0);
    expect_in(err_buf, "Connection reset by peer");
    expect_in(err_buf, "nothing to wait for");
    assert_int_equal(ctl("drain", "--admin", addr_of(port), NULL), 1);
    raw_stop(pid);

    static const char *const shapes[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"draining\":true}",
        "HTTP/1.1 200 OK\r\nContent-Length: "
        "41\r\n\r\n{\"draining\":true,\"window_remaining_ms\":0}",
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct raw_spec r2 = {.act = RAW_ANSWER, .post = shapes[i], .get = "garbage"};
        pid = raw_server2(&r2, &port);
        assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 0);
        expect_in(err_buf, "waiting for the drain window (0.0 s)");
        expect_in(err_buf, "meshreg drain: window over\n");
        raw_stop(pid);
    }
}

/* A poll the sidecar resets or closes unanswered means it is on its way
 * out: the wait is over, successfully. */
static void test_drain_wait_sidecar_resets(void **state)
{
    const char *drained = answer(200, "{\"draining\":true,\"window_remaining_ms\":600000}");
    static const struct {
        enum raw_act act;
        const char *want;
    } cases[] = {
        {RAW_RST, "sidecar gone ("},
        {RAW_CLOSE, "connection closed without an answer): window over"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raw_spec rs = {.act = RAW_ANSWER, .get_act = cases[i].act, .post = drained};
        int port;
        pid_t pid = raw_server2(&rs, &port);
        assert_true(pid > 0);
        assert_int_equal(ctl("drain", "--wait", "--admin", addr_of(port), NULL), 0);
        expect_in(err_buf, "meshreg drain: sidecar gone (");
        expect_in(err_buf, cases[i].want);
        raw_stop(pid);
    }
}

/* Allocation failure while reading the answer is an error, not a crash or a
 * leak; with allocations back, the same call works. */
static void test_out_of_memory(void **state)
{
    struct raw_spec rs = {.act = RAW_ANSWER,
                          .post = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"};
    int port, failures = 0;
    pid_t pid = raw_server2(&rs, &port);
    assert_true(pid > 0);
    for (unsigned n = 1; n < 20; n++) {
        failalloc_arm(n, false);
        int rc = ctl("status", "--json", "--admin", addr_of(port), NULL);
        unsigned failed = failalloc_failed();
        failalloc_off();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            assert_string_equal(out_buf, "{\n  \"ok\": true\n}\n");
            break;
        }
        assert_int_equal(rc, 3);
        assert_string_equal(err_buf, "meshreg status: no sidecar answers: out of memory\n");
        failures++;
    }
    assert_true(failures >= 1);
    raw_stop(pid);
}

/* Connecting fails at once (an address TCP cannot reach), or cannot even
 * start (no file descriptor left): errors, not hangs. */
static void test_connect_errors(void **state)
{
    assert_int_equal(ctl("status", "--admin", "255.255.255.255:80", NULL), 3);
    assert_string_equal(err_buf, "meshreg status: no sidecar answers: cannot connect to 255.255.255.255:80: Network is "
                                 "unreachable\n");

    /* [::] means this host's IPv6 loopback; nobody listens there */
    char any6[64];
    int port = test_dead_port();
    snprintf(any6, sizeof(any6), "[::]:%d", port);
    assert_int_equal(ctl("status", "--admin", any6, NULL), 3);
    char want[128];
    snprintf(want, sizeof(want), "cannot connect to [::1]:%d: ", port);
    expect_in(err_buf, want);

    /* no descriptor left for the socket (in a child: the limit sticks) */
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free one: the limit */
        if (fd < 0)
            _exit(20);
        close(fd);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rlim_t cur = rl.rlim_cur;
        rl.rlim_cur = (rlim_t)fd;
        setrlimit(RLIMIT_NOFILE, &rl);
        char *argv[] = {"--admin", "127.0.0.1:1", NULL};
        int rc = ctl_main("status", 2, argv);
        rl.rlim_cur = cur; /* for a --coverage build's files written at exit */
        setrlimit(RLIMIT_NOFILE, &rl);
        exit(rc);
    }
    close(p[1]);
    char buf[512];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = '\0';
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    /* (a --coverage build may add its own complaints after the line) */
    static const char want_line[] =
        "meshreg status: no sidecar answers: socket: Too many open files\n";
    assert_memory_equal(buf, want_line, sizeof(want_line) - 1);
}

/* An empty --admin or MESHREG_ADMIN means the default, 127.0.0.1:6666. */
static void test_default_admin(void **state)
{
    struct raw_spec rs = {.act = RAW_ANSWER,
                          .post = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"port\":6666}",
                          .port = 6666};
    int port;
    pid_t pid = raw_server2(&rs, &port);
    if (pid < 0)
        skip(); /* 6666 taken by someone else on this host */
    setenv("MESHREG_ADMIN", "", 1);
    assert_int_equal(ctl("status", "--json", NULL), 0);
    expect_in(out_buf, "\"port\": 6666");
    unsetenv("MESHREG_ADMIN");
    assert_int_equal(ctl("status", "--json", "--admin=", NULL), 0);
    expect_in(out_buf, "\"port\": 6666");
    raw_stop(pid);
}

static void test_usage_texts_and_values(void **state)
{
    static const struct usage w[] = {
        {"undrain",
         {"--help"},
         0,
         {"usage: meshreg undrain [SVC.NS|all] [--admin ADDR]", "error answer),\n"}},
        {"status", {"--help"}, 0, {"3 no sidecar answers.\n"}},
        {"drain", {"-h"}, 0, {"--wait ", "error answer),\n"}},
        /* undrain and status take only --admin */
        {"undrain", {"--expires=5"}, 2, {"unknown option \"--expires=5\""}},
        {"status", {"--admin"}, 2, {"meshreg status: --admin needs a value"}},
        /* a known option's name as a prefix is not that option */
        {"status", {"--administrator=x"}, 2, {"unknown option \"--administrator=x\""}},
        {"drain", {"--reasonable"}, 2, {"unknown option \"--reasonable\""}},
    };

    expect_usage(w, sizeof(w) / sizeof(w[0]));

    static const char *const bad_expires[] = {"", "inf", "nan", "1e999", "5s", "-0.5"};
    for (size_t i = 0; i < sizeof(bad_expires) / sizeof(bad_expires[0]); i++) {
        char arg[32];
        snprintf(arg, sizeof(arg), "--expires=%s", bad_expires[i]);
        assert_int_equal(ctl("drain", arg, NULL), 2);
        char want[96];
        snprintf(want, sizeof(want), "--expires wants seconds (>= 0), got \"%s\"\n",
                 bad_expires[i]);
        expect_in(err_buf, want);
        expect_in(err_buf, "usage: meshreg drain");
        assert_string_equal(out_buf, "");
    }
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
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_answer_shapes),
        cmocka_unit_test(test_drain_error_answers),
        cmocka_unit_test(test_drain_form_encoding),
        cmocka_unit_test(test_drain_wait_bad_polls),
        cmocka_unit_test(test_drain_wait_ends),
        cmocka_unit_test(test_drain_wait_sidecar_resets),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_default_admin),
        cmocka_unit_test(test_usage_texts_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
