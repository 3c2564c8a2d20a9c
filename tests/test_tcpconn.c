/* proto/tcpconn: numeric addresses only, and a connect that never blocks,
 * against real sockets: a loopback listener, a closed port, a multicast
 * address the kernel refuses for TCP at once, and a process out of file
 * descriptors. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/tcpconn.h"

static void test_addr_ipv4(void **state)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    char buf[INET_ADDRSTRLEN];

    assert_int_equal(tcpconn_addr("127.0.0.1", 8080, &ss), sizeof(struct sockaddr_in));
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
    assert_string_equal(buf, "127.0.0.1");
    /* the port range's two ends */
    assert_int_equal(tcpconn_addr("10.1.2.3", 1, &ss), sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(sin->sin_port), 1);
    assert_int_equal(tcpconn_addr("10.1.2.3", 65535, &ss), sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(sin->sin_port), 65535);
}

static void test_addr_ipv6(void **state)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    char buf[INET6_ADDRSTRLEN];

    assert_int_equal(tcpconn_addr("::1", 443, &ss), sizeof(struct sockaddr_in6));
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 443);
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
    assert_string_equal(buf, "::1");
    assert_int_equal(tcpconn_addr("fe80::1:2", 9, &ss), sizeof(struct sockaddr_in6));
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
    assert_string_equal(buf, "fe80::1:2");
}

static void test_addr_rejects(void **state)
{
    struct sockaddr_storage ss;
    static const char *const hosts[] = {"localhost", "", "1.2.3", "1.2.3.4.5", "[::1]",
                                        "::1%lo",    " 127.0.0.1", "127.0.0.1 ", "::g"};

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        memset(&ss, 0xab, sizeof(ss));
        if (tcpconn_addr(hosts[i], 80, &ss) != 0)
            fail_msg("\"%s\" accepted", hosts[i]);
        /* nothing half-filled is left behind */
        assert_int_equal(ss.ss_family, 0);
    }
    assert_int_equal(tcpconn_addr(NULL, 80, &ss), 0);
    assert_int_equal(tcpconn_addr("127.0.0.1", 0, &ss), 0);
    assert_int_equal(tcpconn_addr("127.0.0.1", -1, &ss), 0);
    assert_int_equal(tcpconn_addr("127.0.0.1", 65536, &ss), 0);
    assert_int_equal(tcpconn_addr("::1", 65536, &ss), 0);
}

/* Waits (generously) until fd is writable: the connect's outcome. */
static void wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};

    assert_int_equal(poll(&p, 1, 10000), 1);
}

static void test_start_connects(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    struct sockaddr_storage ss;
    char err[128] = "";
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int fd, afd, soerr = -1;
    socklen_t sl = sizeof(soerr);
    char got[8];

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, alen), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    socklen_t len = tcpconn_addr("127.0.0.1", ntohs(a.sin_port), &ss);
    assert_true(len > 0);
    fd = tcpconn_start(&ss, len, err, sizeof(err));
    assert_true(fd >= 0);
    assert_string_equal(err, "");
    /* non-blocking and close-on-exec, as promised */
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    wait_writable(fd);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
    assert_int_equal(soerr, 0);
    /* really connected to our listener: bytes go through */
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    assert_int_equal(send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    assert_int_equal(recv(afd, got, 4, MSG_WAITALL), 4);
    assert_memory_equal(got, "ping", 4);
    close(afd);
    close(fd);
    close(lfd);
}

/* A closed port: the socket is still returned (the refusal arrives as the
 * connect's outcome, never by blocking here). */
static void test_start_refused_async(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    struct sockaddr_storage ss;
    char err[128] = "";
    int tmp = socket(AF_INET, SOCK_STREAM, 0), fd, soerr = 0;
    socklen_t sl = sizeof(soerr);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(tmp, (struct sockaddr *)&a, alen), 0);
    assert_int_equal(getsockname(tmp, (struct sockaddr *)&a, &alen), 0);
    close(tmp); /* nobody listens there now */
    socklen_t len = tcpconn_addr("127.0.0.1", ntohs(a.sin_port), &ss);
    fd = tcpconn_start(&ss, len, err, sizeof(err));
    if (fd < 0) {
        /* Some kernels refuse a loopback connect synchronously. */
        assert_string_equal(err, "connect: Connection refused");
        return;
    }
    wait_writable(fd);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
    assert_int_equal(soerr, ECONNREFUSED);
    close(fd);
}

/* TCP to a multicast address is refused by the kernel inside connect():
 * the immediate failure path, with the socket closed again. */
static void test_start_connect_fails_at_once(void **state)
{
    static const char *const hosts[] = {"224.0.0.1", "ff02::1"};

    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_storage ss;
        char err[128] = "";
        socklen_t len = tcpconn_addr(hosts[i], 80, &ss);
        int probe, fd;

        assert_true(len > 0);
        /* the lowest free fd now: tcpconn_start must leave it free */
        probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(probe >= 0);
        close(probe);
        fd = tcpconn_start(&ss, len, err, sizeof(err));
        if (fd < 0 && ss.ss_family == AF_INET6 && strncmp(err, "socket: ", 8) == 0)
            continue; /* no IPv6 in this environment */
        assert_int_equal(fd, -1);
        assert_string_equal(err, "connect: Network is unreachable");
        assert_int_equal(fcntl(probe, F_GETFD), -1); /* not leaked */
        assert_int_equal(errno, EBADF);
    }
}

/* Out of file descriptors: "socket: ..." and nothing else happens. */
static void test_start_socket_fails(void **state)
{
    struct rlimit old, low;
    struct sockaddr_storage ss;
    char err[128] = "";
    socklen_t len = tcpconn_addr("127.0.0.1", 9, &ss);
    int next = open("/dev/null", O_RDONLY | O_CLOEXEC), fd; /* the lowest free one */

    assert_true(next >= 0);
    close(next);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)next; /* fds 0..next-1 only: the next one fails */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    fd = tcpconn_start(&ss, len, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(fd, -1);
    assert_string_equal(err, "socket: Too many open files");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_ipv4),
        cmocka_unit_test(test_addr_ipv6),
        cmocka_unit_test(test_addr_rejects),
        cmocka_unit_test(test_start_connects),
        cmocka_unit_test(test_start_refused_async),
        cmocka_unit_test(test_start_connect_fails_at_once),
        cmocka_unit_test(test_start_socket_fails),
    };
    return cmocka_run_group_tests_name("tcpconn", tests, NULL, NULL);
}
