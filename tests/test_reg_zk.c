/* struct reg with the zk backend against a REAL ZooKeeper (scripts/zk-start),
 * checked with an independent client (tests/zkwatch.py, kazoo) rather than
 * with our own. Ports: a free block of 50 (tests/test_ports.h): a single
 * server at its base, a server that starts late at +20, a 3-member ensemble
 * at +40..+48; MESHREG_TEST_ZK_BASE sets the base. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sidecar/backend/reg.h"
#include "tests/test_ports.h"

static char scripts[PATH_MAX], zkwatch[PATH_MAX + 32];
static char dir_single[64], dir_late[64], dir_ens[64];
static int base_single, base_late, base_ens;
static char hosts_single[64];

struct sh_out {
    char *buf;
    size_t len, cap;
    bool eof;
};

static void sh_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sh_out *o = w->data;
    char tmp[4096];
    ssize_t n = read(w->fd, tmp, sizeof tmp);
    if (n > 0) {
        size_t take = (size_t)n < o->cap - 1 - o->len ? (size_t)n : o->cap - 1 - o->len;
        memcpy(o->buf + o->len, tmp, take);
        o->len += take;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        o->eof = true;
        ev_io_stop(loop, w);
        ev_break(loop, EVBREAK_ONE);
    }
}

/* Runs a shell command; its stdout (trimmed) goes to out. Returns the exit
 * status, -1 if it did not exit normally. With a loop, the loop keeps
 * running until the command is done: a session with a short timeout keeps
 * pinging while a (slow to start) observer looks at ZooKeeper. */
