/* The ZooKeeper backend, zk://H:P[,H:P...]/ROOT (default ROOT
 * /smartstack/global): one ephemeral sequential znode per up registration
 * under ROOT/<svc.ns>/, named and found again as zk_node.c explains, data =
 * the record JSON, parents created as persistent nodes when missing. This
 * file is the session and the event loop.
 *
 * Driven through Debian's single-threaded C client (libzookeeper-st): one
 * ev_io on the client's socket and one ev_timer for the timeout it asks for,
 * both re-armed from zookeeper_interest() after every call into the library
 * (its socket changes on every reconnect). The library runs our completions
 * and the session watcher from inside zookeeper_process()/_interest(); they
 * may issue new requests but never close the handle: expiry is handled once
 * the library call has returned.
 *
 * Sessions: a connection loss is not a deregistration. The client reconnects
 * (to any host of the list) with the same session, and the session's nodes
 * stay put, so we only report REG_DISCONNECTED and let the core retry what
 * failed. Only an expired session loses our nodes: we close the handle, open
 * a new session and reg_resync() once it is up, so the core puts everything
 * again. The session timeout is the sidecar's --ttl-seconds: after SIGKILL the
 * nodes vanish when it runs out. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zookeeper/zookeeper.h>

#include "sidecar/log.h"
#include "sidecar/backend/backoff.h"
#include "sidecar/backend/reg.h"
#include "sidecar/backend/zk_node.h"

#define ZK_DEFAULT_ROOT "/smartstack/global"
/* Opening a new handle (after an expiry, a refused identity, a failed
 * zookeeper_init), jittered (backoff.h): 0.1-0.2 s the first time, so an
 * expired session is back well within a second, up to 2.5-5 s while it keeps
 * failing. Reconnects within a session are the client library's own. */
#define REOPEN_MIN 0.1
#define REOPEN_MAX 5.0
#define HANDSHAKE_MIN 0.5

struct reg_zk {
    struct zk_session s; /* first: zk_node.c's view of us */
    char *hosts;         /* "h:p,h:p" as zookeeper_init wants it */
    char *root;          /* "/a/b", never a trailing '/' */
    bool session_up;     /* the current handle has had a session */
    bool expired;        /* the handle's session is gone (or auth failed): reopen */
    bool in_lib;         /* inside a library call: callbacks may run */
    bool want_pump;      /* a callback queued a request: ask the library again */
    int64_t session;
    int io_fd, io_events;
    ev_io io;
    ev_timer tick;   /* the library's timeout, or 0 to re-arm after a request */
    ev_timer reopen; /* backoff before opening a new handle */
    struct backoff reopen_backoff;
    /* the next reopen delay, drawn ahead to be shown (a refusal); 0: none */
    double reopen_next;
    double hs_since; /* when the current connection attempt started, 0 = none */
    double hs_limit; /* how long it may take to become a session */
    bool auth_failed; /* the server refused our digest credentials */
    /* The identity on this handle: accepted by the server (the session is
     * reported up only then), its completion lost with the connection (ask
     * again on the next one), and refusals in a row (README "Backend
     * credentials": retried with the reopen backoff, which only an accepted
     * identity resets). */
    bool auth_ok, auth_lost;
    bool resync_owed; /* a fresh session waits for its identity before the core puts */
    bool closing;     /* inside zookeeper_close: completions are the old handle's */
    unsigned auth_refusals;
    char auth_detail[192]; /* the last refusal, shown until a session is accepted */
    char lib_error[160];   /* the client library's last error line for this handle */
    bool authenticating;   /* connected, waiting for the server's answer to our identity */
    char who[96];          /* "zk", or "zk cluster LOC" (smartstack): our log lines' prefix */
    /* --zk-acl protected: world reads, our identity ("auth" ids) does all;
     * parents also let the world create children. */
    struct ACL node_acl[2], parent_acl[2];
    struct ACL_vector node_acls, parent_acls;
};

