/* A non-blocking loopback listener on an address given as text (IPv4 or IPv6),
 * port chosen by the kernel: the test servers of test_httpc.c and
 * test_h2c_client.c; and what both clients' tests connect to that is no
 * server. Include after <cmocka.h>. */
#ifndef MESHREG_TEST_LISTEN_H
#define MESHREG_TEST_LISTEN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Returns the listening fd; sets *port. */
static inline int test_listen(const char *bind_addr, int backlog, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd;

    memset(&ss, 0, sizeof(ss));
    if (strchr(bind_addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, bind_addr, &a->sin6_addr), 1);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, bind_addr, &a->sin_addr), 1);
        len = sizeof(*a);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A loopback port nobody listens on: bind, read the port, close. */
static inline int test_dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Targets both clients refuse, each with its error: known at start, still
 * reported from the loop. The last one fails in connect() itself (TCP to a
 * multicast address). */
static const struct test_bad_target {
    const char *host;
    int port;
    const char *error;
} test_bad_targets[] = {
    {"localhost", 80, "bad address \"localhost\""}, /* numeric only */
    {NULL, 80, "bad address \"(null)\""},
    {"127.0.0.1", 0, "bad port 0"},
    {"127.0.0.1", 65536, "bad port 65536"},
    {"127.0.0.1", 70000, "bad port 70000"},
    {"224.0.0.1", 80, "connect: Network is unreachable"},
};

#endif