static int sh_on(struct ev_loop *loop, char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int sh_on(struct ev_loop *loop, char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048], scratch[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!out) {
        out = scratch;
        outlen = sizeof scratch;
    }
    size_t n = 0;
    if (loop) {
        struct sh_out o = {.buf = out, .cap = outlen};
        ev_io w;
        int fd = fileno(p);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ev_io_init(&w, sh_read_cb, fd, EV_READ);
        w.data = &o;
        ev_io_start(loop, &w);
        while (!o.eof)
            ev_run(loop, EVRUN_ONCE);
        ev_io_stop(loop, &w);
        n = o.len;
    } else {
        for (;;) {
            size_t got = fread(out + n, 1, outlen - 1 - n, p);
            n += got;
            if (got == 0 || n == outlen - 1)
                break;
        }
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    char drain[256];
    while (fread(drain, 1, sizeof drain, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define sh(...) sh_on(NULL, __VA_ARGS__)

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void find_scripts(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    snprintf(scripts, sizeof scripts, "scripts");
    if (n > 0) {
        exe[n] = '\0';
        for (char *slash; (slash = strrchr(exe, '/')) != NULL;) {
            *slash = '\0';
            char probe[PATH_MAX + 32];
            snprintf(probe, sizeof probe, "%s/scripts/zk-start", exe);
            if (access(probe, X_OK) == 0) {
                snprintf(scripts, sizeof scripts, "%s/scripts", exe);
                break;
            }
        }
    }
    snprintf(zkwatch, sizeof zkwatch, "/usr/bin/python3 %s/../tests/zkwatch.py", scripts);
}

static void make_dir(char *dir, size_t len, const char *tag)
{
    snprintf(dir, len, "%s/meshreg-zk-%s.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
    assert_non_null(mkdtemp(dir));
}

/* ---- the independent observer ---- */

struct znode {
    bool exists;
    char data[512];
    char owner[32];
    long long czxid;
    int version;
};

/* Reads a node with kazoo. The JSON is flat and ours, so a little scanning
 * does. loop (if not NULL) runs meanwhile: starting python and kazoo can
 * take longer than a short session timeout on a loaded machine. */
static void zk_get(struct ev_loop *loop, const char *hosts, const char *path, struct znode *z)
{
    char out[1024];
    memset(z, 0, sizeof(*z));
    int rc = sh_on(loop, out, sizeof out, "%s --hosts %s get '%s'", zkwatch, hosts, path);
    assert_true(rc == 0 || rc == 3);
    z->exists = rc == 0;
    if (!z->exists)
        return;
    /* {"czxid": N, "data": "...", "ephemeralOwner": "0x..", "exists": true, "version": N} */
    char *p = strstr(out, "\"czxid\": ");
    assert_non_null(p);
    z->czxid = atoll(p + 9);
    p = strstr(out, "\"version\": ");
    assert_non_null(p);
    z->version = atoi(p + 11);
    p = strstr(out, "\"ephemeralOwner\": \"");
    assert_non_null(p);
    sscanf(p + 19, "%31[0-9a-fx]", z->owner);
    /* data: a JSON string; our records hold \" escaped by json.dumps. */
    p = strstr(out, "\"data\": \"");
    assert_non_null(p);
    p += 9;
    size_t n = 0;
    while (*p && *p != '"' && n < sizeof z->data - 1) {
        if (*p == '\\' && p[1])
            p++;
        z->data[n++] = *p++;
    }
    z->data[n] = '\0';
}

static int zk_children(struct ev_loop *loop, const char *hosts, const char *path)
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

/* Waits until every thread of pid is stopped (kill -STOP only asks; a
 * server may still answer a request meanwhile). */
static void wait_stopped(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    double end = mono() + 20;
    for (;;) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        bool all = true;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[300], line[512];
            snprintf(path, sizeof path, "%s/%s/stat", dir, de->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue; /* the thread exited */
            char *rp = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
            fclose(f);
            if (rp && rp[1] == ' ' && rp[2] != 'T' && rp[2] != 't')
                all = false;
        }
        closedir(d);
        if (all)
            return;
        if (mono() > end)
            fail_msg("process %d did not stop", (int)pid);
        usleep(10 * 1000);
    }
}

/* ---- driving the loop ---- */

/* The longest the loop may go without running our 10 ms timer. A loop
 * blocked in a call to a hung server would wait for the client's receive
 * timeout (2/3 of the session timeout: 667 ms for our shortest, 1 s);
 * scheduling on a loaded machine accounts for ~0.1 s. */
#define STALL_MAX 0.4

struct waiter {
    bool (*pred)(void *);
    void *arg;
    ev_timer poll, limit;
    bool timed_out;
    double max_gap, last;
};

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct waiter *wt = w->data;
    double now = mono();
    if (now - wt->last > wt->max_gap)
        wt->max_gap = now - wt->last;
    wt->last = now;
    if (wt->pred && wt->pred(wt->arg))
        ev_break(loop, EVBREAK_ONE);
}

static void limit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct waiter *wt = w->data;
    wt->timed_out = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until pred(arg) or timeout seconds; returns whether pred
 * became true. *max_gap (if given) is the longest the loop went without
 * running our 10 ms timer: the loop never blocked if it stays small. */
static bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, double timeout,
                      double *max_gap)
{
    struct waiter wt = {.pred = pred, .arg = arg, .last = mono()};
    if (pred && pred(arg))
        return true;
    ev_now_update(loop);
    ev_timer_init(&wt.poll, poll_cb, 0.01, 0.01);
    ev_timer_init(&wt.limit, limit_cb, timeout, 0);
    wt.poll.data = wt.limit.data = &wt;
    ev_timer_start(loop, &wt.poll);
    ev_timer_start(loop, &wt.limit);
    ev_run(loop, 0);
    ev_timer_stop(loop, &wt.poll);
    ev_timer_stop(loop, &wt.limit);
    if (max_gap)
        *max_gap = wt.max_gap;
    return pred ? pred(arg) : !wt.timed_out;
}

static bool is_connected(void *arg)
{
    return ((struct reg *)arg)->conn == REG_CONNECTED;
}

static bool is_not_connected(void *arg)
{
    return ((struct reg *)arg)->conn != REG_CONNECTED;
}

static bool is_settled(void *arg)
{
    return reg_pending(arg) == 0;
}

static bool is_connected_and_settled(void *arg)
{
    return is_connected(arg) && is_settled(arg);
}

/* A reg whose backend is on another server than the one it is connected to. */
struct moved {
    struct reg *r;
    char from[64];
};

static bool is_connected_elsewhere(void *arg)
{
    struct moved *m = arg;
    return m->r->conn == REG_CONNECTED && strncmp(m->r->conn_detail, m->from, strlen(m->from)) != 0;
}

/* A reg settled on a session other than `from`. */
struct resession {
    struct reg *r;
    const char *from;
};

static bool is_settled_on_new_session(void *arg)
{
    struct resession *s = arg;
    char needle[48];
    snprintf(needle, sizeof needle, "session %s,", s->from);
    return s->r->conn == REG_CONNECTED && !strstr(s->r->conn_detail, needle) &&
           reg_pending(s->r) == 0;
}

/* "127.0.0.1:P, session 0x.., timeout N ms" -> "0x.." */
static void our_session(const struct reg *r, char *out, size_t len)
{
    const char *s = strstr(r->conn_detail, "session 0x");
    assert_non_null(s);
    snprintf(out, len, "%s", s + 8);
    out[strcspn(out, ",")] = '\0';
}

static struct reg *new_reg(struct ev_loop *loop, const char *uri, int ttl)
{
    char err[256] = "";
    struct reg *r = reg_new(loop, uri, ttl, err, sizeof err);
    if (!r)
        fail_msg("reg_new(%s): %s", uri, err);
    assert_int_equal(reg_start(r), 0);
    return r;
}

static struct reg *connected_reg(struct ev_loop *loop, const char *uri, int ttl)
{
    struct reg *r = new_reg(loop, uri, ttl);
    if (!run_until(loop, is_connected, r, 10, NULL))
        fail_msg("not connected to %s: %s", uri, r->conn_detail);
    return r;
}

static void register_one(struct ev_loop *loop, struct reg *r, const char *svc, const char *node,
                         const char *data)
{
    reg_set(r, svc, node, data);
    if (!run_until(loop, is_settled, r, 10, NULL))
        fail_msg("%s/%s not registered: %s", svc, node, r->last_error);
    assert_true(reg_present(r, svc, node));
}

#define REC(port)                                                                                  \
    "{\"host\":\"10.1.2.3\",\"port\":" #port                                                       \
    ",\"name\":\"h1\",\"weight\":10,\"labels\":{\"region:r1\":\"\"}}"

/* ---- tests ---- */

static void test_uri(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    const char *bad[] = {
        "zk:127.0.0.1:2181", "zk://",
        "zk:///root",        "zk://127.0.0.1",
        "zk://127.0.0.1:0",  "zk://127.0.0.1:65536",
        "zk://h:1,h/x",      "zk://h:1/a//b",
        "zk://h:1/a/../b",   "zk://h:1/a/./b",
        "zk://h:1:x/a",      "zk://h:123456/a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        struct reg *r = reg_new(loop, bad[i], 10, err, sizeof err);
        if (r)
            fail_msg("%s accepted", bad[i]);
        assert_non_null(strstr(err, "zk://HOST:PORT"));
    }
    const char *good[] = {"zk://127.0.0.1:2181", "zk://a:1,b:2,c:3/x/y/", "zk://[::1]:2181/r"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[256] = "";
        struct reg *r = reg_new(loop, good[i], 10, err, sizeof err);
        if (!r)
            fail_msg("%s rejected: %s", good[i], err);
        reg_free(r);
    }
    ev_loop_destroy(loop);
}

/* Default root; exact data; ephemeral and owned by our session; an update is
 * a setData on the same node; a delete removes it, and is measured. */
static void test_register_update_delete(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32];
    snprintf(uri, sizeof uri, "zk://%s", hosts_single);
    struct reg *r = connected_reg(loop, uri, 10);
    assert_non_null(strstr(r->conn_detail, "timeout 10000 ms"));
    our_session(r, sess, sizeof sess);

    const char *path = "/smartstack/global/svc.main/h1_8888";
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z;
    zk_get(loop, hosts_single, path, &z);
    assert_true(z.exists);
    assert_string_equal(z.data, REC(8888));
    assert_string_equal(z.owner, sess);
    assert_int_equal(zk_children(loop, hosts_single, "/smartstack/global/svc.main"), 1);

    register_one(loop, r, "svc.main", "h1_8888", REC(9999));
    struct znode z2;
    zk_get(loop, hosts_single, path, &z2);
    assert_string_equal(z2.data, REC(9999));
    assert_int_equal(z2.czxid, z.czxid); /* the same node, not a new one */
    assert_int_equal(z2.version, z.version + 1);

    double t0 = mono();
    reg_set(r, "svc.main", "h1_8888", NULL);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    double ms = (mono() - t0) * 1000;
    print_message("# zk delete confirmed in %.2f ms\n", ms);
    assert_true(ms < 200);
    zk_get(loop, hosts_single, path, &z);
    assert_false(z.exists);
    assert_int_equal(zk_children(loop, hosts_single, "/smartstack/global/svc.main"), 0);
    assert_int_equal(r->ops_failed, 0);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* A retried create of a node that already exists: ours (a lost reply) is
 * kept as is; another session's (an earlier run's leftover) is replaced. */
static void test_existing_node(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32], out[64];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/existing", hosts_single);
    const char *path = "/meshreg-test/existing/svc.main/h1_8888";

    /* Another session holds a node with our name (and old data). */
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/hold.pid", dir_single);
    assert_int_equal(
        sh(out, sizeof out,
           "%s --hosts %s hold '%s' old >%s/hold.out 2>&1 & echo $! >%s; "
           "for i in $(seq 100); do grep -q 0x %s/hold.out && break; sleep 0.05; done; "
           "cat %s/hold.out",
           zkwatch, hosts_single, path, dir_single, pidfile, dir_single, dir_single),
        0);
    assert_non_null(strstr(out, "0x"));
    struct znode z;
    zk_get(loop, hosts_single, path, &z);
    assert_true(z.exists);
    assert_string_equal(z.data, "old");

    struct reg *r = connected_reg(loop, uri, 10);
    our_session(r, sess, sizeof sess);
    assert_string_not_equal(z.owner, sess);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    zk_get(loop, hosts_single, path, &z);
    assert_string_equal(z.owner, sess);
    assert_string_equal(z.data, REC(8888));
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/existing/svc.main"), 1);

    /* Our own node: a re-put (what follows a lost create reply) changes nothing. */
    reg_resync(r);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    struct znode z2;
    zk_get(loop, hosts_single, path, &z2);
    assert_int_equal(z2.czxid, z.czxid);
    assert_int_equal(z2.version, z.version);
    assert_int_equal(r->ops_failed, 0);

    sh(NULL, 0, "kill $(cat %s) 2>/dev/null; sleep 0.3", pidfile);
    zk_get(loop, hosts_single, path, &z2);
    assert_true(z2.exists); /* the old session ending does not take our node */
    reg_free(r);
    ev_loop_destroy(loop);
}

