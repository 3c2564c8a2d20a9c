/* The running sidecar: wires checks, probes, the registry, the drain state
 * machine and the admin endpoint on one libev loop.
 *
 * The rule that keeps the drain promise: a registration is in the backend
 * only while sidecar_check_up() holds, and every change of any of its inputs
 * (probe result, admin drain, shutdown) goes through sync_all(), which
 * states the desired record of every registration to the registry. */
#include "sidecar/sidecar.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/admin/admin.h"
#include "sidecar/admin/admin_view.h"
#include "sidecar/admin/agent.h"
#include "sidecar/log.h"
#include "config/names.h"
#include "sidecar/probe/probe.h"
#include "sidecar/memtrim.h"
#include "sidecar/sd_notify.h"
#include "sidecar/backend/record.h"
#include "sidecar/backend/reg.h"
#include "sidecar/backend/regset.h"
#include "sidecar/checkset.h"
#include "config/placement.h"
#include "sidecar/state.h"
#include "sidecar/view.h"

#define TICK_SECONDS 0.05
#define SWAP_STR(a, b)                                                                             \
    do {                                                                                           \
        char *t_ = (a);                                                                            \
        (a) = (b);                                                                                 \
        (b) = t_;                                                                                  \
    } while (0)

/* The one rule, stated to every cluster the registration is placed in. */
static void sync_check(struct sidecar *sc, struct check *c)
{
    if (!c->spec->registered)
        return;
    bool up = sidecar_check_up(sc, c);
    for (size_t i = 0; i < c->nplaces; i++)
        reg_set(c->places[i].reg, c->spec->name, c->node, up ? c->places[i].record : NULL);
}

static void sync_all(struct sidecar *sc)
{
    for (size_t i = 0; i < sc->nchecks; i++)
        sync_check(sc, &sc->checks[i]);
    sc->gen++;
}

const struct spool_entry *sidecar_check_drain(const struct sidecar *sc, const struct check *c)
{
    if (!c->spec->registered)
        return NULL; /* a worker's check answers for its pod, not for a record */
    return spool_covers(&sc->spool, c->spec->name, ev_now(sc->loop));
}

bool sidecar_check_up(const struct sidecar *sc, const struct check *c)
{
    return c->health.up && !drain_is_shutting_down(&sc->drain) &&
           !sidecar_check_drain(sc, c);
}

const struct check *sidecar_find(const struct sidecar *sc, const char *name, size_t len)
{
    size_t k;
    if (sc->names)
        return names_find(sc->names, name, len, &k) ? &sc->checks[k] : NULL;
    for (size_t i = 0; i < sc->nchecks; i++) {
        const char *n = sc->checks[i].spec->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &sc->checks[i];
    }
    return NULL;
}

bool sidecar_check_registered(const struct sidecar *sc, const struct check *c)
{
    if (!c->spec->registered || !c->nplaces)
        return false;
    for (size_t i = 0; i < c->nplaces; i++)
        if (!reg_present(c->places[i].reg, c->spec->name, c->node))
            return false;
    return true;
}

static void tick(struct sidecar *sc);

/* --adaptive-drain: how many consecutive "draining" answers count as seen
 * (HAProxy's default fall is 3), and how recent a poll must be for its
 * load balancer to count as still polling. */
#define ADAPTIVE_MIN_ANSWERS 3
#define ADAPTIVE_RECENT_S 10.0

void sidecar_note_poll(struct sidecar *sc, const char *peer, bool draining)
{
    lbwatch_note(&sc->lbwatch, peer, ev_now(sc->loop), draining);
}

static void drain_info(const struct sidecar *sc, const struct spool_entry *e,
                       struct admin_drain_info *out)
{
    double end = e->asked + sc->drain.drain_seconds, now = ev_now(sc->loop);
    snprintf(out->scope, sizeof(out->scope), "%s", e->scope);
    snprintf(out->reason, sizeof(out->reason), "%s", e->reason);
    out->since = e->since;
    out->until = e->until;
    out->window_remaining = end > now ? end - now : 0;
}

/* " (reason: R, until T)" for a log line. */
static const char *drain_words(const struct admin_drain_info *d, char *buf, size_t len)
{
    char until[64] = "";
    if (d->until > 0)
        snprintf(until, sizeof(until), "%suntil %.0f", d->reason[0] ? ", " : "", d->until);
    if (d->reason[0] || until[0])
        snprintf(buf, len, " (%s%s%s)", d->reason[0] ? "reason: " : "", d->reason, until);
    else
        buf[0] = '\0';
    return buf;
}

