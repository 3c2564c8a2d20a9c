/* Shared by the ZooKeeper backend tests (test_reg_zk.c, test_zk_node.c):
 * shell commands run while the loop keeps going, the independent observer
 * (tests/zkwatch.py, kazoo), a loop run until a predicate holds, and a
 * single ZooKeeper server per test binary (scripts/zk-start) on a free port
 * block. Header-only, static inline. Include after cmocka.h, ev.h, jansson.h
 * and sidecar/backend/reg.h. */
#ifndef MESHREG_TEST_ZK_UTIL_H
#define MESHREG_TEST_ZK_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/test_loop_util.h"
#include "tests/test_ports.h"
#include "tests/test_repo.h"
#include "tests/test_sh.h"

static char scripts[PATH_MAX], zkwatch[PATH_MAX + 32];
static char dir_single[64];
static int base_single;
static char hosts_single[64];

static inline double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void find_scripts(void)
{
    if (test_repo_path("scripts/zk-start", X_OK, scripts, sizeof scripts) == 0)
        *strrchr(scripts, '/') = '\0';
    else
        snprintf(scripts, sizeof scripts, "scripts");
    snprintf(zkwatch, sizeof zkwatch, "/usr/bin/python3 %s/../tests/zkwatch.py", scripts);
}

static inline void make_dir(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "%s/meshreg-zk-%s.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
    assert_non_null(mkdtemp(dir));
}

/* ---- the independent observer ---- */

struct znode {
    bool exists;
    int count; /* how many nodes the record has (more than one fails the test) */
    char name[256];
    char path[512];
    char data[512];
    char owner[32];
    long long czxid;
    int version;
};

static inline void znode_fill(struct znode *z, json_t *n)
{
    snprintf(z->name, sizeof z->name, "%s", json_string_value(json_object_get(n, "name")));
    snprintf(z->path, sizeof z->path, "%s", json_string_value(json_object_get(n, "path")));
    snprintf(z->data, sizeof z->data, "%s", json_string_value(json_object_get(n, "data")));
    snprintf(z->owner, sizeof z->owner, "%s",
             json_string_value(json_object_get(n, "ephemeralOwner")));
    z->czxid = json_integer_value(json_object_get(n, "czxid"));
    z->version = (int)json_integer_value(json_object_get(n, "version"));
}

/* The nodes under parent named prefix + 10 digits, read with kazoo: a JSON
 * list (tests/zkwatch.py nodes). loop (if not NULL) runs meanwhile: starting
 * python and kazoo can take longer than a short session timeout on a loaded
 * machine. The caller frees. */
static inline json_t *zk_nodes(struct ev_loop *loop, const char *hosts, const char *parent,
                               const char *prefix)
{
    static char out[256 * 1024];
    char opt[300] = "";
    if (prefix)
        snprintf(opt, sizeof opt, "--prefix '%s'", prefix);
    int rc =
        sh_on(loop, out, sizeof out, "%s --hosts %s nodes '%s' %s", zkwatch, hosts, parent, opt);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j || !json_is_array(j))
        fail_msg("zkwatch nodes: %s: %s", jerr.text, out);
    return j;
}

/* A record's node: "PARENT/PREFIX" names the nodes PREFIX + sequence under
 * PARENT, as the backend creates them. z->exists when there is one; two or
 * more (a duplicate) fail the test. */
static inline void zk_get(struct ev_loop *loop, const char *hosts, const char *rec, struct znode *z)
{
    char parent[512];
    memset(z, 0, sizeof(*z));
    snprintf(parent, sizeof parent, "%s", rec);
    char *slash = strrchr(parent, '/');
    assert_non_null(slash);
    *slash = '\0';
    json_t *j = zk_nodes(loop, hosts, parent, slash + 1);
    z->count = (int)json_array_size(j);
    if (z->count > 1)
        fail_msg("%d nodes for %s: a duplicate", z->count, rec);
    z->exists = z->count == 1;
    if (z->exists)
        znode_fill(z, json_array_get(j, 0));
    json_decref(j);
}

static inline int zk_children(struct ev_loop *loop, const char *hosts, const char *path)
{
    char out[1024];
    assert_int_equal(
        sh_on(loop, out, sizeof out, "%s --hosts %s children '%s'", zkwatch, hosts, path), 0);
    if (strcmp(out, "[]") == 0)
        return 0;
    int n = 1;
    for (char *c = out; *c; c++)
        n += *c == ',';
    return n;
}