/* A delete of an absent node is a success (reg_clear at start-up). */
static void test_delete_absent(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/absent", hosts_single);
    struct reg *r = connected_reg(loop, uri, 10);
    reg_clear(r, "svc.main", "h1_1");
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    assert_int_equal(r->ops_failed, 0);
    assert_false(reg_present(r, "svc.main", "h1_1"));
    reg_free(r);
    ev_loop_destroy(loop);
}

/* reg_stop closes the session: whatever is still registered vanishes at once. */
static void test_stop_closes_session(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/stop", hosts_single);
    struct reg *r = connected_reg(loop, uri, 30);
    register_one(loop, r, "svc.main", "h1_1", REC(1));
    register_one(loop, r, "svc.canary", "h1_2", REC(2));
    double t0 = mono();
    reg_stop(r);
    double ms = (mono() - t0) * 1000;
    print_message("# zk session close took %.2f ms\n", ms);
    assert_true(ms < 500);
    struct znode z;
    zk_get(loop, hosts_single, "/meshreg-test/stop/svc.main/h1_1", &z);
    assert_false(z.exists);
    zk_get(loop, hosts_single, "/meshreg-test/stop/svc.canary/h1_2", &z);
    assert_false(z.exists);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* Freeing with operations in flight: their completions must not touch
 * freed entries (run under ASan in `make test`), and no node outlives its
 * session. It goes at once when the close request gets through; but
 * libzookeeper's close waits for any reply, not the close's, so with
 * replies in flight it may close the socket (a reset, as replies are left
 * unread) before the server read the close: then the node goes when the
 * session times out. Seen often on a loaded machine under ASan. */
static void test_free_with_inflight(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    enum { TTL = 4 };
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/inflight", hosts_single);
    for (int i = 0; i < 3; i++) {
        struct reg *r = connected_reg(loop, uri, TTL);
        char node[32];
        for (int j = 0; j < 20; j++) {
            snprintf(node, sizeof node, "h%d_%d", i, j);
            reg_set(r, "svc.main", node, REC(1));
        }
        if (i == 1)
            ev_run(loop, EVRUN_NOWAIT); /* some replies in, some not */
        if (i == 2) {
            reg_set(r, "svc.main", "h2_0", NULL); /* a delete queued behind its put */
            reg_set(r, "svc.main", "h2_1", REC(2));
        }
        reg_free(r);
    }
    const char *dir = "/meshreg-test/inflight/svc.main";
    double t0 = mono();
    int n0 = zk_children(loop, hosts_single, dir), n = n0;
    while (n > 0 && mono() - t0 < 3 * TTL)
        n = zk_children(loop, hosts_single, dir);
    if (n0 > 0)
        print_message("# %d nodes were left after free; gone %.1f s later\n", n0, mono() - t0);
    assert_int_equal(n, 0);
    ev_loop_destroy(loop);
}

/* ZooKeeper restarted within the session timeout: the session and its node
 * survive; a watcher sees no delete or re-create; one node afterwards. */
static void test_restart_within_timeout(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], out[256];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/restart", hosts_single);
    const char *path = "/meshreg-test/restart/svc.main/h1_8888";
    struct reg *r = connected_reg(loop, uri, 8);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z1;
    zk_get(loop, hosts_single, path, &z0);

    assert_int_equal(
        sh(NULL, 0,
           "%s --hosts %s watch '%s' >%s/restart.watch 2>&1 & echo $! >%s/watch.pid; "
           "for i in $(seq 100); do grep -q present %s/restart.watch && break; sleep 0.05; done",
           zkwatch, hosts_single, path, dir_single, dir_single, dir_single),
        0);
    assert_int_equal(sh(NULL, 0, "%s/zk-stop %s", scripts, dir_single), 0);
    double gap = 0;
    assert_true(run_until(loop, is_not_connected, r, 5, NULL));
    assert_int_equal(r->conn, REG_DISCONNECTED);
    run_until(loop, NULL, NULL, 0.5, &gap);
    assert_true(gap < STALL_MAX); /* reconnect attempts never block the loop */
    assert_true(reg_present(r, "svc.main", "h1_8888")); /* a blip is not a deregistration */
    assert_int_equal(sh(NULL, 0, "%s/zk-start %s", scripts, dir_single), 0);
    assert_true(run_until(loop, is_connected, r, 5, NULL));
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    assert_true(reg_present(r, "svc.main", "h1_8888"));
    zk_get(loop, hosts_single, path, &z1);
    assert_true(z1.exists);
    assert_int_equal(z1.czxid, z0.czxid);
    assert_string_equal(z1.owner, z0.owner);
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/restart/svc.main"), 1);
    sh(out, sizeof out,
       "sleep 0.5; kill $(cat %s/watch.pid); sleep 0.2; grep -c -E ' "
       "(deleted|recreated|created|absent) ' %s/restart.watch",
       dir_single, dir_single);
    assert_string_equal(out, "0");
    reg_free(r);
    ev_loop_destroy(loop);
}

