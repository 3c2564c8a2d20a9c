#include "sidecar/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sidecar/log.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int state_save(const char *dir, const struct drain *d, double now)
{
    if (!dir)
        return 0;
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/drain.json", dir);
    if (!d->admin) {
        if (unlink(path) != 0 && errno != ENOENT) {
            log_error(NULL, "state: cannot remove %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    double expires = d->admin_expires_at > 0 ? wall_now() + (d->admin_expires_at - now) : 0;
    json_t *o =
        json_pack("{s:b, s:s, s:f}", "drained", 1, "reason", d->reason, "expires_at", expires);
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

void state_load(const char *dir, struct drain *d, double now)
{
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/drain.json", dir);
    if (access(path, F_OK) != 0)
        return;
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    int drained = 0;
    const char *reason = "";
    double expires = 0;
    if (!o || json_unpack_ex(o, &jerr, 0, "{s:b, s?s, s?F}", "drained", &drained, "reason", &reason,
                             "expires_at", &expires) != 0) {
        log_error(NULL, "state: ignoring %s: %s (line %d)", path, jerr.text, jerr.line);
        json_decref(o);
        return;
    }
    if (drained) {
        double left = expires > 0 ? expires - wall_now() : 0;
        if (expires > 0 && left <= 0)
            log_info(NULL, "state: the saved drain expired while meshreg was down");
        else
            drain_request_admin(d, now, reason, left);
    }
    json_decref(o);
}
