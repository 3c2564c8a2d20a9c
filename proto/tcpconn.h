/* The first step every client of ours takes (http/https/grpc/tcp probes,
 * the etcd backend): a numeric address, a non-blocking socket, a connect
 * that may still be in progress. Names are never resolved here, so nothing
 * can block the loop. */
#ifndef MESHREG_TCPCONN_H
#define MESHREG_TCPCONN_H

#include <sys/socket.h>

/* Fills ss from a numeric IPv4/IPv6 address and a port in 1..65535.
 * Returns the address length, or 0 when host is NULL, not numeric, or the
 * port is out of range. */
socklen_t tcpconn_addr(const char *host, int port, struct sockaddr_storage *ss);

/* Opens a non-blocking, close-on-exec TCP socket and starts connecting.
 * Returns the fd (connected, or EINPROGRESS: wait for writability), or -1
 * with "socket: ..." / "connect: ..." in err and errno the cause. */
int tcpconn_start(const struct sockaddr_storage *ss, socklen_t len, char *err, size_t errlen);

#endif