/* A drain names "all" or one registration (workers' checks register nothing). */
static bool scope_known(const struct sidecar *sc, const char *scope)
{
    if (strcmp(scope, SPOOL_ALL) == 0)
        return true;
    for (size_t i = 0; i < sc->nchecks; i++)
        if (sc->checks[i].spec->registered && strcmp(sc->checks[i].spec->name, scope) == 0)
            return true;
    return false;
}

static void drains_changed(struct sidecar *sc)
{
    state_save(sc->cfg->state_dir, &sc->spool);
    sync_all(sc);
    tick(sc);
}

void sidecar_request_drain(struct sidecar *sc, const struct admin_drain_request *r,
                           struct admin_drain_result *out)
{
    struct spool_entry old;
    double now = ev_now(sc->loop);
    double until = r->until > 0 ? r->until : r->expires_s > 0 ? now + r->expires_s : 0;
    char w1[300], w2[300];
    memset(out, 0, sizeof(*out));
    out->status = 404;
    if (!scope_known(sc, r->scope))
        return;
    out->status = 500;
    if (spool_down(&sc->spool, r->scope, r->reason, until, now, &old, &out->replaced) != 0)
        return;
    out->status = 200;
    struct spool_entry *e = (struct spool_entry *)spool_find(&sc->spool, r->scope, now);
    if (r->since > 0 && e)
        e->since = r->since; /* hacheck's `creation` */
    if (out->replaced)
        drain_info(sc, &old, &out->old);
    if (e)
        drain_info(sc, e, &out->now);
    const char *what = strcmp(r->scope, SPOOL_ALL) == 0 ? "every registration" : r->scope;
    if (out->replaced)
        log_info(NULL, "drain of %s%s, replacing the drain since %.0f%s", what,
                 drain_words(&out->now, w1, sizeof(w1)), out->old.since,
                 drain_words(&out->old, w2, sizeof(w2)));
    else
        log_info(NULL, "drain of %s%s: deregistering", what, drain_words(&out->now, w1, sizeof(w1)));
    drains_changed(sc);
}

void sidecar_request_undrain(struct sidecar *sc, const char *scope, struct admin_drain_result *out)
{
    struct spool_entry old;
    char w[300];
    memset(out, 0, sizeof(*out));
    out->status = 200;
    if (!spool_up(&sc->spool, scope, &old)) {
        if (!scope_known(sc, scope))
            out->status = 404;
        return;
    }
    out->replaced = true;
    drain_info(sc, &old, &out->old);
    log_info(NULL, "undrain of %s: ended the drain since %.0f%s; registering what is healthy",
             strcmp(scope, SPOOL_ALL) == 0 ? "every registration" : scope, old.since,
             drain_words(&out->old, w, sizeof(w)));
    drains_changed(sc);
}

/* Per kind, not per check: see struct admin_view_probe_kind. */
static void probe_account(struct sidecar *sc, const struct probe *p, enum probe_kind kind,
                          bool pass, const char *detail)
{
    struct sidecar_probe_stats *st = &sc->probe_stats[kind];
    hist_add(&st->duration, ev_now(sc->loop) - p->started);
    if (pass)
        st->pass++;
    else if (strncmp(detail, "timeout", 7) == 0)
        st->timeout++;
    else
        st->fail++;
}

/* Start-up above LOG_START_DETAIL_MAX checks: one line once all are healthy. */
static void note_first_healthy(struct sidecar *sc)
{
    if (++sc->start_healthy == sc->nchecks)
        log_info(NULL, "all %zu check(s) healthy %.1f s after start", sc->nchecks,
                 ev_now(sc->loop) - sc->started);
}

/* Start-up is over once every check has a first result: systemd hears
 * READY=1, and a little later the start-up-only memory is given back
 * (memtrim.h; the delay lets the first registrations be written first). */
#define MEMTRIM_AFTER_READY_S 2.0
static void ready_check(struct sidecar *sc)
{
    if (sd_notify_ready_if_probed(sc))
        memtrim_schedule(sc->loop, MEMTRIM_AFTER_READY_S);
}

