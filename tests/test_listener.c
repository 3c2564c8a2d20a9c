/* The listening socket shared by the admin endpoint and the agent port
 * (sidecar/admin/listener.c): accepts bounded per wakeup, and a rest instead of
 * a busy loop when out of descriptors. Out of descriptors is made real:
 * RLIMIT_NOFILE is lowered to exactly the descriptors in use, so accept()
 * fails with EMFILE until the test closes some. Clients connect before
 * that (loopback completes the handshake from the backlog) and, at the
 * end, every one must have been served: none lost, none left hanging. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "sidecar/admin/listener.h"
#include "sidecar/log.h"
#include "proto/netaddr.h"

#define GUARD 20.0 /* seconds; waits end as soon as the state is reached */

static struct rlimit saved_nofile;
static bool nofile_lowered;

/* ---- an owner that serves each connection at once and keeps it open
 * (holding its descriptor) until the test lets it go ---- */

enum { MAXCONN = 128 };

struct owner {
    int fds[MAXCONN];
    int accepted;
};

static void on_accept(void *arg, int fd, const struct sockaddr_storage *peer)
{
    struct owner *o = arg;
    assert_true(o->accepted < MAXCONN);
    assert_int_equal(peer->ss_family, AF_INET);
    /* a few bytes always fit an empty socket buffer */
    assert_int_equal(send(fd, "hello\n", 6, MSG_NOSIGNAL), 6);
    o->fds[o->accepted++] = fd;
}

static void owner_close_all(struct owner *o)
{
    for (int i = 0; i < o->accepted; i++) {
        if (o->fds[i] >= 0)
            close(o->fds[i]);
        o->fds[i] = -1;
    }
}

static void open_listener(struct listener *l, struct ev_loop *loop, struct owner *o)
{
    char err[256];
    if (listener_open(l, loop, "127.0.0.1:0", -1, "test", on_accept, o, err, sizeof(err)) != 0)
        fail_msg("listener_open: %s", err);
    assert_true(l->port > 0);
}

static int client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* The client was served: "hello\n" arrives (within the guard). */
static void expect_served(int fd, int i)
{
    char buf[8];
    size_t got = 0;
    while (got < 6) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(GUARD * 1000)) != 1)
            fail_msg("client %d: never served", i);
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (n <= 0)
            fail_msg("client %d: connection lost (%s)", i, n < 0 ? strerror(errno) : "EOF");
        got += (size_t)n;
    }
    assert_memory_equal(buf, "hello\n", 6);
}

/* ---- running the loop until a state ---- */

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

struct state {
    struct listener *l;
    struct owner *o;
    int accepted; /* at least this many */
    bool paused;  /* and (if set) the listener resting */
};

static bool reached(const struct state *s)
{
    return s->o->accepted >= s->accepted && (!s->paused || ev_is_active(&s->l->pause));
}

/* Runs the loop until s is reached or the guard expires. Opens no
 * descriptor (the tests run it with none to spare). */
static bool run_until(struct ev_loop *loop, const struct state *s)
{
    bool timed_out = false;
    ev_timer t;
    ev_timer_init(&t, guard_cb, GUARD, 0.);
    t.data = &timed_out;
    ev_timer_start(loop, &t);
    while (!reached(s) && !timed_out)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return reached(s);
}

static void run_for(struct ev_loop *loop, double seconds)
{
    bool done = false;
    ev_timer t;
    ev_timer_init(&t, guard_cb, seconds, 0.);
    t.data = &done;
    ev_timer_start(loop, &t);
    while (!done)
        ev_run(loop, EVRUN_ONCE);
}

/* Lowers the soft RLIMIT_NOFILE to the lowest free descriptor: every
 * descriptor below it is in use, so the next one cannot be had. */
static void no_descriptor_to_spare(void)
{
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free one */
    assert_true(probe >= 0);
    close(probe);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
    struct rlimit lim = saved_nofile;
    lim.rlim_cur = (rlim_t)probe;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    nofile_lowered = true;
    errno = 0;
    assert_int_equal(open("/dev/null", O_RDONLY | O_CLOEXEC), -1);
    assert_int_equal(errno, EMFILE);
}

static void restore_nofile(void)
{
    if (nofile_lowered)
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
    nofile_lowered = false;
}

static int teardown(void **state)
{
    restore_nofile();
    return 0;
}

/* ---- tests ---- */

/* Out of descriptors: the listener stops watching the socket and rests
 * (instead of waking at once, forever, on the level-triggered backlog),
 * retries after the rest, and accepts as descriptors come free, until
 * every waiting client has been served. */