/* The library's log callback has no context argument. It runs only inside
 * a library call, and this process calls the library from one thread: every
 * call on a handle goes through lib_enter/lib_leave, which name the handle
 * whose lib_error the line is for, so one cluster's error never shows in
 * another's conn_detail (smartstack: one handle per cluster). */
static struct reg_zk *lib_current;

struct lib_call {
    struct reg_zk *prev; /* the handle of the library call around this one, if any */
    bool in_lib;
};

static struct lib_call lib_enter(struct reg_zk *zk)
{
    struct lib_call c = {lib_current, zk->in_lib};
    lib_current = zk;
    zk->in_lib = true;
    return c;
}

static void lib_leave(struct reg_zk *zk, struct lib_call c)
{
    zk->in_lib = c.in_lib;
    lib_current = c.prev;
}

static void zk_pump(struct reg_zk *zk);
static void zk_open(struct reg_zk *zk);

static void lib_log(const char *message)
{
    char *lib_last_error = lib_current ? lib_current->lib_error : NULL;
    size_t errlen = lib_current ? sizeof(lib_current->lib_error) : 0;
    /* Lines look like "TIME:PID(0xTID):ZOO_ERROR@func@LINE: text". */
    const char *text = message;
    const char *at = strstr(message, ":ZOO_");
    if (at) {
        const char *colon = strstr(at + 1, ": ");
        if (colon)
            text = colon + 2;
    }
    if (lib_last_error && strstr(message, "ZOO_ERROR")) {
        /* Socket errors read "Socket H:P zk retcode=N, errno=N(TEXT): what";
         * "H:P: TEXT" says it all. */
        int hlen = 0;
        const char *open = strstr(text, "errno=");
        open = open ? strchr(open, '(') : NULL;
        const char *close = open ? strchr(open, ')') : NULL;
        if (strncmp(text, "Socket ", 7) == 0 && close && sscanf(text + 7, "%*s%n", &hlen) >= 0 &&
            hlen > 0) {
            /* The library reports a connection the server closed as EHOSTDOWN. */
            const char *why = open + 1;
            int whylen = (int)(close - open - 1);
            if (strncmp(why, strerror(EHOSTDOWN), (size_t)whylen) == 0) {
                why = "connection closed by the server";
                whylen = (int)strlen(why);
            }
            snprintf(lib_last_error, errlen, "%.*s: %.*s", hlen, text + 7, whylen, why);
        } else {
            snprintf(lib_last_error, errlen, "%s", text);
        }
    }
    log_debug(NULL, "zookeeper client: %s", text);
}

/* A request was queued: the library must be asked again what it wants
 * (write interest). Inside a library call the pump that follows does it;
 * otherwise a zero timer does it on the next loop iteration, so a request
 * issued from deep inside the core never re-enters the library. */
static void zk_kick(struct zk_session *s)
{
    struct reg_zk *zk = (struct reg_zk *)s;
    if (zk->in_lib) {
        zk->want_pump = true;
        return;
    }
    ev_timer_stop(zk->s.r->loop, &zk->tick);
    ev_timer_set(&zk->tick, 0., 0.);
    ev_timer_start(zk->s.r->loop, &zk->tick);
}

static void zk_put(struct reg *r, struct reg_entry *e)
{
    zk_node_put(r->impl, e);
}

static void zk_del(struct reg *r, struct reg_entry *e)
{
    zk_node_del(r->impl, e);
}

static void zk_forget(struct reg *r, struct reg_entry *e)
{
    zk_node_forget(r->impl, e);
}

/* ---- session and event loop ---- */

static bool zk_wants_auth(const struct reg_zk *zk)
{
    return zk->s.r->auth_user && zk->s.r->auth_password;
}

/* conn_detail while not connected: what we are doing and this handle's last
 * library error (e.g. "Connection refused"), or the server's last refusal
 * of our identity until one is accepted; reported only when it changes. */
