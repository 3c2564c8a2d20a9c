/* The tcp probe's and the http probe's edges (test_probe.c covers their
 * main behaviour): addresses that cannot be used, connects that fail at
 * once or hang, no fd, no memory at every allocation, and the http probe's
 * request as it reaches a real listener (headers with CR/LF dropped, Host
 * replaced, the default path and host). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/probe/probe.h"
#include "tests/failalloc.h"
#include "tests/test_probe_util.h"

static struct check_spec spec_of(enum probe_kind kind, const char *host, int port)
{
    struct check_spec s = {
        .name = "svc.main",
        .probe = kind,
        .probe_host = (char *)host,
        .probe_port = port,
        .timeout_ms = 3000,
        .interval_ms = 50, /* first attempt within 50 ms */
        .rise = 1,
        .fall = 1,
    };
    return s;
}

static void expect_exact(const struct check_spec *s, bool pass, const char *detail)
{
    struct rec r;

    probe_once(s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    if (r.pass[0] != pass || strcmp(r.detail[0], detail) != 0)
        fail_msg("got %s \"%s\", want %s \"%s\"", r.pass[0] ? "pass" : "fail", r.detail[0],
                 pass ? "pass" : "fail", detail);
}

/* ---- a listener that answers one HTTP request per connection ---- */

/* Connections come from a fixed pool: the test's own allocations go
 * through failalloc too, and must not be the ones that fail. */
struct web_conn {
    struct web *w;
    ev_io io;
    bool used;
    char buf[4096];
    size_t len;
};

struct web {
    struct ev_loop *loop;
    int lfd, port;
    ev_io accept_w;
    const char *answer;
    char req[4096]; /* the last request head */
    struct web_conn conn[8];
};

static void web_conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct web_conn *c = io->data;
    ssize_t n = recv(io->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);

    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        if (!strstr(c->buf, "\r\n\r\n"))
            return;
        snprintf(c->w->req, sizeof(c->w->req), "%s", c->buf);
        if (send(io->fd, c->w->answer, strlen(c->w->answer), MSG_NOSIGNAL) < 0)
            fail_msg("send: %s", strerror(errno));
    }
    ev_io_stop(loop, io);
    close(io->fd);
    c->used = false;
}

static void web_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct web *w = io->data;
    int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    struct web_conn *c = NULL;
    for (size_t i = 0; i < sizeof(w->conn) / sizeof(w->conn[0]) && !c; i++)
        if (!w->conn[i].used)
            c = &w->conn[i];
    assert_non_null(c);
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->used = true;
    ev_io_init(&c->io, web_conn_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(loop, &c->io);
}

static void web_start(struct web *w, const char *answer)
{
    memset(w, 0, sizeof(*w));
    w->loop = ev_default_loop(0);
    w->answer = answer;
    w->lfd = listen_any(&w->port);
    ev_io_init(&w->accept_w, web_accept_cb, w->lfd, EV_READ);
    w->accept_w.data = w;
    ev_io_start(w->loop, &w->accept_w);
}