static void emfile_pauses_then_resumes(void **state)
{
    enum { N = 5, SPARE = 3 };
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct listener l;
    struct owner o = {.accepted = 0};
    int cli[N], spare[SPARE];

    open_listener(&l, loop, &o);
    for (int i = 0; i < N; i++)
        cli[i] = client(l.port);
    for (int i = 0; i < SPARE; i++)
        assert_true((spare[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    no_descriptor_to_spare();

    struct state paused = {&l, &o, 0, true};
    assert_true(run_until(loop, &paused));
    assert_int_equal(o.accepted, 0);

    /* Resting, not spinning: over several rests the loop wakes a few times
     * per rest (a load on the machine only makes it fewer). A listener
     * that kept watching the socket would wake thousands of times. */
    unsigned int it0 = ev_iteration(loop);
    run_for(loop, 0.5);
    unsigned int woke = ev_iteration(loop) - it0;
    print_message("# out of descriptors: %u loop iterations in 0.5 s\n", woke);
    assert_true(woke < 60);
    assert_int_equal(o.accepted, 0);
    assert_false(ev_is_active(&l.accept_w) && ev_is_active(&l.pause));

    /* Three descriptors come free: three clients are accepted, then the
     * listener rests again for the other two. */
    for (int i = 0; i < SPARE; i++)
        close(spare[i]);
    struct state three = {&l, &o, SPARE, true};
    assert_true(run_until(loop, &three));
    assert_int_equal(o.accepted, SPARE);

    /* The owner lets those go (as timeouts would): the rest get in. */
    owner_close_all(&o);
    struct state all = {&l, &o, N, false};
    assert_true(run_until(loop, &all));
    assert_int_equal(o.accepted, N);
    restore_nofile();

    for (int i = 0; i < N; i++) {
        expect_served(cli[i], i);
        close(cli[i]);
    }
    owner_close_all(&o);
    listener_close(&l);
    ev_loop_destroy(loop);
}

/* Closing a resting listener stops its timer too: nothing is left on the
 * loop to fire on a closed listener. */
static void close_while_paused(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct listener l;
    struct owner o = {.accepted = 0};

    open_listener(&l, loop, &o);
    int c = client(l.port);
    no_descriptor_to_spare();
    struct state paused = {&l, &o, 0, true};
    assert_true(run_until(loop, &paused));
    listener_close(&l);
    restore_nofile();
    assert_int_equal(l.fd, -1);
    assert_false(ev_is_active(&l.pause));
    assert_int_equal(ev_run(loop, EVRUN_NOWAIT), 0); /* no active watcher */
    assert_int_equal(o.accepted, 0);
    listener_close(&l); /* a no-op once closed */
    close(c);
    ev_loop_destroy(loop);
}

/* A flood is accepted in batches: one wakeup accepts at most 64 (the rest
 * of the loop gets its turn), and all of them get in. */
static void accepts_are_batched(void **state)
{
    enum { N = 100 };
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct listener l;
    struct owner o = {.accepted = 0};
    int cli[N];

    open_listener(&l, loop, &o);
    for (int i = 0; i < N; i++)
        cli[i] = client(l.port);
    ev_run(loop, EVRUN_ONCE);
    print_message("# one wakeup accepted %d of %d\n", o.accepted, N);
    assert_true(o.accepted > 0 && o.accepted <= 64);
    struct state all = {&l, &o, N, false};
    assert_true(run_until(loop, &all));
    assert_int_equal(o.accepted, N);
    for (int i = 0; i < N; i++) {
        expect_served(cli[i], i);
        close(cli[i]);
    }
    owner_close_all(&o);
    listener_close(&l);
    ev_loop_destroy(loop);
}

static void open_errors(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct listener l, l2;
    struct owner o = {.accepted = 0};
    char err[256], addr[32];

    open_listener(&l, loop, &o);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", l.port);
    assert_int_equal(listener_open(&l2, loop, addr, -1, "test", on_accept, &o, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, addr));
    assert_non_null(strstr(err, "bind"));
    listener_close(&l2); /* never opened: a no-op */
    /* the same port given as an override of another address's port */
    assert_int_equal(
        listener_open(&l2, loop, "127.0.0.1:1", l.port, "test", on_accept, &o, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, addr));
    assert_non_null(strstr(err, "bind"));
    assert_int_equal(
        listener_open(&l2, loop, "nonsense", -1, "test", on_accept, &o, err, sizeof(err)), -1);
    listener_close(&l2); /* never opened: a no-op */
    listener_close(&l);
    ev_loop_destroy(loop);
}

/* The connection list: oldest first, touch makes the newest, remove
 * anywhere; the count follows. */
static void conn_list_order(void **state)
{
    struct listener l;
    struct listener_conn c[3];
    memset(&l, 0, sizeof(l));
    for (int i = 0; i < 3; i++)
        listener_conn_add(&l, &c[i]);
    assert_int_equal(l.nconns, 3);
    assert_ptr_equal(l.oldest, &c[0]);
    assert_ptr_equal(l.newest, &c[2]);
    listener_conn_touch(&l, &c[0]); /* 1 2 0 */
    assert_ptr_equal(l.oldest, &c[1]);
    assert_ptr_equal(l.newest, &c[0]);
    assert_ptr_equal(c[1].next, &c[2]);
    listener_conn_touch(&l, &c[0]); /* already the newest */
    assert_ptr_equal(l.newest, &c[0]);
    assert_int_equal(l.nconns, 3);
    listener_conn_remove(&l, &c[2]); /* 1 0 */
    assert_ptr_equal(c[1].next, &c[0]);
    assert_ptr_equal(c[0].prev, &c[1]);
    listener_conn_remove(&l, &c[1]);
    listener_conn_remove(&l, &c[0]);
    assert_int_equal(l.nconns, 0);
    assert_null(l.oldest);
    assert_null(l.newest);
}

int main(void)
{
    log_setup(LOG_FORMAT_TEXT, LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(emfile_pauses_then_resumes, teardown),
        cmocka_unit_test_teardown(close_while_paused, teardown),
        cmocka_unit_test_teardown(accepts_are_batched, teardown),
        cmocka_unit_test_teardown(open_errors, teardown),
        cmocka_unit_test(conn_list_order),
    };
    return cmocka_run_group_tests_name("listener", tests, NULL, NULL);
}
