/* Socket addresses as users write them ("127.0.0.1:6666", "[::1]:6666",
 * ":6666") and CIDR ranges ("10.0.0.0/8", "fd00::/8", "192.0.2.7"), plus
 * the peer test the admin endpoint uses for its changing routes. Numeric
 * addresses only (plus "localhost"): nothing here resolves names, so nothing
 * here can block. */
#ifndef MESHREG_NETADDR_H
#define MESHREG_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Large enough for "[v6]:port" and for the text form of a CIDR. */
#define NETADDR_STRLEN 64

struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* An IPv4 range is kept as family AF_INET; an IPv4-mapped IPv6 range
 * ("::ffff:10.0.0.0/104") is normalised to the IPv4 range it denotes. */
struct netaddr_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network byte order; 4 bytes used for AF_INET */
    int prefix;             /* 0..32 or 0..128 */
};

/* Parses "HOST:PORT" (IPv4 or "localhost"), "[IPv6]:PORT", or ":PORT"
 * (empty host = 0.0.0.0). PORT is 0..65535. Returns 0, or -1 with err. */
int netaddr_parse(const char *s, struct netaddr *out, char *err, size_t errlen);

/* Writes "1.2.3.4:80" or "[::1]:80" into out (cap >= NETADDR_STRLEN is
 * always enough). Returns out. */
char *netaddr_format(const struct sockaddr *sa, char *out, size_t cap);

int netaddr_port(const struct sockaddr *sa);

/* Opens a non-blocking listening TCP socket on na (SO_REUSEADDR, so a
 * restarted sidecar rebinds while old connections sit in TIME_WAIT; on
 * "[::]" Linux's dual-stack default stays, so IPv4 peers arrive as
 * ::ffff:a.b.c.d). Returns the fd and the port actually bound in *port, or
 * -1 with err prefixed by `label`. */
int netaddr_listen(const struct netaddr *na, const char *label, int *port, char *err,
                   size_t errlen);

/* True for 0.0.0.0 and :: (a listener on every address). */
bool netaddr_is_any(const struct sockaddr *sa);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool netaddr_is_loopback(const struct sockaddr *sa);

/* Parses "ADDR/PREFIX" or a bare address (a host range: /32 or /128).
 * Host bits set below the prefix are refused ("10.0.0.1/8" is a typo more
 * often than not). Returns 0, or -1 with err. */
int netaddr_cidr_parse(const char *s, struct netaddr_cidr *out, char *err, size_t errlen);

/* True when sa lies in the range. An IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d, what a dual-stack listener reports) matches IPv4 ranges. */
bool netaddr_cidr_match(const struct netaddr_cidr *c, const struct sockaddr *sa);

/* The admin endpoint's rule for changing routes: loopback, or inside one of
 * the allow ranges. */
bool netaddr_peer_trusted(const struct sockaddr *sa, const struct netaddr_cidr *allow,
                          size_t nallow);

#endif
