/* The embedded `file:DIR` backend: one JSON file per up registration at
 * DIR/<svc.ns>/<instance_id>_<port>.json, written atomically (temp file in
 * the same directory, then rename) so a reader never sees half a record.
 *
 * A file has no session to expire, so after SIGKILL a record would outlive
 * us; we refresh each record's mtime every ttl/3 seconds, and readers that
 * care treat a record older than the TTL as stale (documented in README). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sidecar/backend/reg.h"
#include "sidecar/log.h"

struct reg_file {
    char *dir;
    ev_timer heartbeat;
};

/* mkdir -p for one or two levels under an existing root. */
static int mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == '\0')
            return 0;
    }
}

static int record_path(const struct reg_file *f, const struct reg_entry *e, char *out, size_t len)
{
    return snprintf(out, len, "%s/%s/%s.json", f->dir, e->svc, e->node) < (int)len ? 0 : -1;
}

/* Names come from validated config, but a '/' or ".." in one would escape DIR. */
static bool safe_name(const char *s)
{
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int file_init(struct reg *r, const char *uri, char *err, size_t errlen)
{
    const char *dir = uri + strlen("file:");
    if (strncmp(dir, "//", 2) == 0)
        dir += 2; /* file://DIR is accepted too */
    if (!*dir) {
        snprintf(err, errlen, "backend \"%s\": file: needs a directory (file:DIR)", uri);
        return -1;
    }
    struct reg_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = strlen(f->dir);
    while (n > 1 && f->dir[n - 1] == '/')
        f->dir[--n] = '\0';
    r->impl = f;
    return 0;
}

/* True when path holds exactly data (what we last wrote). */
static bool record_intact(const char *path, const char *data)
{
    size_t len = strlen(data), off = 0;
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool same = true;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            same = false;
            break;
        }
        if (n == 0)
            break;
        if (off + (size_t)n > len || memcmp(data + off, buf, (size_t)n) != 0) {
            same = false;
            break;
        }
        off += (size_t)n;
    }
    close(fd);
    return same && off == len;
}

/* Every heartbeat verifies each record: one deleted by hand or overwritten
 * (by another writer of the same name) is written again, so what is in the
 * directory matches what /status says. */
static void heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reg *r = w->data;
    struct reg_file *f = r->impl;
    char path[PATH_MAX];
    bool lost = false;
    for (struct reg_entry *e = r->entries; e; e = e->next) {
        if (!e->have || !e->want || e->busy || !e->data ||
            record_path(f, e, path, sizeof(path)) != 0)
            continue;
        if (!record_intact(path, e->data)) {
            log_warn(e->svc, "record %s is gone or was changed by someone else: rewriting it",
                     path);
            lost = true;
        } else {
            utimensat(AT_FDCWD, path, NULL, 0);
        }
    }
    if (lost)
        reg_resync(r);
}

static int file_start(struct reg *r)
{
    struct reg_file *f = r->impl;
    char err[256];
    /* A directory we cannot create is not fatal: puts fail and are retried
     * with backoff, as with a server that is down. */
    bool ok = mkdirs(f->dir, err, sizeof(err)) == 0;
    double every = r->ttl_seconds > 3 ? r->ttl_seconds / 3.0 : 1.0;
    ev_timer_init(&f->heartbeat, heartbeat_cb, every, every);
    f->heartbeat.data = r;
    ev_timer_start(r->loop, &f->heartbeat);
    if (!ok)
        log_error(NULL, "backend file: cannot create %s: %s (registrations are retried)", f->dir,
                  err);
    reg_set_conn(r, REG_CONNECTED, f->dir);
    return 0;
}

/* One owner per record: a lock (flock on DIR/.locks/<svc.ns>/<node>.lock) held
 * from the first write until the delete, so a second sidecar with the same
 * instance id and port is refused instead of fighting over the file. */
struct file_entry {
    int lock_fd;
};