static void zk_report_down(struct reg_zk *zk)
{
    char detail[192];
    const char *err = zk->lib_error;
    const char *sep = err[0] ? ": " : "";
    /* Set by the session watcher only with an identity not yet accepted: the
     * library's own CONNECTED state also covers a plain reconnect's moment
     * before the session event, and a lost connection's. */
    bool authenticating = zk->s.zh && zk->authenticating;
    if (zk->auth_refusals && !err[0])
        snprintf(detail, sizeof(detail), "%s", zk->auth_detail);
    else if (authenticating)
        snprintf(detail, sizeof(detail), "session 0x%llx on %s: authenticating as digest user %s",
                 (unsigned long long)zk->session, zoo_get_current_server(zk->s.zh),
                 zk->s.r->auth_user);
    else if (zk->session_up)
        snprintf(detail, sizeof(detail),
                 "connection lost, reconnecting to %s (session 0x%llx lives until its timeout)%s%s",
                 zk->hosts, (unsigned long long)zk->session, sep, err);
    else
        snprintf(detail, sizeof(detail), "connecting to %s%s%s", zk->hosts, sep, err);
    enum reg_conn c = zk->s.r->conn;
    if (c == REG_CONNECTED || (zk->session_up && !authenticating))
        c = REG_DISCONNECTED;
    if (c != zk->s.r->conn || strcmp(detail, zk->s.r->conn_detail) != 0)
        reg_set_conn(zk->s.r, c, detail);
}

/* The session is up and (with an identity) the server accepted it: only
 * now is the backend connected, the backoff reset, and a fresh session's
 * records put. */
static void zk_connected(struct reg_zk *zk)
{
    zhandle_t *zh = zk->s.zh;
    char detail[192];
    zk->s.connected = true;
    zk->authenticating = false;
    backoff_reset(&zk->reopen_backoff);
    zk->lib_error[0] = '\0';
    if (zk->auth_refusals)
        log_info(NULL, "%s: %s accepted the digest identity of user %s after %u refusal(s)",
                 zk->who, zoo_get_current_server(zh), zk->s.r->auth_user, zk->auth_refusals);
    zk->auth_refusals = 0;
    snprintf(detail, sizeof(detail), "%s, session 0x%llx, timeout %d ms",
             zoo_get_current_server(zh), (unsigned long long)zk->session, zoo_recv_timeout(zh));
    log_info(NULL, "%s: session 0x%llx %s on %s", zk->who, (unsigned long long)zk->session,
             zk->resync_owed ? "established" : "resumed", zoo_get_current_server(zh));
    /* A new session owns none of our nodes: have the core put them all. */
    if (zk->resync_owed) {
        zk->resync_owed = false;
        zk_node_new_session(&zk->s);
        reg_resync(zk->s.r);
    }
    reg_set_conn(zk->s.r, REG_CONNECTED, detail);
}

/* The server closes the connection after refusing an identity and the
 * handle is dead (ZOO_AUTH_FAILED_STATE): named, logged once per streak of
 * refusals, and retried with a new session after the reopen backoff. */
static void zk_auth_refused(struct reg_zk *zk)
{
    zk->s.connected = false;
    zk->expired = true;
    zk->auth_failed = true;
    zk->auth_refusals++;
    zk->reopen_next = backoff_next(&zk->reopen_backoff);
    snprintf(zk->auth_detail, sizeof(zk->auth_detail),
             "not authenticated: %s refused digest user %s (AUTH_FAILED: wrong password, or the "
             "server takes no digest auth); attempt %u, next in %.1f s",
             zoo_get_current_server(zk->s.zh), zk->s.r->auth_user, zk->auth_refusals,
             zk->reopen_next);
    if (zk->auth_refusals == 1)
        log_error(NULL, "%s: %s", zk->who, zk->auth_detail);
    else
        log_debug(NULL, "%s: %s", zk->who, zk->auth_detail);
    zk->lib_error[0] = '\0';
    reg_set_conn(zk->s.r, zk->s.r->conn == REG_CONNECTED ? REG_DISCONNECTED : zk->s.r->conn,
                 zk->auth_detail);
}