void sidecar_probe_result(struct probe *p, bool pass, const char *detail, void *arg)
{
    struct check *c = arg;
    struct sidecar *sc = c->sc;
    probe_account(sc, p, c->spec->probe, pass, detail);
    enum health_verdict v = health_result(&c->health, pass, ev_now(sc->loop));
    if (v == HEALTH_IN_GRACE) {
        snprintf(c->last_detail, sizeof(c->last_detail), "%s (in start-up grace period)", detail);
        c->last_at = ev_now(sc->loop);
        sc->gen++;
        ready_check(sc);
        return;
    }
    bool changed_pass = !c->last_at || c->last_pass != pass;
    c->last_pass = pass;
    snprintf(c->last_detail, sizeof(c->last_detail), "%s", detail);
    if (pass)
        c->total_passes++;
    else
        c->total_failures++;
    /* Above LOG_START_DETAIL_MAX checks, a first pass and a first healthy
     * are counted, not logged: see log_start. */
    bool first_ok = sc->quiet_start && c->last_at == 0 && pass;
    /* A failure is warn: the check leaves the mesh (or /health) because of it. */
    if (changed_pass && !first_ok)
        log_msg(pass ? LOG_INFO : LOG_WARN, c->spec->name, "probe %s: %s",
                pass ? "passed" : "failed", detail);
    c->last_at = ev_now(sc->loop);
    if (v == HEALTH_FLIPPED) {
        if (sc->quiet_start && c->since == 0 && c->health.up)
            note_first_healthy(sc);
        else
            log_msg(c->health.up ? LOG_INFO : LOG_WARN, c->spec->name, "now %s (%s)",
                    c->health.up ? "healthy" : "unhealthy", detail);
        c->since = c->last_at;
        sync_check(sc, c);
    }
    sc->gen++;
    ready_check(sc);
}

/* The periodic tick runs only while something is time-based: a shutdown
 * in progress, or an admin drain with an expiry. An idle sidecar sleeps
 * until a probe, a request or a signal (every one of which calls tick()). */
static void tick_schedule(struct sidecar *sc)
{
    ev_tstamp now = ev_now(sc->loop), after = 0;
    if (drain_is_shutting_down(&sc->drain))
        after = TICK_SECONDS;
    else if (spool_next_until(&sc->spool) > 0)
        after = spool_next_until(&sc->spool) > now ? spool_next_until(&sc->spool) - now : 0.001;
    if (after <= 0) {
        ev_timer_stop(sc->loop, &sc->tick);
        return;
    }
    sc->tick.repeat = after; /* ev_timer_again (re)starts it `after` from now */
    ev_timer_again(sc->loop, &sc->tick);
}

static void log_window_end(struct sidecar *sc, size_t npeers)
{
    const struct drain *d = &sc->drain;
    double early = d->shutdown_at + d->drain_seconds - d->window_end_at;
    switch (d->window_end) {
    case DRAIN_END_ADAPTIVE:
        if (npeers == 0) {
            log_info(NULL,
                     "adaptive drain: no load balancer polls us; the backend's readers had "
                     "min_drain_seconds (%.1f s): ending the window %.1f s early",
                     d->min_seconds, early);
            break;
        }
        log_info(NULL,
                 "adaptive drain: all %zu polling load balancer(s) answered draining "
                 "%d times; ending the window %.1f s early (%.1f s after the signal)",
                 npeers, ADAPTIVE_MIN_ANSWERS, early, d->window_end_at - d->shutdown_at);
        break;
    case DRAIN_END_SKIPPED:
        log_info(NULL, "drain window skipped (second signal)");
        break;
    case DRAIN_END_APP_GONE:
        log_info(NULL, "no drain window: the app exited on its own");
        break;
    case DRAIN_END_FULL:
    case DRAIN_END_NONE:
        log_info(NULL, "drain window over");
        break;
    }
}

static void drain_expired(const struct spool_entry *e, void *arg)
{
    log_info(NULL, "drain of %s expired (since %.0f%s%s): registering what is healthy",
             strcmp(e->scope, SPOOL_ALL) == 0 ? "every registration" : e->scope, e->since,
             e->reason[0] ? ", reason: " : "", e->reason);
}