static void web_stop(struct web *w)
{
    ev_io_stop(w->loop, &w->accept_w);
    close(w->lfd);
    for (size_t i = 0; i < sizeof(w->conn) / sizeof(w->conn[0]); i++)
        if (w->conn[i].used) {
            ev_io_stop(w->loop, &w->conn[i].io);
            close(w->conn[i].io.fd);
        }
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- tcp ---- */

static void test_tcp_unusable_addresses(void **state)
{
    struct check_spec s = spec_of(PROBE_TCP, "not-an-address", 80);
    expect_exact(&s, false, "bad address not-an-address:80");
    s = spec_of(PROBE_TCP, "127.0.0.1", 0);
    expect_exact(&s, false, "bad address 127.0.0.1:0");
    s = spec_of(PROBE_TCP, "127.0.0.1", 70000);
    expect_exact(&s, false, "bad address 127.0.0.1:70000");
    /* a connect that fails at once, not from the loop */
    s = spec_of(PROBE_TCP, "255.255.255.255", 80);
    expect_exact(&s, false, "connect: Network is unreachable");
}

static void test_tcp_default_host_and_ipv6(void **state)
{
    int port;
    int fd = listen_any(&port);
    struct check_spec s = spec_of(PROBE_TCP, NULL, port); /* 127.0.0.1 */
    struct rec r;

    probe_once(&s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(r.detail[0], "connected in ", 13) == 0);
    close(fd);

    int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof(sin6);
    assert_int_equal(bind(fd6, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
    assert_int_equal(listen(fd6, 4), 0);
    getsockname(fd6, (struct sockaddr *)&sin6, &len);
    s = spec_of(PROBE_TCP, "::1", ntohs(sin6.sin6_port));
    probe_once(&s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    close(fd6);
}

/* A listener whose accept queue is full drops the SYN: the connect hangs
 * until the probe's deadline, and the cancel closes the socket. */
static void test_tcp_connect_hangs_until_deadline(void **state)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);

    int before = count_fds();
    struct check_spec s = spec_of(PROBE_TCP, "127.0.0.1", ntohs(sin.sin_port));
    s.timeout_ms = 300;
    struct rec r;
    probe_once(&s, &r, 2, 10.0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(r.pass[i]);
        assert_string_equal(r.detail[i], "timeout after 300 ms");
    }
    assert_true(r.at[0] >= 0.29);
    assert_int_equal(count_fds(), before);
    close(filler);
    close(lfd);
}

static void test_tcp_out_of_memory(void **state)
{
    int port;
    int fd = listen_any(&port);
    struct check_spec s = spec_of(PROBE_TCP, "127.0.0.1", port);
    struct rec r;

    assert_int_equal(probe_failing_alloc(&s, 1, &r, 10.0), 1);
    assert_int_equal(r.n, 2);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "out of memory");
    assert_true(r.pass[1]);
    close(fd);
}

static void test_tcp_no_fd(void **state)
{
    struct ev_loop *loop = ev_default_loop(0);
    int port;
    int lfd = listen_any(&port);
    struct check_spec s = spec_of(PROBE_TCP, "127.0.0.1", port);
    struct rec r;
    struct probe *p = rec_probe(&s, &r, 1);

    probe_start_without_fds(p, loop, 5.0);
    assert_int_equal(r.n, 1);
    assert_false(r.pass[0]);
    assert_string_equal(r.detail[0], "socket: Too many open files");
    /* with fds back, the next attempt connects */
    r.want = 2;
    run_for(loop, 5.0);
    assert_int_equal(r.n, 2);
    assert_true(r.pass[1]);
    probe_free(p);
    close(lfd);
}

/* ---- http ---- */

static const char ok200[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* What the request carries: extra headers minus those with CR/LF, the last
 * Host given instead of the default one, /status and 127.0.0.1 by default. */
static void test_http_request_headers(void **state)
{
    struct web w;
    web_start(&w, ok200);
    struct kv headers[] = {
        {"X-Ok", "1"},      {"host", "first.example"},  {"X-Bad", "a\r\nInjected: yes"},
        {"Bad\nName", "v"}, {"Host", "second.example"}, {"X-Also", "2"},
    };
    struct check_spec s = spec_of(PROBE_HTTP, NULL, w.port);
    s.headers = headers;
    s.nheaders = sizeof(headers) / sizeof(headers[0]);
    struct rec r;
    probe_once(&s, &r, 1, 10.0);
    assert_int_equal(r.n, 1);
    assert_true(r.pass[0]);
    assert_true(strncmp(w.req, "GET /status HTTP/1.1\r\n", 22) == 0);
    assert_non_null(strstr(w.req, "\r\nX-Ok: 1\r\n"));
    assert_non_null(strstr(w.req, "\r\nX-Also: 2\r\n"));
    assert_int_equal(count_of(w.req, "Host: "), 1);
    assert_non_null(strstr(w.req, "\r\nHost: second.example\r\n"));
    assert_null(strstr(w.req, "first.example"));
    assert_null(strstr(w.req, "Injected"));
    assert_null(strstr(w.req, "Bad"));

    /* an empty healthcheck_uri is the default path too */
    s = spec_of(PROBE_HTTP, "127.0.0.1", w.port);
    s.probe_uri = "";
    probe_once(&s, &r, 1, 10.0);
    assert_true(r.pass[0]);
    assert_true(strncmp(w.req, "GET /status HTTP/1.1\r\n", 22) == 0);
    s.probe_uri = "/healthz?x=1";
    probe_once(&s, &r, 1, 10.0);
    assert_true(r.pass[0]);
    assert_true(strncmp(w.req, "GET /healthz?x=1 HTTP/1.1\r\n", 27) == 0);
    assert_non_null(strstr(w.req, "\r\nHost: 127.0.0.1:"));
    web_stop(&w);
}

/* Every allocation the http probe makes can fail: each failing attempt
 * fails cleanly (ASan: nothing leaked) and the next one, with allocations
 * back, passes. */
static void test_http_out_of_memory_everywhere(void **state)
{
    struct web w;
    web_start(&w, ok200);
    struct kv headers[] = {{"Host", "svc.example"}, {"X-Probe", "meshreg"}};
    struct check_spec s = spec_of(PROBE_HTTP, "127.0.0.1", w.port);
    s.headers = headers;
    s.nheaders = 2;
    s.body_expect = "ok";
    /* state, header text, Host copy, the request */
    assert_true(probe_oom_sweep(&s, 64, 10.0) >= 4);
    web_stop(&w);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ev_default_loop(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_unusable_addresses),
        cmocka_unit_test(test_tcp_default_host_and_ipv6),
        cmocka_unit_test(test_tcp_connect_hangs_until_deadline),
        cmocka_unit_test(test_tcp_out_of_memory),
        cmocka_unit_test(test_tcp_no_fd),
        cmocka_unit_test(test_http_request_headers),
        cmocka_unit_test(test_http_out_of_memory_everywhere),
    };
    return cmocka_run_group_tests_name("probe_tcp", tests, NULL, NULL);
}