static void zk_add_auth(struct reg_zk *zk);

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct reg_zk *zk = ctx;
    if (type != ZOO_SESSION_EVENT || zh != zk->s.zh || zk->closing)
        return;
    char detail[192];
    if (state == ZOO_CONNECTED_STATE) {
        if (!zk->session_up) {
            zk->session_up = true;
            zk->session = zoo_client_id(zh)->client_id;
            zk->resync_owed = true;
            zk_node_session_up(zk->session);
        }
        zk->hs_limit = HANDSHAKE_MIN;
        if (zk->auth_lost) {
            /* The identity's answer went with the last connection: the
             * library sends it again, but only a new request is answered. */
            zk->auth_lost = false;
            zk_add_auth(zk);
            zk_kick(&zk->s);
        }
        zk->authenticating = zk_wants_auth(zk) && !zk->auth_ok;
        if (zk->authenticating)
            zk_report_down(zk);
        else
            zk_connected(zk);
        return;
    }
    zk->authenticating = false;
    if (state == ZOO_AUTH_FAILED_STATE) {
        zk_auth_refused(zk);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
        zk->s.connected = false;
        zk->expired = true;
        snprintf(detail, sizeof(detail), "session 0x%llx expired; opening a new one",
                 (unsigned long long)zk->session);
        reg_set_conn(zk->s.r, REG_DISCONNECTED, detail);
    } else {
        /* CONNECTING/ASSOCIATING: the connection dropped, the session lives on
         * the server until its timeout; the client is already reconnecting. */
        zk->s.connected = false;
        zk_report_down(zk);
    }
}

/* Closes the handle. Ops still in flight fail (the core retries them on the
 * next session) unless we are stopping. zookeeper_close() sends the close
 * request and waits for the server's answer when connected (bounded by the
 * library: 3 s to send, 1.5 s for the answer; ~1 ms on a healthy server):
 * closing the session is what removes any node still there right away. When
 * not connected it does no I/O. */
static void zk_close(struct reg_zk *zk, const char *why)
{
    zhandle_t *zh = zk->s.zh;
    if (!zh)
        return;
    ev_io_stop(zk->s.r->loop, &zk->io);
    ev_timer_stop(zk->s.r->loop, &zk->tick);
    zk->io_fd = -1;
    zk->io_events = 0;
    zk->s.connected = false;
    zk->closing = true;
    struct lib_call prev = lib_enter(zk);
    zookeeper_close(zh);
    lib_leave(zk, prev);
    zk->closing = false;
    zk->s.zh = NULL;
    if (zk->session_up)
        zk_node_session_down(zk->session);
    zk->session_up = false;
    zk_node_end_all(&zk->s, why);
}

/* Returns the delay chosen. */
static double zk_reopen_later(struct reg_zk *zk)
{
    double delay = zk->reopen_next > 0 ? zk->reopen_next : backoff_next(&zk->reopen_backoff);
    zk->reopen_next = 0;
    ev_timer_stop(zk->s.r->loop, &zk->reopen);
    ev_timer_set(&zk->reopen, delay, 0.);
    ev_timer_start(zk->s.r->loop, &zk->reopen);
    return delay;
}

