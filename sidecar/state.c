#include "sidecar/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sidecar/log.h"

static int mkdir_p(char *path, char *err, size_t errlen)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = mkdir(path, 0750);
        int e = errno;
        *p = c;
        if (rc != 0 && e != EEXIST) {
            snprintf(err, errlen, "cannot create %.*s: %s", (int)(p - path), path, strerror(e));
            return -1;
        }
        if (c == '\0')
            return 0;
    }
}

int state_prepare(const char *dir, char *err, size_t errlen)
{
    if (!dir)
        return 0;
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path) || !*path) {
        snprintf(err, errlen, "state dir: bad path");
        return -1;
    }
    if (stat(path, &st) != 0 && mkdir_p(path, err, errlen) != 0)
        return -1;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state dir %s: not a directory", dir);
        return -1;
    }
    if (access(path, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "state dir %s: not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static json_t *entry_json(const struct spool_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:f}", "scope", e->scope, "reason", e->reason, "since",
                          e->since);
    if (o && e->until > 0)
        json_object_set_new(o, "until", json_real(e->until));
    return o;
}

int state_save(const char *dir, const struct spool *s)
{
    if (!dir)
        return 0;
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/drain.json", dir);
    if (s->n == 0) {
        if (unlink(path) != 0 && errno != ENOENT) {
            log_error(NULL, "state: cannot remove %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(list, entry_json(&s->e[i]));
    json_t *o = json_pack("{s:o}", "drains", list);
    snprintf(tmp, sizeof(tmp), "%s/.drain.json.tmp", dir);
    int rc = o ? json_dump_file(o, tmp, JSON_COMPACT) : -1;
    json_decref(o);
    if (rc != 0 || rename(tmp, path) != 0) {
        log_error(NULL, "state: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* One drain from the file into s, unless it expired meanwhile. */
static void restore(struct spool *s, const char *scope, const char *reason, double since,
                    double until, double now)
{
    bool replaced;
    if (until > 0 && until <= now) {
        log_info(scope, "state: the saved drain expired while meshreg was down");
        return;
    }
    if (spool_down(s, scope, reason, until, since > 0 ? since : now, NULL, &replaced) != 0)
        log_error(scope, "state: out of memory restoring the drain");
    else
        log_info(NULL, "drain of %s in force since before the restart (since %.0f%s%s)", scope,
                 since > 0 ? since : now, reason[0] ? ", reason: " : "", reason);
}

/* The single-drain file of earlier versions. */
static int load_v1(json_t *o, struct spool *s, double now, json_error_t *jerr)
{
    int drained = 0;
    const char *reason = "";
    double expires = 0;
    if (json_unpack_ex(o, jerr, 0, "{s:b, s?s, s?F}", "drained", &drained, "reason", &reason,
                       "expires_at", &expires) != 0)
        return -1;
    if (drained)
        restore(s, SPOOL_ALL, reason, now, expires, now);
    return 0;
}

static int load_list(json_t *list, struct spool *s, double now, json_error_t *jerr)
{
    size_t i;
    json_t *e;
    /* check every entry before restoring any: a bad file changes nothing */
    json_array_foreach(list, i, e)
    {
        const char *scope = NULL, *reason = "";
        double since = 0, until = 0;
        if (json_unpack_ex(e, jerr, 0, "{s:s, s?s, s?F, s?F}", "scope", &scope, "reason", &reason,
                           "since", &since, "until", &until) != 0)
            return -1;
        if (!*scope) {
            snprintf(jerr->text, sizeof(jerr->text), "a drain with an empty scope");
            return -1;
        }
    }
    json_array_foreach(list, i, e)
    {
        const char *scope = NULL, *reason = "";
        double since = 0, until = 0;
        json_unpack(e, "{s:s, s?s, s?F, s?F}", "scope", &scope, "reason", &reason, "since", &since,
                    "until", &until);
        restore(s, scope, reason, since, until, now);
    }
    return 0;
}

void state_load(const char *dir, struct spool *s, double now)
{
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/drain.json", dir);
    if (access(path, F_OK) != 0)
        return;
    json_error_t jerr;
    memset(&jerr, 0, sizeof(jerr));
    json_t *o = json_load_file(path, 0, &jerr);
    json_t *list = o ? json_object_get(o, "drains") : NULL;
    int rc = !o ? -1
             : list ? (json_is_array(list) ? load_list(list, s, now, &jerr) : -1)
                    : load_v1(o, s, now, &jerr);
    if (rc != 0) {
        if (list && !json_is_array(list))
            snprintf(jerr.text, sizeof(jerr.text), "\"drains\" is not a list");
        log_error(NULL, "state: ignoring %s: %s (line %d)", path, jerr.text, jerr.line);
    }
    json_decref(o);
}
