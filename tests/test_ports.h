/* Loopback ports for unit tests that start real servers: a block nobody
 * uses now, so two suites on one machine (a developer's run beside a CI
 * clone) do not collide. Include after <stdbool.h>. */
#ifndef MESHREG_TEST_PORTS_H
#define MESHREG_TEST_PORTS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline bool test_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A base B with B..B+n-1 all free, below the ephemeral port range; `fallback`
 * if none turns up. */
static inline int test_free_block(int n, int fallback)
{
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    for (int tries = 0; tries < 200; tries++) {
        int base = 20000 + rand() % 12000;
        int i = 0;
        while (i < n && test_port_free(base + i))
            i++;
        if (i == n)
            return base;
    }
    return fallback;
}

#endif