static void zk_expired(struct reg_zk *zk)
{
    char why[96];
    snprintf(why, sizeof(why), "session 0x%llx %s", (unsigned long long)zk->session,
             zk->auth_failed ? "failed authentication" : "expired");
    bool refused = zk->auth_failed;
    zk->expired = false;
    zk->auth_failed = false;
    if (refused && !zk->resync_owed && zk->session_up)
        log_warn(NULL, "%s: %s: its nodes go with it; a new session in %.1f s", zk->who, why,
                 zk->reopen_next);
    else if (!refused)
        log_warn(NULL, "%s: %s: its nodes are gone; opening a new session", zk->who, why);
    zk_close(zk, why);
    /* Never at once: a fleet frozen together (or cut off from the ensemble
     * together) sees its sessions expire together, and would open its new
     * ones in lock-step. After a session the backoff was reset (0.1-0.2 s);
     * a handle that expires (or fails auth) before it ever connected grows
     * it instead of reopening in a tight loop; so does a refused identity. */
    zk_reopen_later(zk);
}

/* A connection attempt (TCP connect plus session handshake) that takes too
 * long is cut short so the client tries again (or the next host). The
 * library's own limit is 2/3 of the session timeout, and ZooKeeper 3.8 can
 * leave a connection it received while starting up open but never answered
 * (its close fails), which would hold our first registration back ~7 s. We
 * shut the socket down (not close: it stays the library's) and the library
 * sees a connection loss. The limit starts at 0.5 s and doubles on each cut,
 * so a slow but live server still gets through; it resets once connected.
 * Returns how long until the current attempt must be cut. */
static double zk_handshake_left(struct reg_zk *zk, int rc, int fd)
{
    if (zk->s.connected || fd < 0 || rc != ZOK) {
        zk->hs_since = 0;
        return 1e9;
    }
    double now = ev_time();
    if (zk->hs_since == 0)
        zk->hs_since = now;
    double cap = zoo_recv_timeout(zk->s.zh) * 2.0 / 3000.0;
    double limit = zk->hs_limit < cap ? zk->hs_limit : cap;
    if (now - zk->hs_since < limit)
        return zk->hs_since + limit - now;
    log_debug(NULL, "%s: no session after %.1f s on %s: trying again", zk->who, now - zk->hs_since,
              zoo_get_current_server(zk->s.zh));
    shutdown(fd, SHUT_RDWR);
    zk->hs_since = 0;
    zk->hs_limit *= 2;
    return 0.;
}

/* Asks the library what it waits for and arms the watchers to match. */
static void zk_pump(struct reg_zk *zk)
{
    if (zk->in_lib) {
        zk->want_pump = true;
        return;
    }
    for (int round = 0; zk->s.zh && round < 8; round++) {
        int fd = -1, interest = 0;
        struct timeval tv = {0, 0};
        zk->want_pump = false;
        struct lib_call prev = lib_enter(zk);
        int rc = zookeeper_interest(zk->s.zh, &fd, &interest, &tv);
        lib_leave(zk, prev);
        if (zk->expired || is_unrecoverable(zk->s.zh) == ZINVALIDSTATE) {
            zk_expired(zk);
            return;
        }
        int events = 0;
        if (fd >= 0) {
            if (interest & ZOOKEEPER_READ)
                events |= EV_READ;
            if (interest & ZOOKEEPER_WRITE)
                events |= EV_WRITE;
        }
        /* The library closes and reopens its socket on every reconnect, and
         * the new one often gets the same number: re-register unless we are
         * connected and nothing changed. */
        if (fd != zk->io_fd || events != zk->io_events || !zk->s.connected) {
            ev_io_stop(zk->s.r->loop, &zk->io);
            if (fd >= 0 && events) {
                ev_io_set(&zk->io, fd, events);
                ev_io_start(zk->s.r->loop, &zk->io);
            }
            zk->io_fd = fd;
            zk->io_events = events;
        }
        double after = (double)tv.tv_sec + tv.tv_usec / 1e6;
        if (rc != ZOK && after < 0.01)
            after = 0.01; /* a failed connect asks for an immediate retry: never spin */
        double left = zk_handshake_left(zk, rc, fd);
        if (left < after)
            after = left;
        ev_timer_stop(zk->s.r->loop, &zk->tick);
        ev_timer_set(&zk->tick, after, 0.);
        ev_timer_start(zk->s.r->loop, &zk->tick);
        if (!zk->s.connected)
            zk_report_down(zk);
        if (!zk->want_pump)
            return;
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct reg_zk *zk = w->data;
    if (!zk->s.zh)
        return;
    int events = 0;
    if (revents & EV_READ)
        events |= ZOOKEEPER_READ;
    if (revents & EV_WRITE)
        events |= ZOOKEEPER_WRITE;
    struct lib_call prev = lib_enter(zk);
    /* Errors come back as session events and failed completions; any error
     * also means the connection attempt in progress, if any, is over. */
    int rc = zookeeper_process(zk->s.zh, events);
    lib_leave(zk, prev);
    if (rc != ZOK && rc != ZNOTHING)
        zk->hs_since = 0;
    zk_pump(zk);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    zk_pump(w->data);
}

static void reopen_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    zk_open(w->data);
}

