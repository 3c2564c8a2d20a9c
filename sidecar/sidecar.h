/* The running sidecar: the checks, their probes and health, the registry,
 * the drain state machine and the admin endpoint, wired on one libev loop.
 * sidecar_run() is the `meshreg run` subcommand minus option parsing. */
#ifndef MESHREG_SIDECAR_H
#define MESHREG_SIDECAR_H

#include <ev.h>
#include <stdbool.h>

#include "config/config.h"
#include "sidecar/drain.h"
#include "sidecar/health.h"
#include "sidecar/hist.h"
#include "sidecar/lbwatch.h"
#include "sidecar/spool.h"
#include "sidecar/supervise.h"

struct probe;
struct reg;
struct regset;

/* One cluster a registration's record goes to (README "Backends"), with the
 * record carrying that placement's labels. A single-cluster backend gives
 * every registration one place: its one store, the spec's own record. */
struct check_place {
    struct reg *reg;
    char *record;
};
struct admin;
struct agent;

/* One check at run time. */
struct check {
    struct check_spec *spec; /* points into sc->cfg */
    struct health health;
    struct probe *probe;
    char *node;            /* "<instance_id>_<port>" */
    char *record;          /* record JSON with every placement's labels (registrations only) */
    struct check_place *places; /* where the record goes; none: placed nowhere (warned) */
    size_t nplaces;
    char last_detail[128]; /* last probe outcome */
    bool last_pass;
    ev_tstamp last_at;                          /* when the last probe finished (0 = never) */
    ev_tstamp since;                            /* when the health state last flipped */
    unsigned long total_passes, total_failures; /* since start, for /status and /metrics */
    struct sidecar *sc;
};

/* Probe attempts of one kind, for /metrics. */
struct sidecar_probe_stats {
    struct hist duration;
    unsigned long pass, fail, timeout;
};

/* SIGHUP reloads, for /status and /metrics. */
struct sidecar_reloads {
    unsigned long ok, rejected; /* the config generation is ok + 1 */
    double last_at;           /* 0 = never */
    bool last_ok;
    char last_error[512]; /* the first line of why the last one was rejected */
};

struct sidecar {
    struct ev_loop *loop;
    struct mr_config *cfg;
    struct check *checks;
    size_t nchecks;
    struct names *names; /* checks by name; NULL (out of memory): a linear search */
    /* start-up above LOG_START_DETAIL_MAX checks (README "Probes under load") */
    bool quiet_start, said_registered;
    size_t start_healthy, start_nreg;
    struct regset *regs; /* one registry per cluster */
    struct admin *admin;
    struct agent *agent; /* HAProxy agent-check, NULL when off */
    struct drain drain;
    struct spool spool; /* admin drains, per scope (README "Drains") */
    struct sidecar_probe_stats probe_stats[PROBE_GRPC + 1]; /* per enum probe_kind */
    struct sidecar_reloads reloads;
    struct lbwatch lbwatch; /* --adaptive-drain: who polls us */
    ev_timer tick;
    bool ticking, tick_again; /* tick(): a round is running / another is due */
    ev_signal sig_term, sig_int, sig_hup, sig_usr1, sig_usr2;
    struct supervise app; /* wrapper mode only */
    bool wrapper;
    unsigned long gen; /* bumped on every visible state change */
    ev_tstamp started;
    int exit_code;
    int argc; /* for reloads */
    char **argv, **envp;
};

/* Runs until the drain is over. argc/argv/envp are what config_load got,
 * kept for SIGHUP reloads. Takes ownership of cfg (it may be replaced by a
 * reload and is freed before returning). Returns the exit status. */
int sidecar_run(struct mr_config *cfg, int argc, char **argv, char **envp);

/* True when the check is healthy, not drained and not shutting down
 * (for a worker: healthy and not shutting down). */
bool sidecar_check_up(const struct sidecar *sc, const struct check *c);
/* True when the backend confirmed this check's record in every cluster it
 * is placed in (false for a registration placed nowhere). */
bool sidecar_check_registered(const struct sidecar *sc, const struct check *c);
/* The check called name[0..len), or NULL (hashed: README "Probes under load"). */
const struct check *sidecar_find(const struct sidecar *sc, const char *name, size_t len);

/* Requests (from the admin side through sidecar/view.c, or a signal); they
 * only record intent and kick the tick. */
struct admin_drain_request;
struct admin_drain_result;
void sidecar_request_drain(struct sidecar *sc, const struct admin_drain_request *r,
                           struct admin_drain_result *out);
void sidecar_request_undrain(struct sidecar *sc, const char *scope, struct admin_drain_result *out);
/* The admin drain that covers check c now, or NULL. */
const struct spool_entry *sidecar_check_drain(const struct sidecar *sc, const struct check *c);
/* Reloads the configuration unless shutting down; why names the asker in
 * the log ("SIGHUP"). */
void sidecar_request_reload(struct sidecar *sc, const char *why);
/* A load balancer polled /health or the agent port and was answered
 * draining or not (only called with --adaptive-drain). */
void sidecar_note_poll(struct sidecar *sc, const char *peer, bool draining);
/* A check's probe result (the callback sidecar/checkset.c gives each
 * probe): rise/fall, then the registration's record in every cluster. */
struct probe;
void sidecar_probe_result(struct probe *p, bool pass, const char *detail, void *arg);

#endif