/* Does what entering phase `ph` asks (drain.h lists who acts when). */
static void drain_act(struct sidecar *sc, enum drain_phase before, enum drain_phase ph,
                      size_t npeers)
{
    const struct drain *d = &sc->drain;
    sc->gen++;
    if (before <= DRAIN_DEREGISTERING && ph > DRAIN_DEREGISTERING) {
        if (d->dereg_timed_out)
            log_error(NULL,
                      "deregistration not confirmed after %.1f s (%zu pending): "
                      "records expire with the backend session/TTL",
                      d->dereg_timeout, regset_pending(sc->regs));
        else
            log_info(NULL, "deregistered everything in %.1f ms",
                     (d->dereg_done_at - d->shutdown_at) * 1000.0);
    }
    if (before <= DRAIN_WINDOW && ph > DRAIN_WINDOW)
        log_window_end(sc, npeers);
    switch (ph) {
    case DRAIN_WINDOW:
        log_info(NULL, "draining: answering 503 for %.1f s more",
                 drain_window_remaining(d, ev_now(sc->loop)));
        break;
    case DRAIN_STOPPING_APP:
        log_info(NULL, "stopping the app: SIGTERM, SIGKILL in %.0f s", d->grace_seconds);
        supervise_term(&sc->app);
        break;
    case DRAIN_KILLING_APP:
        supervise_kill(&sc->app);
        break;
    case DRAIN_STOPPING_REGISTRY:
        regset_stop(sc->regs);
        break;
    case DRAIN_EXIT:
        if (d->reg_stop_timed_out)
            log_warn(NULL, "backend %s did not finish stopping in %.0f s", sc->cfg->backend,
                     DRAIN_REGISTRY_STOP_S);
        log_info(NULL, "exiting");
        ev_break(sc->loop, EVBREAK_ALL);
        break;
    case DRAIN_RUNNING:
    case DRAIN_DEREGISTERING:
        break;
    }
}

/* One step of the drain machine with what it needs to know; true when the
 * phase moved (and what the new one asks was done). */
static bool tick_round(struct sidecar *sc)
{
    ev_tstamp now = ev_now(sc->loop);
    size_t npeers = 0;
    struct drain_input in = {
        .now = now,
        .pending = regset_pending(sc->regs),
        .registry_stopped = regset_stopped(sc->regs),
    };
    if (sc->drain.adaptive && drain_is_shutting_down(&sc->drain)) {
        in.lbs_informed = lbwatch_all_informed(&sc->lbwatch, now, ADAPTIVE_RECENT_S,
                                               ADAPTIVE_MIN_ANSWERS, &npeers);
        in.lbs_polling = npeers;
    }
    enum drain_phase before = sc->drain.phase, ph = drain_tick(&sc->drain, &in);
    if (spool_expire(&sc->spool, now, drain_expired, NULL) > 0) {
        state_save(sc->cfg->state_dir, &sc->spool);
        sync_all(sc);
    }
    if (ph == before)
        return false;
    drain_act(sc, before, ph, npeers);
    return true;
}

/* Drives the drain machine; runs periodically and right after any event.
 * An event raised while acting (the registry reporting its stop) makes
 * one more round instead of nesting. */
static void tick(struct sidecar *sc)
{
    if (sc->ticking) {
        sc->tick_again = true;
        return;
    }
    sc->ticking = true;
    do
        sc->tick_again = false;
    while (tick_round(sc) || sc->tick_again);
    sc->ticking = false;
    tick_schedule(sc);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    tick(w->data);
}

static void shutdown_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct sidecar *sc = w->data;
    const char *sig = w->signum == SIGINT ? "SIGINT" : "SIGTERM";
    switch (drain_request_shutdown(&sc->drain, ev_now(loop))) {
    case DRAIN_SIGNAL_FIRST:
        log_info(NULL, "%s: draining for %.0f s, deregistering first", sig,
                 sc->drain.drain_seconds);
        sd_notify_stopping();
        sync_all(sc); /* every check stops being up: delete every record now */
        break;
    case DRAIN_SIGNAL_SKIP_WINDOW:
        log_info(NULL,
                 "%s again: skipping the rest of the window (deregistration still "
                 "completes first)",
                 sig);
        break;
    case DRAIN_SIGNAL_ALREADY_DONE:
        log_info(NULL, "%s: already stopping (phase %s)", sig, drain_phase_name(sc->drain.phase));
        break;
    }
    tick(sc);
}