/* The session expires (we stall longer than its timeout, like a long GC
 * pause): the server drops the node; we open a new session and re-create it. */
static void test_expiry_recreates(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess0[32], sess1[32];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/expiry", hosts_single);
    const char *path = "/meshreg-test/expiry/svc.main/h1_8888";
    struct reg *r = connected_reg(loop, uri, 1);
    our_session(r, sess0, sizeof sess0);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z;
    zk_get(loop, hosts_single, path, &z0);
    assert_true(z0.exists);

    /* Stall: the loop does not run, so nothing pings, until the server
     * has expired the session and dropped the node. ZooKeeper does that
     * one session timeout (plus a tick) after our last ping; the deadline
     * is 30 timeouts, for a JVM on a loaded machine. */
    const char *tp = strstr(r->conn_detail, "timeout ");
    assert_non_null(tp);
    double timeout_s = atoi(tp + 8) / 1000.0;
    assert_true(timeout_s > 0);
    double stall0 = mono();
    do {
        usleep(100 * 1000);
        zk_get(NULL, hosts_single, path, &z); /* the loop must not run */
    } while (z.exists && mono() - stall0 < 30 * timeout_s);
    assert_false(z.exists);
    print_message("# zk dropped the node %.0f ms into the stall (session timeout %.0f ms)\n",
                  (mono() - stall0) * 1000, timeout_s * 1000);

    double t0 = mono();
    struct resession rs = {.r = r, .from = sess0};
    assert_true(run_until(loop, is_settled_on_new_session, &rs, 30, NULL));
    print_message("# zk re-registered %.0f ms after the loop resumed\n", (mono() - t0) * 1000);
    our_session(r, sess1, sizeof sess1);
    assert_string_not_equal(sess0, sess1);
    zk_get(loop, hosts_single, path, &z);
    assert_true(z.exists);
    assert_string_equal(z.owner, sess1);
    assert_string_equal(z.data, REC(8888));
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/expiry/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* ZooKeeper down for longer than the session timeout, then back: one node,
 * owned by the session we hold then, with our data. (ZooKeeper restores
 * sessions from its log with a fresh timeout, so the session may survive;
 * either way the end state must be the same.) */
static void test_down_longer_than_timeout(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], sess[32];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/longdown", hosts_single);
    const char *path = "/meshreg-test/longdown/svc.main/h1_8888";
    struct reg *r = connected_reg(loop, uri, 1);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    assert_int_equal(sh(NULL, 0, "%s/zk-stop %s", scripts, dir_single), 0);
    double gap = 0;
    run_until(loop, NULL, NULL, 2.0, &gap);
    assert_true(gap < STALL_MAX);
    assert_int_not_equal(r->conn, REG_CONNECTED);
    assert_non_null(strstr(r->conn_detail, hosts_single));
    assert_int_equal(sh(NULL, 0, "%s/zk-start %s", scripts, dir_single), 0);
    /* Whether the restored session survives or expires after we resumed
     * it (then we open another and re-create the node) depends on timing:
     * wait for the end state, checked while connected and settled. */
    struct znode z;
    double end = mono() + 30;
    for (;;) {
        if (!run_until(loop, is_connected_and_settled, r, 30, NULL))
            fail_msg("not settled: %s", r->conn_detail);
        our_session(r, sess, sizeof sess);
        zk_get(loop, hosts_single, path, &z);
        if (z.exists && strcmp(z.owner, sess) == 0)
            break;
        if (mono() > end)
            fail_msg("node %s, owner %s, our session %s", z.exists ? "present" : "absent", z.owner,
                     sess);
    }
    assert_string_equal(z.data, REC(8888));
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/longdown/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* A hung server (SIGSTOP) never blocks the loop; once it resumes, the
 * registration converges. */
static void test_hung_server_never_blocks(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/hung", hosts_single);
    struct reg *r = connected_reg(loop, uri, 4);
    char pid[32];
    assert_int_equal(sh(pid, sizeof pid, "cat %s/zk1.pid", dir_single), 0);
    assert_int_equal(kill(atoi(pid), SIGSTOP), 0);
    wait_stopped(atoi(pid));
    reg_set(r, "svc.main", "h1_1", REC(1));
    double gap = 0;
    run_until(loop, NULL, NULL, 3.5, &gap);
    print_message("# longest loop stall with a hung ZooKeeper: %.1f ms\n", gap * 1000);
    assert_true(gap < STALL_MAX);
    assert_false(reg_present(r, "svc.main", "h1_1"));
    assert_int_equal(sh(NULL, 0, "kill -CONT $(cat %s/zk1.pid)", dir_single), 0);
    assert_true(run_until(loop, is_settled, r, 10, NULL));
    struct znode z;
    zk_get(loop, hosts_single, "/meshreg-test/hung/svc.main/h1_1", &z);
    assert_true(z.exists);
    assert_int_equal(zk_children(loop, hosts_single, "/meshreg-test/hung/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
}

/* ZooKeeper not running at start: the loop runs, state says why, and the
 * record is in within a second of the server coming up. */
static void test_start_before_server(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[128], hosts[64];
    snprintf(hosts, sizeof hosts, "127.0.0.1:%d", base_late);
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/late", hosts);
    struct reg *r = new_reg(loop, uri, 10);
    reg_set(r, "svc.main", "h1_8888", REC(8888));
    double gap = 0;
    run_until(loop, NULL, NULL, 1.0, &gap);
    assert_true(gap < STALL_MAX);
    assert_int_equal(r->conn, REG_CONNECTING);
    assert_non_null(strstr(r->conn_detail, "connecting to"));
    print_message("# while down: %s\n", r->conn_detail);
    assert_int_equal(reg_pending(r), 1);
    char out[128];
    assert_int_equal(sh(out, sizeof out, "%s/zk-start --port %d %s", scripts, base_late, dir_late),
                     0);
    assert_string_equal(out, hosts);
    double t0 = mono();
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    double ms = (mono() - t0) * 1000;
    print_message("# registered %.0f ms after zk-start returned\n", ms);
    assert_true(ms < 1000);
    struct znode z;
    zk_get(loop, hosts, "/meshreg-test/late/svc.main/h1_8888", &z);
    assert_true(z.exists);
    assert_string_equal(z.data, REC(8888));
    reg_free(r);
    ev_loop_destroy(loop);
    sh(NULL, 0, "%s/zk-stop %s", scripts, dir_late);
}

/* SIGKILL: the node goes when the session times out, not before. */
static void test_killed_process_node_expires(void **state)
{
    char uri[128];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/killed", hosts_single);
    const char *path = "/meshreg-test/killed/svc.main/h1_8888";
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        char err[256];
        struct reg *r = reg_new(loop, uri, 2, err, sizeof err);
        if (!r || reg_start(r) != 0)
            _exit(1);
        reg_set(r, "svc.main", "h1_8888", REC(8888));
        if (!run_until(loop, is_settled, r, 10, NULL))
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            ev_run(loop, 0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    struct znode z;
    zk_get(NULL, hosts_single, path, &z); /* the child's loop keeps its session */
    assert_true(z.exists);
    double t0 = mono();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char out[64];
    assert_int_equal(sh(out, sizeof out, "%s --hosts %s wait '%s' gone --timeout 12", zkwatch,
                        hosts_single, path),
                     0);
    double s = mono() - t0;
    print_message("# node gone %.2f s after SIGKILL (session timeout 2 s)\n", s);
    /* Not at once: the session outlives us by its timeout, less the third
     * of it since our last ping. Not much later either: 5 timeouts leave
     * room for a slow observer on a loaded machine. */
    assert_true(s > 1.0 && s < 10);
}

/* A 3-member ensemble: the member we are connected to dies (the session
 * moves to another), then the leader dies; the node stays, one copy. */
static void test_ensemble_member_loss(void **state)
{
    char hosts[128], out[256];
    assert_int_equal(
        sh(hosts, sizeof hosts, "%s/zk-start --ensemble --port %d %s", scripts, base_ens, dir_ens),
        0);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char uri[256];
    snprintf(uri, sizeof uri, "zk://%s/meshreg-test/ensemble", hosts);
    const char *path = "/meshreg-test/ensemble/svc.main/h1_8888";
    struct reg *r = connected_reg(loop, uri, 6);
    register_one(loop, r, "svc.main", "h1_8888", REC(8888));
    struct znode z0, z;
    zk_get(loop, hosts, path, &z0);
    assert_true(z0.exists);

    /* conn_detail starts with the server we are connected to. */
    struct moved m = {.r = r};
    snprintf(m.from, sizeof m.from, "%.*s", (int)strcspn(r->conn_detail, ","), r->conn_detail);
    int port = atoi(strrchr(m.from, ':') + 1);
    int member = port - base_ens + 1;
    assert_true(member >= 1 && member <= 3);
    assert_int_equal(sh(NULL, 0, "%s/zk-stop --kill --member %d %s", scripts, member, dir_ens), 0);
    assert_true(run_until(loop, is_connected_elsewhere, &m, 10, NULL));
    print_message("# session moved from %s to %.*s\n", m.from, (int)strcspn(r->conn_detail, ","),
                  r->conn_detail);
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    zk_get(loop, hosts, path, &z);
    assert_true(z.exists);
    assert_int_equal(z.czxid, z0.czxid);
    assert_string_equal(z.owner, z0.owner);

    assert_int_equal(sh(NULL, 0, "%s/zk-start --member %d %s", scripts, member, dir_ens), 0);
    assert_int_equal(sh(out, sizeof out, "%s/zk-stop --kill --member leader %s", scripts, dir_ens),
                     0);
    print_message("# killed leader: member %s\n", out);
    run_until(loop, NULL, NULL, 1.0, NULL);
    assert_true(run_until(loop, is_connected, r, 10, NULL));
    assert_true(run_until(loop, is_settled, r, 5, NULL));
    zk_get(loop, hosts, path, &z);
    assert_true(z.exists);
    assert_int_equal(z.czxid, z0.czxid);
    assert_string_equal(z.owner, z0.owner);
    assert_int_equal(zk_children(loop, hosts, "/meshreg-test/ensemble/svc.main"), 1);
    reg_free(r);
    ev_loop_destroy(loop);
    sh(NULL, 0, "%s/zk-stop %s", scripts, dir_ens);
}

static int group_setup(void **state)
{
    find_scripts();
    const char *b = getenv("MESHREG_TEST_ZK_BASE");
    base_single = b ? atoi(b) : test_free_block(50, 21840);
    base_late = base_single + 20;
    base_ens = base_single + 40;
    make_dir(dir_single, sizeof dir_single, "single");
    make_dir(dir_late, sizeof dir_late, "late");
    make_dir(dir_ens, sizeof dir_ens, "ensemble");
    if (access("/usr/bin/python3", X_OK) != 0 ||
        sh(NULL, 0, "/usr/bin/python3 -c 'import kazoo'") != 0) {
        fprintf(stderr, "test_reg_zk needs /usr/bin/python3 with kazoo (python3-kazoo)\n");
        return -1;
    }
    if (sh(hosts_single, sizeof hosts_single, "%s/zk-start --port %d %s", scripts, base_single,
           dir_single) != 0) {
        fprintf(stderr, "cannot start ZooKeeper (%s)\n", hosts_single);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    const char *dirs[] = {dir_single, dir_late, dir_ens};
    for (int i = 0; i < 3; i++) {
        sh(NULL, 0, "%s/zk-stop %s", scripts, dirs[i]);
        sh(NULL, 0, "rm -rf '%s'", dirs[i]);
    }
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_register_update_delete),
        cmocka_unit_test(test_existing_node),
        cmocka_unit_test(test_delete_absent),
        cmocka_unit_test(test_stop_closes_session),
        cmocka_unit_test(test_free_with_inflight),
        cmocka_unit_test(test_restart_within_timeout),
        cmocka_unit_test(test_expiry_recreates),
        cmocka_unit_test(test_down_longer_than_timeout),
        cmocka_unit_test(test_hung_server_never_blocks),
        cmocka_unit_test(test_start_before_server),
        cmocka_unit_test(test_killed_process_node_expires),
        cmocka_unit_test(test_ensemble_member_loss),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
