/* netaddr: "HOST:PORT" parsing, CIDR parsing and matching, the admin
 * endpoint's trusted-peer rule (loopback, v4-mapped v6, allow lists). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/netaddr.h"

static struct sockaddr_storage peer(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(40000);
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(40000);
    }
    return ss;
}

static bool in_cidr(const char *cidr, const char *ip)
{
    struct netaddr_cidr c;
    char err[128];
    struct sockaddr_storage ss = peer(ip);
    assert_int_equal(netaddr_cidr_parse(cidr, &c, err, sizeof(err)), 0);
    return netaddr_cidr_match(&c, (struct sockaddr *)&ss);
}

static void parse_ok(const char *s, const char *want_text)
{
    struct netaddr a;
    char err[128], text[NETADDR_STRLEN];
    int rc = netaddr_parse(s, &a, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: %s", s, err);
    assert_string_equal(netaddr_format((struct sockaddr *)&a.ss, text, sizeof(text)), want_text);
}

static void parse_bad(const char *s, const char *want_in_err)
{
    struct netaddr a;
    char err[128] = "";
    assert_int_equal(netaddr_parse(s, &a, err, sizeof(err)), -1);
    if (strstr(err, want_in_err) == NULL)
        fail_msg("%s: error '%s' lacks '%s'", s, err, want_in_err);
}

static void test_parse_addresses(void **state)
{
    parse_ok("127.0.0.1:6666", "127.0.0.1:6666");
    parse_ok("0.0.0.0:0", "0.0.0.0:0");
    parse_ok(":6666", "0.0.0.0:6666");
    parse_ok("localhost:80", "127.0.0.1:80");
    parse_ok("[::1]:6666", "[::1]:6666");
    parse_ok("[::]:65535", "[::]:65535");
    parse_ok("[::ffff:127.0.0.1]:1", "[::ffff:127.0.0.1]:1");

    struct netaddr a;
    char err[128];
    assert_int_equal(netaddr_parse("[fd00::5]:443", &a, err, sizeof(err)), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(netaddr_port((struct sockaddr *)&a.ss), 443);
    assert_false(netaddr_is_any((struct sockaddr *)&a.ss));
    assert_int_equal(netaddr_parse("0.0.0.0:1", &a, err, sizeof(err)), 0);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_true(netaddr_is_any((struct sockaddr *)&a.ss));
    assert_int_equal(netaddr_parse("[::]:1", &a, err, sizeof(err)), 0);
    assert_true(netaddr_is_any((struct sockaddr *)&a.ss));
}

static void test_parse_errors(void **state)
{
    parse_bad("", "empty");
    parse_bad(NULL, "empty");
    parse_bad("127.0.0.1", "missing :PORT");
    parse_bad("127.0.0.1:", "bad port");
    parse_bad("127.0.0.1:65536", "bad port");
    parse_bad("127.0.0.1:-1", "bad port");
    parse_bad("127.0.0.1:12a", "bad port");
    parse_bad("127.0.0.1:000001", "bad port");
    parse_bad("::1:6666", "brackets");
    parse_bad("[::1]6666", "[IPv6]:PORT");
    parse_bad("[::1", "[IPv6]:PORT");
    parse_bad("[]:1", "bad IPv6");
    parse_bad("[127.0.0.1]:1", "bad IPv6");
    parse_bad("example.com:80", "not resolved");
    parse_bad("256.1.1.1:80", "bad IPv4");
}

static void test_cidr_match(void **state)
{
    assert_true(in_cidr("10.0.0.0/8", "10.200.3.4"));
    assert_false(in_cidr("10.0.0.0/8", "11.0.0.1"));
    assert_true(in_cidr("192.168.1.0/25", "192.168.1.127"));
    assert_false(in_cidr("192.168.1.0/25", "192.168.1.128"));
    assert_true(in_cidr("0.0.0.0/0", "203.0.113.9"));
    assert_false(in_cidr("0.0.0.0/0", "2001:db8::1")); /* families do not mix */
    assert_true(in_cidr("192.0.2.7", "192.0.2.7"));    /* bare address = /32 */
    assert_false(in_cidr("192.0.2.7", "192.0.2.8"));
    assert_true(in_cidr("fd00::/8", "fd12:3456::1"));
    assert_false(in_cidr("fd00::/8", "fe80::1"));
    assert_true(in_cidr("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(in_cidr("2001:db8::/33", "2001:db8:8000::1"));
    assert_true(in_cidr("::/0", "::1"));
    assert_false(in_cidr("::/0", "10.0.0.1"));
}

/* A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d: an IPv4 rule
 * must still match them, and a v4-mapped rule must match plain IPv4 peers. */
static void test_cidr_v4_mapped(void **state)
{
    assert_true(in_cidr("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(in_cidr("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(in_cidr("::ffff:10.0.0.0/104", "10.9.9.9"));
    assert_true(in_cidr("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
    assert_false(in_cidr("::ffff:10.0.0.0/104", "11.9.9.9"));

    struct netaddr_cidr c;
    char err[128];
    assert_int_equal(netaddr_cidr_parse("::ffff:192.0.2.0/120", &c, err, sizeof(err)), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 24);
}

static void test_cidr_errors(void **state)
{
    struct netaddr_cidr c;
    char err[128];
    const char *bad[] = {
        "",           "/8",         "10.0.0.0/",  "10.0.0.0/33", "10.0.0.0/-1",  "10.0.0/8",
        "10.0.0.1/8", "fd00::/129", "fd00::1/64", "x/8",         "10.0.0.0/8/8", "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (netaddr_cidr_parse(bad[i], &c, err, sizeof(err)) != -1)
            fail_msg("accepted bad CIDR '%s'", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(netaddr_cidr_parse("10.0.0.1/8", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "host bits"));
}

static void test_loopback_and_trust(void **state)
{
    const char *loop[] = {"127.0.0.1", "127.255.1.2", "::1", "::ffff:127.0.0.1",
                          "::ffff:127.9.9.9"};
    const char *remote[] = {"10.0.0.1",        "::2",     "::",        "0.0.0.0",
                            "::ffff:10.0.0.1", "fe80::1", "128.0.0.1", "::127.0.0.1"};
    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
        struct sockaddr_storage ss = peer(loop[i]);
        if (!netaddr_is_loopback((struct sockaddr *)&ss))
            fail_msg("%s should be loopback", loop[i]);
        assert_true(netaddr_peer_trusted((struct sockaddr *)&ss, NULL, 0));
    }
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
        struct sockaddr_storage ss = peer(remote[i]);
        if (netaddr_is_loopback((struct sockaddr *)&ss))
            fail_msg("%s should not be loopback", remote[i]);
        assert_false(netaddr_peer_trusted((struct sockaddr *)&ss, NULL, 0));
    }

    struct netaddr_cidr allow[2];
    char err[128];
    assert_int_equal(netaddr_cidr_parse("10.0.0.0/8", &allow[0], err, sizeof(err)), 0);
    assert_int_equal(netaddr_cidr_parse("fd00::/8", &allow[1], err, sizeof(err)), 0);
    struct sockaddr_storage a = peer("10.4.4.4"), b = peer("::ffff:10.4.4.4"), c = peer("fd01::9"),
                            d = peer("192.168.0.1"), e = peer("::1");
    assert_true(netaddr_peer_trusted((struct sockaddr *)&a, allow, 2));
    assert_true(netaddr_peer_trusted((struct sockaddr *)&b, allow, 2));
    assert_true(netaddr_peer_trusted((struct sockaddr *)&c, allow, 2));
    assert_false(netaddr_peer_trusted((struct sockaddr *)&d, allow, 2));
    assert_true(netaddr_peer_trusted((struct sockaddr *)&e, allow, 2));
    /* an allow list never takes loopback away */
    assert_true(netaddr_peer_trusted((struct sockaddr *)&e, allow, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_addresses), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_cidr_match),      cmocka_unit_test(test_cidr_v4_mapped),
        cmocka_unit_test(test_cidr_errors),     cmocka_unit_test(test_loopback_and_trust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