static void reg_changed(void *arg)
{
    struct sidecar *sc = arg;
    sc->gen++;
    if (sc->quiet_start && !sc->said_registered &&
        regset_first_puts(sc->regs) >= sc->start_nreg) {
        sc->said_registered = true;
        log_info(NULL, "all %zu record(s) registered in %s %.1f s after start", sc->start_nreg,
                 sc->cfg->backend, ev_now(sc->loop) - sc->started);
    }
    /* A confirmed delete (or the registry's stop) may be what the drain
     * waits for: react now, not at the next tick, to keep SIGTERM -> record
     * gone in milliseconds. */
    if (sc->drain.phase == DRAIN_DEREGISTERING || sc->drain.phase == DRAIN_STOPPING_REGISTRY)
        tick(sc);
}

static void forward_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct sidecar *sc = w->data;
    supervise_signal(&sc->app, w->signum);
}

static void app_exit_cb(struct supervise *s, int code, void *arg)
{
    struct sidecar *sc = arg;
    sc->exit_code = code;
    if (drain_app_exited(&sc->drain, ev_now(sc->loop))) {
        log_info(NULL, "the app exited on its own: deregistering and exiting with its status %d",
                 code);
        sync_all(sc);
    }
    tick(sc);
}

/* The drain knobs of cfg (at start and on reload). The adaptive floor is
 * for readers that learn of a deregistration through the backend
 * (README "Drain sequence"); the file: backend's readers are local. */
static void drain_apply(struct sidecar *sc, const struct mr_config *cfg)
{
    bool floor = cfg->adaptive_drain && !regset_local_readers(sc->regs);
    struct drain_settings ds = {
        .drain_seconds = cfg->drain_seconds,
        .grace_seconds = cfg->grace_seconds,
        .adaptive = cfg->adaptive_drain,
        .min_seconds = floor ? cfg->min_drain_seconds : 0,
        .remote_readers = floor,
    };
    if (!drain_configure(&sc->drain, &ds))
        log_warn(NULL,
                 "min_drain_seconds %d is above drain_seconds %d: an adaptive drain "
                 "serves the whole window",
                 cfg->min_drain_seconds, cfg->drain_seconds);
}

static void reload(struct sidecar *sc);

void sidecar_request_reload(struct sidecar *sc, const char *why)
{
    if (drain_is_shutting_down(&sc->drain)) {
        log_info(NULL, "%s during shutdown: ignored", why);
        return;
    }
    log_info(NULL, "%s: reloading the configuration", why);
    reload(sc);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    sidecar_request_reload(w->data, "SIGHUP");
}

/* SIGHUP (README "Drain sequence"): build the new configuration aside and
 * compare each check with the running one; if all is well, migrate the
 * unchanged ones with their probe and health (no blip), start the new,
 * deregister the removed, and swap (keepalived's compare/migrate). Anything
 * invalid rejects the reload as a whole and the running one stays. */
/* Remembers a reload's outcome for /status and /metrics; err: its first line. */
static void reload_note(struct sidecar *sc, bool ok, const char *err)
{
    struct sidecar_reloads *r = &sc->reloads;
    r->last_at = ev_now(sc->loop);
    r->last_ok = ok;
    if (ok) {
        r->ok++;
        r->last_error[0] = '\0';
        return;
    }
    r->rejected++;
    const char *nl = strchr(err, '\n');
    snprintf(r->last_error, sizeof(r->last_error), "%.*s", (int)(nl ? nl - err : (long)strlen(err)),
             err);
}

