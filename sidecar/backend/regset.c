/* The cluster set: builds one reg per cluster, on demand for smartstack,
 * and fans the core's whole-set questions (start, pending, stop) out to
 * every cluster. See regset.h. */
#include "sidecar/backend/regset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/scheme.h"
#include "config/topology.h"

int regset_validate(const char *uri, char *err, size_t errlen)
{
    const struct scheme *s = scheme_find(uri);
    if (!s || s->multi_cluster)
        return scheme_check(uri, err, errlen);
    return reg_validate_uri(uri, err, errlen);
}

void regset_set_path_encoding(struct regset *rs, bool on)
{
    rs->path_encoding = on;
    for (size_t i = 0; i < rs->n; i++)
        rs->v[i].reg->path_encoding = on;
}

void regset_set_max_ops(struct regset *rs, double per_second)
{
    rs->max_ops = per_second;
    for (size_t i = 0; i < rs->n; i++)
        reg_set_max_ops(rs->v[i].reg, per_second);
}

void regset_set_on_change(struct regset *rs, void (*fn)(void *arg), void *arg)
{
    rs->on_change = fn;
    rs->on_change_arg = arg;
    for (size_t i = 0; i < rs->n; i++) {
        rs->v[i].reg->on_change = fn;
        rs->v[i].reg->on_change_arg = arg;
    }
}

void regset_set_quiet_first(struct regset *rs)
{
    rs->quiet_first = true;
    for (size_t i = 0; i < rs->n; i++)
        rs->v[i].reg->quiet_first = true;
}

unsigned long regset_first_puts(const struct regset *rs)
{
    unsigned long n = 0;
    for (size_t i = 0; i < rs->n; i++)
        n += rs->v[i].reg->first_puts;
    return n;
}

bool regset_multi(const struct regset *rs)
{
    return rs->cluster_type != NULL;
}