/* 0: held (now or already); 1: another process holds it; -1: error in err. */
static int lock_take(struct reg_file *f, struct reg_entry *e, char *err, size_t errlen)
{
    struct file_entry *fe = e->impl;
    char lp[PATH_MAX];
    if (fe && fe->lock_fd >= 0)
        return 0;
    char ld[PATH_MAX];
    /* Kept out of DIR/<svc.ns>/, which readers list as records. */
    if (snprintf(ld, sizeof(ld), "%s/.locks/%s", f->dir, e->svc) >= (int)sizeof(ld) ||
        snprintf(lp, sizeof(lp), "%s/%s.lock", ld, e->node) >= (int)sizeof(lp)) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (mkdirs(ld, err, errlen) != 0)
        return -1;
    if (!fe) {
        if (!(fe = calloc(1, sizeof(*fe)))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        fe->lock_fd = -1;
        e->impl = fe;
    }
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", lp, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int en = errno;
        close(fd);
        if (en == EWOULDBLOCK) {
            snprintf(err, errlen, "owned by another running process (%s is locked): refused", lp);
            return 1;
        }
        snprintf(err, errlen, "flock %s: %s", lp, strerror(en));
        return -1;
    }
    fe->lock_fd = fd;
    return 0;
}

static void lock_release(struct reg_entry *e)
{
    struct file_entry *fe = e->impl;
    if (fe && fe->lock_fd >= 0) {
        close(fe->lock_fd);
        fe->lock_fd = -1;
    }
}

static void file_forget(struct reg *r, struct reg_entry *e)
{
    lock_release(e);
    free(e->impl);
    e->impl = NULL;
}

static void file_put(struct reg *r, struct reg_entry *e)
{
    struct reg_file *f = r->impl;
    char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], err[320];
    if (!safe_name(e->svc) || !safe_name(e->node)) {
        reg_op_done(r, e, false, "unsafe record name");
        return;
    }
    if (snprintf(dir, sizeof(dir), "%s/%s", f->dir, e->svc) >= (int)sizeof(dir) ||
        record_path(f, e, path, sizeof(path)) != 0 ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.json.tmp", dir, e->node) >= (int)sizeof(tmp)) {
        reg_op_done(r, e, false, "path too long");
        return;
    }
    if (mkdirs(dir, err, sizeof(err)) != 0 || lock_take(f, e, err, sizeof(err)) != 0) {
        reg_op_done(r, e, false, err);
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, sizeof(err), "open %s: %s", tmp, strerror(errno));
        reg_op_done(r, e, false, err);
        return;
    }
    size_t len = strlen(e->data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, e->data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, sizeof(err), "write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            reg_op_done(r, e, false, err);
            return;
        }
        off += (size_t)w;
    }
    /* No fsync: a record only matters while this process lives, and a crash
     * of the machine ends the process too. */
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, sizeof(err), "rename %s: %s", path, strerror(errno));
        unlink(tmp);
        reg_op_done(r, e, false, err);
        return;
    }
    reg_op_done(r, e, true, NULL);
}

static void file_del(struct reg *r, struct reg_entry *e)
{
    struct reg_file *f = r->impl;
    char path[PATH_MAX], err[320];
    if (!safe_name(e->svc) || !safe_name(e->node) || record_path(f, e, path, sizeof(path)) != 0) {
        reg_op_done(r, e, false, "unsafe record name");
        return;
    }
    int lk = lock_take(f, e, err, sizeof(err));
    if (lk == 1) { /* a live owner's record (a "leftover" of ours that is not) */
        log_warn(e->svc, "record %s left alone: %s", path, err);
        reg_op_done(r, e, true, NULL);
        return;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, sizeof(err), "unlink %s: %s", path, strerror(errno));
        reg_op_done(r, e, false, err);
        return;
    }
    lock_release(e);
    reg_op_done(r, e, true, NULL);
}

static void file_stop(struct reg *r)
{
    struct reg_file *f = r->impl;
    ev_timer_stop(r->loop, &f->heartbeat);
    reg_stop_done(r);
}

static void file_free(struct reg *r)
{
    struct reg_file *f = r->impl;
    if (!f)
        return;
    ev_timer_stop(r->loop, &f->heartbeat);
    free(f->dir);
    free(f);
    r->impl = NULL;
}

const struct reg_ops reg_file_ops = {
    .name = "file",
    .local_readers = true,
    .failed_put_leaves_nothing = true,
    .init = file_init,
    .start = file_start,
    .put = file_put,
    .del = file_del,
    .forget = file_forget,
    .stop = file_stop,
    .free = file_free,
};