static void reload(struct sidecar *sc)
{
    char err[8192];
    struct mr_config *ncfg = NULL, *ocfg = sc->cfg;
    long *from = NULL;
    struct check *n = NULL;
    if (config_load(sc->argc, sc->argv, sc->envp, &ncfg, err, sizeof(err)) != 0) {
        /* One log line per validation error, each with its FILE:LINE:COL. */
        for (char *line = err, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
            nl = strchr(line, '\n');
            log_error(NULL, "reload: %.*s", (int)(nl ? nl - line : (long)strlen(line)), line);
        }
        log_error(NULL, "reload rejected: the running configuration stays");
        reload_note(sc, false, err);
        return;
    }
    if (!(from = calloc(ncfg->nchecks ? ncfg->nchecks : 1, sizeof(*from))))
        snprintf(err, sizeof(err), "out of memory");
    if (!from || !(n = checkset_build(sc, ncfg, from, err, sizeof(err)))) {
        log_error(NULL, "reload rejected: %s; the running configuration stays", err);
        reload_note(sc, false, err);
        free(from);
        config_free(ncfg);
        return;
    }
    /* Restart-only settings (the settings table says which) keep running. */
    const char *key;
    for (size_t i = 0; (key = config_restart_changed(ocfg, ncfg, &i)) != NULL;)
        log_warn(NULL, "reload: %s changed; it takes effect at the next restart", key);
    /* Migrate and swap: nothing below can fail. */
    size_t kept = 0, added = 0, removed = 0;
    checkset_migrate(sc, ncfg, n, from, &kept, &added, &removed);
    free(from);
    sc->checks = n;
    sc->nchecks = ncfg->nchecks;
    checkset_index(sc);
    drain_apply(sc, ncfg);
    /* Keep what cannot change without a restart; the running app keeps its argv. */
    SWAP_STR(ncfg->backend, ocfg->backend);
    SWAP_STR(ncfg->admin_addr, ocfg->admin_addr);
    SWAP_STR(ncfg->state_dir, ocfg->state_dir);
    char **argv = ncfg->app_argv;
    ncfg->app_argv = ocfg->app_argv;
    ocfg->app_argv = argv;
    sc->cfg = ncfg;
    config_free(ocfg);
    /* README "Backend credentials": the password file is re-read; the ACL
     * mode is the session's (restart). */
    regset_set_auth(sc->regs, ncfg->auth.user, ncfg->auth.password, sc->regs->zk_acl_protected);
    /* The TLS files' paths are restart-only; their content is re-read
     * (certificates rotated in place). */
    regset_reload(sc->regs);
    sync_all(sc);
    log_info(NULL, "reloaded: %zu check(s) unchanged, %zu new or changed, %zu removed or replaced",
             kept, added, removed);
    reload_note(sc, true, NULL);
}

static void sidecar_free(struct sidecar *sc)
{
    for (size_t i = 0; i < sc->nchecks; i++)
        checkset_clear(&sc->checks[i]);
    free(sc->checks);
    names_free(sc->names);
    sc->names = NULL;
    admin_free(sc->admin);
    agent_free(sc->agent);
    regset_free(sc->regs);
    spool_clear(&sc->spool);
}

/* Past this many checks, start-up logs one summary line instead of one
 * line per registration (and counts, not logs, each first pass, healthy
 * and registered): 10,000 registrations must not write 40,000 lines. */
#define LOG_START_DETAIL_MAX 20
#define LOG_START_KINDS (PROBE_GRPC + 1)

static void log_start(struct sidecar *sc)
{
    size_t nreg = 0, kinds[LOG_START_KINDS] = {0};
    sc->quiet_start = sc->nchecks > LOG_START_DETAIL_MAX;
    for (size_t i = 0; i < sc->nchecks; i++) {
        const struct check_spec *s = sc->checks[i].spec;
        if ((unsigned)s->probe < LOG_START_KINDS)
            kinds[s->probe]++;
        if (s->registered && sc->quiet_start) {
            nreg++;
            for (size_t j = 0; j < s->placements.nnotes; j++)
                log_warn(s->name, "placement: %s", s->placements.notes[j]);
        } else if (s->registered) {
            nreg++;
            log_info(s->name, "registration %s:%d as %s, probe %s every %d ms", s->host, s->port,
                     sc->checks[i].node, probe_kind_name(s->probe), s->interval_ms);
            for (size_t j = 0; j < s->placements.nnotes; j++)
                log_warn(s->name, "placement: %s", s->placements.notes[j]);
            for (size_t j = 0; regset_multi(sc->regs) && j < sc->checks[i].nplaces; j++)
                log_info(s->name, "placed in cluster %s (%s)",
                         regset_name_of(sc->regs, sc->checks[i].places[j].reg),
                         sc->checks[i].places[j].reg->uri);
        } else if (s->smartstack_missing) { /* README "Running it": --worker silences it */
            log_warn(s->name,
                     "no smartstack registration for this instance (%s does not exist): "
                     "worker mode, nothing is registered; probing %s every %d ms for /health",
                     s->smartstack_missing, probe_kind_name(s->probe), s->interval_ms);
        } else {
            log_info(s->name,
                     "no smartstack registration for this instance: worker mode, "
                     "nothing is registered; probing %s every %d ms for /health",
                     probe_kind_name(s->probe), s->interval_ms);
        }
    }
    if (sc->quiet_start) {
        char by_kind[160] = "";
        for (int k = 0, off = 0; k < LOG_START_KINDS && off < (int)sizeof(by_kind); k++)
            if (kinds[k])
                off += snprintf(by_kind + off, sizeof(by_kind) - (size_t)off, "%s%zu %s",
                                off ? ", " : "", kinds[k], probe_kind_name(k));
        log_info(NULL,
                 "%zu check(s) (%s): more than %d, so one line each is left out "
                 "(GET /status lists them); a line when all are healthy and registered",
                 sc->nchecks, by_kind, LOG_START_DETAIL_MAX);
        sc->start_nreg = 0; /* records: one per placement */
        for (size_t i = 0; i < sc->nchecks; i++)
            sc->start_nreg += sc->checks[i].nplaces;
        regset_set_quiet_first(sc->regs);
    }
    if (sc->cfg->backend_relative)
        log_info(NULL, "backend %s is relative: records go to %s (give an absolute --backend)",
                 sc->cfg->backend_relative, sc->cfg->backend + strlen("file:"));
    log_info(NULL, "meshreg started: %zu registration(s), %zu check(s), backend %s, admin %s", nreg,
             sc->nchecks, sc->cfg->backend, sc->cfg->admin_addr);
}