/* Adds a cluster built from uri, named name; started if the set is. */
static struct reg *add_cluster(struct regset *rs, const char *name, const char *uri, char *err,
                               size_t errlen)
{
    struct regset_cluster *v = realloc(rs->v, (rs->n + 1) * sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rs->v = v;
    struct regset_cluster *c = &rs->v[rs->n];
    if (!(c->name = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(c->reg = reg_new(rs->loop, uri, rs->ttl_seconds, err, errlen))) {
        free(c->name);
        return NULL;
    }
    c->reg->cluster = *name ? c->name : NULL;
    reg_set_auth(c->reg, rs->auth_user, rs->auth_password, rs->zk_acl_protected);
    reg_set_tls(c->reg, rs->tls_cacert, rs->tls_cert, rs->tls_key);
    c->reg->path_encoding = rs->path_encoding;
    c->reg->quiet_first = rs->quiet_first;
    if (rs->max_ops > 0)
        reg_set_max_ops(c->reg, rs->max_ops);
    c->reg->on_change = rs->on_change;
    c->reg->on_change_arg = rs->on_change_arg;
    rs->n++;
    if (rs->started && !rs->stopped && reg_start(c->reg) != 0)
        snprintf(err, errlen, "cluster %s: could not start (retrying)", name);
    return c->reg;
}

struct regset *regset_new(struct ev_loop *loop, const char *uri, const char *etc_dir,
                          int ttl_seconds, char *err, size_t errlen)
{
    if (regset_validate(uri, err, errlen) != 0)
        return NULL;
    struct regset *rs = calloc(1, sizeof(*rs));
    if (!rs || !(rs->uri = strdup(uri)) || !(rs->etc_dir = strdup(etc_dir ? etc_dir : ""))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rs->loop = loop;
    rs->ttl_seconds = ttl_seconds;
    if (scheme_find(uri)->multi_cluster) {
        if (!(rs->cluster_type = scheme_cluster_type(uri, err, errlen)))
            goto fail;
        return rs;
    }
    if (!add_cluster(rs, "", uri, err, errlen))
        goto fail;
    return rs;
fail:
    regset_free(rs);
    return NULL;
}

int regset_cluster(struct regset *rs, const char *location, struct reg **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (!regset_multi(rs)) {
        *out = rs->v[0].reg;
        return 1;
    }
    if (!location || !*location) {
        snprintf(err, errlen, "the location database does not say which cluster");
        return 0;
    }
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->v[i].name, location) == 0) {
            *out = rs->v[i].reg;
            return 1;
        }
    }
    char *hosts = NULL, *path = NULL, *uri = NULL;
    int rc = topology_load(rs->etc_dir, rs->cluster_type, location, &hosts, &path, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "no ZooKeeper topology file %s", path ? path : location);
    if (rc == 1) {
        if (asprintf(&uri, "zk://%s%s", hosts, REGSET_SMARTSTACK_ROOT) < 0) {
            uri = NULL;
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else if (!(*out = add_cluster(rs, location, uri, err, errlen))) {
            rc = -1;
        }
    }
    free(hosts);
    free(path);
    free(uri);
    return rc;
}

int regset_start(struct regset *rs)
{
    int rc = 0;
    rs->started = true;
    for (size_t i = 0; i < rs->n; i++)
        if (reg_start(rs->v[i].reg) != 0)
            rc = -1;
    return rc;
}

size_t regset_pending(const struct regset *rs)
{
    size_t n = 0;
    for (size_t i = 0; rs && i < rs->n; i++)
        n += reg_pending(rs->v[i].reg);
    return n;
}

const char *regset_name_of(const struct regset *rs, const struct reg *r)
{
    for (size_t i = 0; rs && i < rs->n; i++)
        if (rs->v[i].reg == r)
            return rs->v[i].name;
    return "";
}

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void regset_set_auth(struct regset *rs, const char *user, const char *password,
                     bool zk_acl_protected)
{
    wipe_free(rs->auth_password);
    free(rs->auth_user);
    rs->auth_user = user ? strdup(user) : NULL;
    rs->auth_password = password ? strdup(password) : NULL;
    rs->zk_acl_protected = zk_acl_protected;
    for (size_t i = 0; i < rs->n; i++)
        reg_set_auth(rs->v[i].reg, user, password, zk_acl_protected);
}

void regset_set_tls(struct regset *rs, const char *cacert, const char *cert, const char *key)
{
    free(rs->tls_cacert);
    free(rs->tls_cert);
    free(rs->tls_key);
    rs->tls_cacert = cacert ? strdup(cacert) : NULL;
    rs->tls_cert = cert ? strdup(cert) : NULL;
    rs->tls_key = key ? strdup(key) : NULL;
    for (size_t i = 0; i < rs->n; i++)
        reg_set_tls(rs->v[i].reg, cacert, cert, key);
}

void regset_reload(struct regset *rs)
{
    for (size_t i = 0; rs && i < rs->n; i++)
        reg_reload(rs->v[i].reg);
}

void regset_stop(struct regset *rs)
{
    if (!rs || rs->stopped)
        return;
    rs->stopped = true;
    for (size_t i = 0; i < rs->n; i++)
        reg_stop(rs->v[i].reg);
}

bool regset_stopped(const struct regset *rs)
{
    if (!rs)
        return true;
    if (!rs->stopped)
        return false;
    for (size_t i = 0; i < rs->n; i++)
        if (!reg_stopped(rs->v[i].reg))
            return false;
    return true;
}

bool regset_local_readers(const struct regset *rs)
{
    if (!rs || regset_multi(rs) || rs->n == 0)
        return false;
    for (size_t i = 0; i < rs->n; i++)
        if (!reg_local_readers(rs->v[i].reg))
            return false;
    return true;
}

void regset_free(struct regset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        reg_free(rs->v[i].reg);
        free(rs->v[i].name);
    }
    free(rs->v);
    free(rs->uri);
    free(rs->etc_dir);
    free(rs->cluster_type);
    free(rs->auth_user);
    wipe_free(rs->auth_password);
    free(rs->tls_cacert);
    free(rs->tls_cert);
    free(rs->tls_key);
    free(rs);
}
