/* Address and CIDR parsing for the admin endpoint and the `meshreg drain`
 * client. Only numeric forms, so nothing here can block on a resolver. */
#include "proto/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int parse_port(const char *s, size_t len, int *port)
{
    long v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int netaddr_parse(const char *s, struct netaddr *out, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_s;
    size_t host_len;
    bool v6 = false;
    int port;

    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "empty address (want HOST:PORT or [IPv6]:PORT)");
        return -1;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "%s: want [IPv6]:PORT", s);
            return -1;
        }
        host_len = (size_t)(close - s - 1);
        if (host_len == 0 || host_len >= sizeof(host)) {
            snprintf(err, errlen, "%s: bad IPv6 address", s);
            return -1;
        }
        memcpy(host, s + 1, host_len);
        port_s = close + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "%s: missing :PORT", s);
            return -1;
        }
        host_len = (size_t)(colon - s);
        if (memchr(s, ':', host_len) != NULL) {
            snprintf(err, errlen, "%s: an IPv6 address needs brackets: [ADDR]:PORT", s);
            return -1;
        }
        if (host_len >= sizeof(host)) {
            snprintf(err, errlen, "%s: bad address", s);
            return -1;
        }
        memcpy(host, s, host_len);
        port_s = colon + 1;
    }
    host[host_len] = '\0';
    if (parse_port(port_s, strlen(port_s), &port) < 0) {
        snprintf(err, errlen, "%s: bad port (want 0..65535)", s);
        return -1;
    }

    memset(out, 0, sizeof(*out));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, errlen, "%s: bad IPv6 address", s);
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*sin6);
        return 0;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(host, "localhost") == 0) {
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        snprintf(err, errlen, "%s: bad IPv4 address (names are not resolved)", s);
        return -1;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    out->len = sizeof(*sin);
    return 0;
}

char *netaddr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%d", ip, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%d", ip, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, cap, "(family %d)", sa->sa_family);
    }
    return out;
}

int netaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

bool netaddr_is_any(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* Reduces a peer to (family, bytes), turning ::ffff:a.b.c.d into a.b.c.d so
 * that one IPv4 rule covers both kinds of listener. */
static int peer_bytes(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(b, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            memcpy(out, b + 12, 4);
            return AF_INET;
        }
        memcpy(out, b, 16);
        return AF_INET6;
    }
    return -1;
}

bool netaddr_is_loopback(const struct sockaddr *sa)
{
    static const unsigned char v6_loopback[16] = {[15] = 1};
    unsigned char b[16];
    int fam = peer_bytes(sa, b);

    if (fam == AF_INET)
        return b[0] == 127;
    if (fam == AF_INET6)
        return memcmp(b, v6_loopback, 16) == 0;
    return false;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int netaddr_cidr_parse(const char *s, struct netaddr_cidr *out, char *err, size_t errlen)
{
    char ip[INET6_ADDRSTRLEN + 1];
    const char *slash = s ? strchr(s, '/') : NULL;
    size_t ip_len;
    int prefix = -1, max;

    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "empty CIDR");
        return -1;
    }
    ip_len = slash ? (size_t)(slash - s) : strlen(s);
    if (ip_len == 0 || ip_len >= sizeof(ip)) {
        snprintf(err, errlen, "%s: bad CIDR (want ADDR/PREFIX)", s);
        return -1;
    }
    memcpy(ip, s, ip_len);
    ip[ip_len] = '\0';

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen, "%s: bad address in CIDR", s);
        return -1;
    }
    if (slash) {
        if (parse_port(slash + 1, strlen(slash + 1), &prefix) < 0 || prefix > max ||
            strlen(slash + 1) > 3) {
            snprintf(err, errlen, "%s: bad prefix length (want 0..%d)", s, max);
            return -1;
        }
    } else {
        prefix = max;
    }
    out->prefix = prefix;

    /* Host bits under the mask would silently widen or narrow what the user
     * meant; refuse them like most firewalls do. */
    unsigned char masked[16];
    memcpy(masked, out->addr, 16);
    for (int bit = prefix; bit < max; bit++)
        masked[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
    if (memcmp(masked, out->addr, 16) != 0) {
        snprintf(err, errlen, "%s: host bits set below the /%d prefix", s, prefix);
        return -1;
    }

    if (out->family == AF_INET6 && prefix >= 96 &&
        memcmp(out->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        out->prefix = prefix - 96;
    }
    return 0;
}

bool netaddr_cidr_match(const struct netaddr_cidr *c, const struct sockaddr *sa)
{
    unsigned char b[16];
    int fam = peer_bytes(sa, b);

    if (fam != c->family)
        return false;
    return prefix_equal(b, c->addr, c->prefix);
}

bool netaddr_peer_trusted(const struct sockaddr *sa, const struct netaddr_cidr *allow,
                          size_t nallow)
{
    if (netaddr_is_loopback(sa))
        return true;
    for (size_t i = 0; i < nallow; i++)
        if (netaddr_cidr_match(&allow[i], sa))
            return true;
    return false;
}

int netaddr_listen(const struct netaddr *na, const char *label, int *port, char *err, size_t errlen)
{
    int one = 1;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    const char *step = "socket";
    int fd = socket(na->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    step = "bind";
    if (bind(fd, (const struct sockaddr *)&na->ss, na->len) < 0)
        goto fail;
    step = "listen";
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    step = "getsockname";
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
        goto fail;
    *port = netaddr_port((const struct sockaddr *)&bound);
    return fd;
fail:
    snprintf(err, errlen, "%s: %s: %s", label, step, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}