/* SIGTERM/SIGINT drain, SIGHUP reloads; in wrapper mode SIGUSR1/SIGUSR2
 * go to the app (SIGHUP does not: it is ours). */
static void signals_start(struct sidecar *sc)
{
    ev_signal_init(&sc->sig_term, shutdown_cb, SIGTERM);
    ev_signal_init(&sc->sig_int, shutdown_cb, SIGINT);
    ev_signal_init(&sc->sig_hup, hup_cb, SIGHUP);
    ev_signal_init(&sc->sig_usr1, forward_cb, SIGUSR1);
    ev_signal_init(&sc->sig_usr2, forward_cb, SIGUSR2);
    sc->sig_term.data = sc->sig_int.data = sc->sig_hup.data = sc;
    sc->sig_usr1.data = sc->sig_usr2.data = sc;
    ev_signal_start(sc->loop, &sc->sig_term);
    ev_signal_start(sc->loop, &sc->sig_int);
    ev_signal_start(sc->loop, &sc->sig_hup);
    if (sc->wrapper) {
        ev_signal_start(sc->loop, &sc->sig_usr1);
        ev_signal_start(sc->loop, &sc->sig_usr2);
    }
}

static void signals_stop(struct sidecar *sc)
{
    ev_signal_stop(sc->loop, &sc->sig_term);
    ev_signal_stop(sc->loop, &sc->sig_int);
    ev_signal_stop(sc->loop, &sc->sig_hup);
    ev_signal_stop(sc->loop, &sc->sig_usr1);
    ev_signal_stop(sc->loop, &sc->sig_usr2);
}

/* --state-dir: created if need be (a path that cannot be one is a bad
 * configuration), then the drains in force before a restart come back. */