/* The server's answer to our identity on this handle. A refusal also comes
 * as ZOO_AUTH_FAILED_STATE (zk_auth_refused names it); an answer lost with
 * the connection is asked for again on the next one. */
static void auth_done(int rc, const void *data)
{
    struct reg_zk *zk = (struct reg_zk *)data;
    if (zk->closing || !zk->s.zh)
        return;
    if (rc == ZOK) {
        zk->auth_ok = true;
        if (zk->authenticating)
            zk_connected(zk);
    } else if (zk_node_conn_error(rc)) {
        zk->auth_lost = !zk->auth_ok;
    } else if (rc != ZAUTHFAILED) {
        log_error(NULL, "%s: digest identity of user %s: %s", zk->who, zk->s.r->auth_user,
                  zerror(rc));
    }
}

/* The identity goes with the handle: the library queues it now, sends it
 * once the session is up and again after every reconnect; a new session
 * (new handle) adds it again here. "user:password" never reaches a log. */
static void zk_add_auth(struct reg_zk *zk)
{
    const struct reg *r = zk->s.r;
    if (!r->auth_user || !r->auth_password)
        return;
    size_t n = strlen(r->auth_user) + 1 + strlen(r->auth_password);
    char *id = malloc(n + 1);
    if (!id)
        return;
    snprintf(id, n + 1, "%s:%s", r->auth_user, r->auth_password);
    struct lib_call prev = lib_enter(zk);
    int rc = zoo_add_auth(zk->s.zh, "digest", id, (int)n, auth_done, zk);
    lib_leave(zk, prev);
    explicit_bzero(id, n);
    free(id);
    if (rc != ZOK)
        log_error(NULL, "%s: cannot add the digest identity: %s", zk->who, zerror(rc));
}

/* Open: the world may do anything (nerve's nodes). Protected: the world
 * reads (and creates children of the parents, so other hosts register beside
 * us); only the session's authenticated identities change or delete. */
static void zk_set_acls(struct reg_zk *zk)
{
    if (!zk->s.r->zk_acl_protected) {
        zk->s.node_acl = zk->s.parent_acl = &ZOO_OPEN_ACL_UNSAFE;
        return;
    }
    zk->node_acl[0] = (struct ACL){ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE};
    zk->node_acl[1] = (struct ACL){ZOO_PERM_ALL, ZOO_AUTH_IDS};
    zk->parent_acl[0] = (struct ACL){ZOO_PERM_READ | ZOO_PERM_CREATE, ZOO_ANYONE_ID_UNSAFE};
    zk->parent_acl[1] = (struct ACL){ZOO_PERM_ALL, ZOO_AUTH_IDS};
    zk->node_acls = (struct ACL_vector){2, zk->node_acl};
    zk->parent_acls = (struct ACL_vector){2, zk->parent_acl};
    zk->s.node_acl = &zk->node_acls;
    zk->s.parent_acl = &zk->parent_acls;
}