/* ---- driving the loop ---- */

/* The longest the loop may go without running our 10 ms timer. A loop
 * blocked in a call to a hung server would wait for the client's receive
 * timeout (2/3 of the session timeout: 667 ms for our shortest, 1 s);
 * scheduling on a loaded machine accounts for ~0.1 s. */
#define STALL_MAX 0.4

static inline bool is_connected(void *arg)
{
    return ((struct reg *)arg)->conn == REG_CONNECTED;
}

static inline bool is_not_connected(void *arg)
{
    return ((struct reg *)arg)->conn != REG_CONNECTED;
}

static inline bool is_settled(void *arg)
{
    return reg_pending(arg) == 0;
}

static inline bool is_connected_and_settled(void *arg)
{
    return is_connected(arg) && is_settled(arg);
}

/* A reg whose backend is on another server than the one it is connected to. */
struct moved {
    struct reg *r;
    char from[64];
};

static inline bool is_connected_elsewhere(void *arg)
{
    struct moved *m = arg;
    return m->r->conn == REG_CONNECTED && strncmp(m->r->conn_detail, m->from, strlen(m->from)) != 0;
}

/* A reg settled on a session other than `from`. */
struct resession {
    struct reg *r;
    const char *from;
};

static inline bool is_settled_on_new_session(void *arg)
{
    struct resession *s = arg;
    char needle[48];
    snprintf(needle, sizeof needle, "session %s,", s->from);
    return s->r->conn == REG_CONNECTED && !strstr(s->r->conn_detail, needle) &&
           reg_pending(s->r) == 0;
}

/* "127.0.0.1:P, session 0x.., timeout N ms" -> "0x.." */
static inline void our_session(const struct reg *r, char *out, size_t len)
{
    const char *s = strstr(r->conn_detail, "session 0x");
    assert_non_null(s);
    snprintf(out, len, "%s", s + 8);
    out[strcspn(out, ",")] = '\0';
}

static inline struct reg *new_reg(struct ev_loop *loop, const char *uri, int ttl)
{
    char err[256] = "";
    struct reg *r = reg_new(loop, uri, ttl, err, sizeof err);
    if (!r)
        fail_msg("reg_new(%s): %s", uri, err);
    assert_int_equal(reg_start(r), 0);
    return r;
}

static inline struct reg *connected_reg(struct ev_loop *loop, const char *uri, int ttl)
{
    struct reg *r = new_reg(loop, uri, ttl);
    if (!run_until(loop, is_connected, r, 10, NULL))
        fail_msg("not connected to %s: %s", uri, r->conn_detail);
    return r;
}

static inline void register_one(struct ev_loop *loop, struct reg *r, const char *svc,
                                const char *node, const char *data)
{
    reg_set(r, svc, node, data);
    if (!run_until(loop, is_settled, r, 10, NULL))
        fail_msg("%s/%s not registered: %s", svc, node, r->last_error);
    assert_true(reg_present(r, svc, node));
}

#define REC(port)                                                                                  \
    "{\"host\":\"10.1.2.3\",\"port\":" #port                                                       \
    ",\"name\":\"h1\",\"weight\":10,\"labels\":{\"region:r1\":\"\"}}"

/* Starts the single server at base (a free block from tests/test_ports.h
 * unless MESHREG_TEST_ZK_BASE is set); 0, or -1 with the reason on stderr. */
static inline int zk_single_setup(int block)
{
    find_scripts();
    const char *b = getenv("MESHREG_TEST_ZK_BASE");
    base_single = b ? atoi(b) : test_free_block(block, 21840);
    make_dir(dir_single, sizeof dir_single, "single");
    if (access("/usr/bin/python3", X_OK) != 0 ||
        sh(NULL, 0, "/usr/bin/python3 -c 'import kazoo'") != 0) {
        fprintf(stderr, "the zk tests need /usr/bin/python3 with kazoo (python3-kazoo)\n");
        return -1;
    }
    if (sh(hosts_single, sizeof hosts_single, "%s/zk-start --port %d %s", scripts, base_single,
           dir_single) != 0) {
        fprintf(stderr, "cannot start ZooKeeper (%s)\n", hosts_single);
        return -1;
    }
    return 0;
}

static inline void zk_single_teardown(void)
{
    sh(NULL, 0, "%s/zk-stop %s", scripts, dir_single);
    sh(NULL, 0, "rm -rf '%s'", dir_single);
}

#endif
