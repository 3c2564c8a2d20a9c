/* Effective checks: turns "serve service S, instance I on port P" (plus the
 * registrations asked for and the instance config) into check_specs, reading
 * each smartstack.yaml involved once.
 *
 * Choices the SPEC leaves open, made here:
 * - Registrations asked for explicitly (flag, config file, instance config or a
 *   services: item) must all exist; `other.ns` of another service reads
 *   <soa_dir>/other/smartstack.yaml and needs soa_dir. With none asked for,
 *   namespace `instance` of the service's own smartstack.yaml is registered if
 *   present; otherwise the instance is a worker.
 * - A smartstack.yaml that was not named anywhere (default ./smartstack.yaml or
 *   the soa_dir one) may be missing: that is a worker. One named explicitly
 *   must exist.
 * - A registration's probe follows its smartstack entry (as nerve's does):
 *   healthcheck_mode, else mode, else http; http2 probes as http. Its timeout
 *   is healthcheck_timeout_s (default 1 s); the interval --interval-ms, else
 *   (timeout+1) s. healthcheck_mode cmd takes the command from the instance
 *   config's (or services: item's) healthcheck_cmd; grpc checks the gRPC
 *   service named by healthcheck_uri without its leading '/' ("" = server).
 * - A worker's probe comes from the instance config: healthcheck_mode if set,
 *   else cmd when healthcheck_cmd is set, else tcp on the app port (the
 *   closest meshreg can get to "the process serves"; PaaSTA itself has no
 *   probe then). http/https workers probe /status on the app port. The
 *   instance config's interval/timeout/max_consecutive_failures/grace keys
 *   drive it, with --interval-ms/--fall flags winning over them.
 * - Precedence for keys the instance config also carries (registrations,
 *   weight, drain seconds, worker interval/fall): flag > environment >
 *   instance config > meshreg config file > default. The instance config is
 *   the service owner's word about this very instance; a meshreg config file
 *   is usually shared by many.
 * - Labels and placements: computed as nerve-tools' configure_nerve does
 *   (config/placement.h, README "Placements") from the host's location db
 *   (cfg->locdb); the check's labels are the union of its placements' labels
 *   plus deploy_group (env PAASTA_DEPLOY_GROUP), paasta_instance (the
 *   instance) and the custom labels of --labels-dir. http/https probes send
 *   x-smartstack-target-identity: <svc.ns>, as nerve-tools' checks do. */
#ifndef MESHREG_CHECKS_H
#define MESHREG_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/settings.h"

struct diag;
struct smartstack;

/* One service to serve (pod mode: one; VM mode: one per services: item). */
struct checks_req {
    const char *service;
    const char *instance;
    int port;
    const struct settings_list *registrations; /* asked for explicitly, or NULL */
    const char *smartstack;                    /* its smartstack.yaml */
    bool smartstack_explicit;                  /* named by the user: must exist */
    const char *healthcheck_cmd;               /* NULL: none */
    const char *healthcheck_mode;              /* worker probe mode, NULL: default */
    const char *cmd_origin;                    /* where healthcheck_cmd was written */
    int rise;
    int reg_fall, worker_fall;
    int reg_interval_ms, worker_interval_ms; /* 0: (timeout + 1) s */
    double worker_timeout_s, worker_grace_s; /* < 0: unset */
    int weight;
    const char *origin; /* "FILE:L:C" of the services: item, or NULL */
};

/* Caches parsed smartstack.yaml files across requests. */
struct checks_cache;

struct checks_cache *checks_cache_new(void);
void checks_cache_free(struct checks_cache *c);

/* Appends the checks of req to cfg->checks (reads cfg->locdb, labels_dir and
 * zk_location_type). Returns -1 after adding every
 * problem to d. */
int checks_build(const struct settings *s, const struct checks_req *req, struct checks_cache *cache,
                 struct mr_config *cfg, struct diag *d);

/* Frees what a check_spec owns (not the struct itself). */
void checks_spec_clear(struct check_spec *c);

#endif