static void zk_open(struct reg_zk *zk)
{
    if (zk->s.stopped || zk->s.zh)
        return;
    int ttl = zk->s.r->ttl_seconds > 0 ? zk->s.r->ttl_seconds : 10;
    zk->session_up = false;
    zk->s.connected = false;
    zk->expired = false;
    zk->io_fd = -1;
    zk->io_events = 0;
    zk->hs_since = 0;
    zk->auth_ok = zk->auth_lost = zk->resync_owed = zk->authenticating = false;
    zk->lib_error[0] = '\0';
    errno = 0;
    /* Resolves the host names (getaddrinfo: instant for addresses and
     * /etc/hosts names; a DNS name can make this wait on the resolver). */
    struct lib_call prev = lib_enter(zk);
    zk->s.zh = zookeeper_init2(zk->hosts, session_watcher, ttl * 1000, NULL, zk,
                               ZOO_NO_LOG_CLIENTENV, lib_log);
    lib_leave(zk, prev);
    if (!zk->s.zh) {
        char detail[192];
        int e = errno ? errno : EINVAL;
        double delay = zk_reopen_later(zk);
        snprintf(detail, sizeof(detail), "cannot start a client for %s: %s; retrying in %.1f s",
                 zk->hosts, strerror(e), delay);
        reg_set_conn(zk->s.r, zk->s.r->conn == REG_CONNECTED ? REG_DISCONNECTED : zk->s.r->conn,
                     detail);
        return;
    }
    /* Re-resolve names only when reconnecting, not on every call. */
    zoo_set_servers_resolution_delay(zk->s.zh, -1);
    zk_add_auth(zk);
    zk_pump(zk);
}

/* ---- reg_ops ---- */

static int bad_uri(const char *uri, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "backend \"%s\": %s (use zk://HOST:PORT[,HOST:PORT...][/ROOT])", uri,
             why);
    return -1;
}

/* Checks "h:p,h:p": every host has a name and a port 1-65535. */
static bool hosts_ok(const char *hosts)
{
    const char *p = hosts;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = NULL;
        for (const char *c = p; c < p + n; c++)
            if (*c == ':')
                colon = c;
        if (!colon || colon == p || colon + 1 == p + n || (size_t)(colon + 1 - p) + 5 < n)
            return false;
        long port = 0;
        for (const char *c = colon + 1; c < p + n; c++) {
            if (*c < '0' || *c > '9')
                return false;
            port = port * 10 + (*c - '0');
        }
        if (port < 1 || port > 65535)
            return false;
        if (!end)
            return true;
        p = end + 1;
    }
}

/* A root path: "/a/b" with no empty, "." or ".." component. */
static bool root_ok(const char *root)
{
    if (root[0] != '/')
        return false;
    for (const char *p = root; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
        if (*p != '/')
            continue;
        const char *q = p + 1;
        size_t n = strcspn(q, "/");
        if (n == 0 || (n == 1 && q[0] == '.') || (n == 2 && q[0] == '.' && q[1] == '.'))
            return false;
    }
    return true;
}