static int drains_restore(struct sidecar *sc, char *err, size_t errlen)
{
    char why[400];
    if (state_prepare(sc->cfg->state_dir, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--state-dir: %s", why);
        return -1;
    }
    state_load(sc->cfg->state_dir, &sc->spool, ev_now(sc->loop)); /* logs what it restores */
    return 0;
}

/* The backend's clusters, not started yet, with every setting they share. */
static int backend_open(struct sidecar *sc, char *err, size_t errlen)
{
    const struct mr_config *cfg = sc->cfg;
    sc->regs = regset_new(sc->loop, cfg->backend, cfg->etc_dir, cfg->ttl_seconds, err, errlen);
    if (!sc->regs)
        return -1;
    regset_set_max_ops(sc->regs, cfg->backend_max_ops);
    regset_set_on_change(sc->regs, reg_changed, sc);
    regset_set_path_encoding(sc->regs, cfg->zk_path_encoding);
    regset_set_auth(sc->regs, cfg->auth.user, cfg->auth.password, cfg->auth.zk_protected);
    regset_set_tls(sc->regs, cfg->auth.cacert, cfg->auth.cert, cfg->auth.key);
    return 0;
}

int sidecar_run(struct mr_config *cfg, int argc, char **argv, char **envp)
{
    struct sidecar sc_, *sc = &sc_;
    char err[512];
    memset(sc, 0, sizeof(*sc));
    sc->cfg = cfg;
    sc->argc = argc;
    sc->argv = argv;
    sc->envp = envp;
    sc->loop = ev_default_loop(EVFLAG_AUTO);
    if (!sc->loop) {
        log_error(NULL, "cannot initialise the event loop");
        return 1;
    }
    sc->started = ev_now(sc->loop);
    signal(SIGPIPE, SIG_IGN);
    /* Deregistration is bounded: past the TTL the backend forgets us anyway. */
    sc->wrapper = cfg->app_argv != NULL;
    drain_init(&sc->drain, cfg->drain_seconds, cfg->ttl_seconds > 0 ? cfg->ttl_seconds : 10,
               sc->wrapper);
    spool_init(&sc->spool);

    int rc = 2; /* nothing started yet */
    if (drains_restore(sc, err, sizeof(err)) != 0 || backend_open(sc, err, sizeof(err)) != 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    rc = 1;
    drain_apply(sc, cfg);
    if (checkset_init(sc, err, sizeof(err)) == 0)
        checkset_index(sc);
    else {
        log_error(NULL, "%s", err);
        goto out;
    }
    struct admin_limits lim = {16 * 1024, 64 * 1024, 10.0, 4096};
    struct admin_view view = view_of(sc);
    sc->admin = admin_new(sc->loop, &view, cfg->admin_addr, cfg->admin_allow, cfg->nadmin_allow,
                          &lim, err, sizeof(err));
    if (!sc->admin) {
        log_error(NULL, "admin endpoint: %s", err);
        goto out;
    }
    if (cfg->agent_port > 0 && !(sc->agent = agent_new(sc->loop, &view, cfg->admin_addr,
                                                       cfg->agent_port, err, sizeof(err)))) {
        log_error(NULL, "agent-check: %s", err);
        goto out;
    }
    if (regset_start(sc->regs) != 0) {
        log_error(NULL, "backend %s could not start", cfg->backend);
        goto out;
    }
    /* A record left by an earlier run of ours (SIGKILL on file:) must not
     * advertise an app that has not passed a probe yet. */
    for (size_t i = 0; i < sc->nchecks; i++)
        for (size_t j = 0; j < sc->checks[i].nplaces; j++)
            reg_clear(sc->checks[i].places[j].reg, sc->checks[i].spec->name, sc->checks[i].node);

    signals_start(sc);
    if (sd_notify_watchdog_start(sc->loop, err, sizeof(err)) < 0)
        log_warn(NULL, "systemd watchdog off: %s", err);
    if (sc->wrapper) {
        int started =
            supervise_start(&sc->app, sc->loop, cfg->app_argv, app_exit_cb, sc, err, sizeof(err));
        if (started != 0) {
            log_error(NULL, "cannot start the app: %s", err);
            if (started == SUPERVISE_EXEC_FAILED)
                rc = 127;
            goto out;
        }
    }
    ev_timer_init(&sc->tick, tick_cb, TICK_SECONDS, 0.);
    sc->tick.data = sc;
    tick(sc); /* a drain restored from --state-dir may carry an expiry */

    log_start(sc);
    for (size_t i = 0; i < sc->nchecks; i++)
        probe_start(sc->checks[i].probe);
    ready_check(sc); /* no checks at all: ready now */

    ev_run(sc->loop, 0);

    for (size_t i = 0; i < sc->nchecks; i++)
        probe_stop(sc->checks[i].probe);
    rc = sc->wrapper ? sc->exit_code : 0;
out:
    signals_stop(sc);
    sd_notify_watchdog_stop(sc->loop);
    memtrim_stop(sc->loop);
    supervise_release(&sc->app);
    ev_timer_stop(sc->loop, &sc->tick);
    sidecar_free(sc);
    config_free(sc->cfg);
    ev_loop_destroy(sc->loop);
    if (rc == 0 || sc->wrapper)
        log_info(NULL, "meshreg stopped (exit status %d)", rc);
    return rc;
}
