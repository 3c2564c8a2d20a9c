/* Backend credentials (README "Backend credentials"): the user and the
 * password file, the ZooKeeper ACL mode and the etcds:// TLS files, checked
 * together against the backend URI. The password is read here, at every
 * configuration load (start and SIGHUP), and goes nowhere but into
 * cfg->auth: messages name the file, never its content. */
#include "config/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/scheme.h"
#include "config/settings.h"
#include "proto/tls.h"

#define PASSWORD_MAX 4096

/* Reads the password: one line, its trailing newline (LF or CRLF) dropped.
 * A file others can read works but gets a warning. */
static char *read_password(const char *path, struct diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        diag_add(d, "--backend-password-file: %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        diag_add(d, "--backend-password-file: %s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
        diag_warn(d, "%s: warning: the password file is readable by %s (chmod 600 it)", path,
                  st.st_mode & S_IROTH ? "every user" : "its group");
    char buf[PASSWORD_MAX + 2];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            diag_add(d, "--backend-password-file: %s: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        if (got == 0 || (n += (size_t)got) == sizeof(buf) - 1)
            break;
    }
    close(fd);
    char *pw = NULL;
    if (n > PASSWORD_MAX + 1) {
        diag_add(d, "--backend-password-file: %s: longer than %d bytes", path, PASSWORD_MAX);
    } else {
        if (n > 0 && buf[n - 1] == '\n')
            n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
        if (n == 0)
            diag_add(d, "--backend-password-file: %s: empty", path);
        else if (memchr(buf, '\n', n) || memchr(buf, '\0', n))
            diag_add(d, "--backend-password-file: %s: more than one line (the password is the "
                        "whole file but a trailing newline)",
                     path);
        else
            pw = cmem_strndup(buf, n);
    }
    explicit_bzero(buf, sizeof(buf));
    return pw;
}

/* The host of "h:p", "[v6]:p": loopback by name or address. */
static bool host_is_loopback(const char *h, size_t n)
{
    if (n >= 2 && h[0] == '[') {
        h++;
        n -= 2;
    }
    if (n == 9 && strncmp(h, "localhost", 9) == 0)
        return true;
    if (n == 3 && strncmp(h, "::1", 3) == 0)
        return true;
    return n >= 4 && strncmp(h, "127.", 4) == 0;
}

/* The first non-loopback host of "etcd://h:p,h:p/prefix", or NULL. */
static char *first_remote_host(const char *uri)
{
    const char *p = strstr(uri, "://");
    if (!p)
        return NULL;
    p += 3;
    size_t all = strcspn(p, "/");
    for (const char *end = p + all; p < end;) {
        size_t hp = strcspn(p, ",/");
        const char *colon = NULL;
        for (const char *c = p; c < p + hp; c++)
            if (*c == ':')
                colon = c;
        size_t hn = colon ? (size_t)(colon - p) : hp;
        if (!host_is_loopback(p, hn))
            return cmem_strndup(p, hn);
        p += hp + (p[hp] == ',');
    }
    return NULL;
}

/* The etcds:// files exist and parse (OpenSSL, no connection); a client
 * certificate expiring within 14 days is a warning. */
static void check_tls(const struct settings *s, bool etcds, struct diag *d)
{
    bool any = s->backend_cacert || s->backend_cert || s->backend_key;
    if (any && !etcds) {
        diag_add(d, "--backend-cacert/--backend-cert/--backend-key: only for an etcds:// "
                    "backend (the backend is %s)",
                 s->backend);
        return;
    }
    if (!s->backend_cert != !s->backend_key) {
        diag_add(d, "%s: a client certificate needs both --backend-cert and --backend-key",
                 s->backend_cert ? "--backend-cert" : "--backend-key");
        return;
    }
    if (!etcds)
        return;
    char why[600];
    int days = 1 << 30;
    if (tls_check_files(s->backend_cacert, s->backend_cert, s->backend_key, &days, why,
                        sizeof(why)) != 0) {
        diag_add(d, "etcds://: %s", why);
        return;
    }
    if (s->backend_cert && days < 14)
        diag_warn(d, "%s: warning: the client certificate %s", s->backend_cert,
                  days < 0 ? "has expired" : "expires within 14 days");
}

int creds_load(const struct settings *s, struct mr_config *cfg, struct diag *d)
{
    int before = d->count;
    struct mr_backend_auth *a = &cfg->auth;
    const struct scheme *sch = scheme_find(s->backend);
    bool etcds = sch && sch->kind == SCHEME_ETCDS;
    bool etcd = sch && (sch->kind == SCHEME_ETCD || etcds);
    bool zk = sch && (sch->kind == SCHEME_ZK || sch->multi_cluster);
    a->zk_protected = s->zk_acl && strcmp(s->zk_acl, "protected") == 0;
    a->insecure = s->backend_insecure_auth;
    if (!s->backend_user != !s->backend_password_file)
        diag_add(d, "%s: needs %s too", s->backend_user ? "--backend-user" : "--backend-password-file",
                 s->backend_user ? "--backend-password-file" : "--backend-user");
    if (s->backend_user && !etcd && !zk)
        diag_add(d, "--backend-user: the %s backend has no users (etcd, etcds, zk and smartstack "
                    "have)",
                 s->backend);
    if (a->zk_protected && !zk)
        diag_add(d, "--zk-acl: only for a ZooKeeper backend (the backend is %s)", s->backend);
    else if (a->zk_protected && !s->backend_user)
        diag_add(d, "--zk-acl protected: needs an identity (--backend-user and "
                    "--backend-password-file)");
    check_tls(s, etcds, d);
    if (d->count > before)
        return -1;
    if (s->backend_user) {
        if (!(a->password = read_password(s->backend_password_file, d)))
            return -1;
        a->user = cmem_strdup(s->backend_user);
        a->password_file = cmem_strdup(s->backend_password_file);
        if (zk && strchr(a->user, ':')) {
            diag_add(d, "--backend-user: a ZooKeeper digest user cannot contain ':'");
            return -1;
        }
    }
    char *remote = etcd && !etcds && a->user && !a->insecure ? first_remote_host(s->backend) : NULL;
    if (remote) {
        diag_add(d,
                 "--backend-password-file: refusing to send a password over plain etcd:// to %s "
                 "(use etcds://, or --backend-insecure-auth if the network is trusted)",
                 remote);
        free(remote);
        return -1;
    }
    a->cacert = cmem_strdup(s->backend_cacert);
    a->cert = cmem_strdup(s->backend_cert);
    a->key = cmem_strdup(s->backend_key);
    return 0;
}

void creds_free(struct mr_backend_auth *a)
{
    if (a->password) {
        explicit_bzero(a->password, strlen(a->password));
        free(a->password);
    }
    free(a->user);
    free(a->password_file);
    free(a->cacert);
    free(a->cert);
    free(a->key);
    memset(a, 0, sizeof(*a));
}