static int zk_init(struct reg *r, const char *uri, char *err, size_t errlen)
{
    const char *p = uri + strlen("zk:");
    if (strncmp(p, "//", 2) != 0)
        return bad_uri(uri, "expected zk://", err, errlen);
    p += 2;
    size_t hlen = strcspn(p, "/");
    if (hlen == 0)
        return bad_uri(uri, "no host", err, errlen);
    struct reg_zk *zk = calloc(1, sizeof(*zk));
    if (!zk || !(zk->hosts = strndup(p, hlen))) {
        free(zk);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!hosts_ok(zk->hosts)) {
        free(zk->hosts);
        free(zk);
        return bad_uri(uri, "every host needs a port (HOST:PORT, PORT 1-65535)", err, errlen);
    }
    const char *root = p + hlen;
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (rlen <= 1)
        zk->root = strdup(ZK_DEFAULT_ROOT);
    else
        zk->root = strndup(root, rlen);
    if (!zk->root) {
        free(zk->hosts);
        free(zk);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!root_ok(zk->root)) {
        free(zk->root);
        free(zk->hosts);
        free(zk);
        return bad_uri(uri, "bad root path", err, errlen);
    }
    zk->s.r = r;
    snprintf(zk->who, sizeof(zk->who), "zk");
    zk->s.root = zk->root;
    zk->s.kick = zk_kick;
    zk->s.node_acl = zk->s.parent_acl = &ZOO_OPEN_ACL_UNSAFE;
    zk->io_fd = -1;
    backoff_init(&zk->reopen_backoff, REOPEN_MIN, REOPEN_MAX);
    zk->hs_limit = HANDSHAKE_MIN;
    ev_io_init(&zk->io, io_cb, 0, EV_READ);
    zk->io.data = zk;
    ev_timer_init(&zk->tick, tick_cb, 0., 0.);
    zk->tick.data = zk;
    ev_timer_init(&zk->reopen, reopen_cb, 0., 0.);
    zk->reopen.data = zk;
    /* The library logs to stderr by default; warnings and errors go to our
     * log (debug level) through lib_log, the rest is dropped. */
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    r->impl = zk;
    return 0;
}

static int zk_start(struct reg *r)
{
    struct reg_zk *zk = r->impl;
    char detail[192];
    snprintf(detail, sizeof(detail), "connecting to %s, root %s", zk->hosts, zk->root);
    reg_set_conn(r, REG_CONNECTING, detail);
    zk->s.path_encoding = r->path_encoding;
    snprintf(zk->who, sizeof(zk->who), "zk%s%s", r->cluster ? " cluster " : "",
             r->cluster ? r->cluster : "");
    zk_set_acls(zk);
    zk_open(zk);
    return 0;
}

static void zk_stop(struct reg *r)
{
    struct reg_zk *zk = r->impl;
    if (!zk || zk->s.stopped)
        return;
    zk->s.stopped = true;
    ev_timer_stop(r->loop, &zk->reopen);
    /* From here on completions free their op without telling the core. */
    if (zk->s.zh) {
        zk_close(zk, "stopped");
        reg_set_conn(r, REG_DISCONNECTED, "session closed");
    }
    reg_stop_done(r);
}

static void zk_free(struct reg *r)
{
    struct reg_zk *zk = r->impl;
    if (!zk)
        return;
    zk_stop(r);
    zk_node_end_all(&zk->s, "stopped");
    ev_io_stop(r->loop, &zk->io);
    ev_timer_stop(r->loop, &zk->tick);
    ev_timer_stop(r->loop, &zk->reopen);
    free(zk->hosts);
    free(zk->root);
    free(zk);
    r->impl = NULL;
}

/* SIGHUP re-read the password: the live session gets the identity now
 * (ZooKeeper adds it to the session's ids; a wrong one added earlier stays
 * but does no harm), so a registration refused for a wrong password goes
 * through on the core's next retry. Between sessions, backing off after
 * the server refused the old identity, a new session tries it at once. */
static void zk_reauth(struct reg *r)
{
    struct reg_zk *zk = r->impl;
    if (zk->s.stopped)
        return;
    if (zk->s.zh) {
        zk_add_auth(zk);
        zk_kick(&zk->s);
    } else if (ev_is_active(&zk->reopen) && zk->auth_refusals) {
        /* Backing off after refusals: the new identity is tried now. */
        ev_timer_stop(zk->s.r->loop, &zk->reopen);
        backoff_reset(&zk->reopen_backoff);
        zk->reopen_next = 0;
        zk_open(zk);
    }
}

const struct reg_ops reg_zk_ops = {
    .name = "zk",
    .init = zk_init,
    .start = zk_start,
    .put = zk_put,
    .del = zk_del,
    .forget = zk_forget,
    .stop = zk_stop,
    .free = zk_free,
    .reauth = zk_reauth,
};
