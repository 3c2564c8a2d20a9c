/* Placements: where one registration's record goes and what labels it
 * carries, computed the way Yelp's nerve-tools (configure_nerve) computes them
 * (README "Placements"):
 * - the locations to register in: this host's location of each `advertise`
 *   type (default [region]); plus, for each `extra_advertise` SRC -> DST whose
 *   SRC is this host's location, DST converted into each advertise type at
 *   least as specific as DST's type ("no upcast": an advertise type more
 *   general than DST's would widen the audience, so it is skipped);
 * - each location is converted into --zk-location-type: one placement per
 *   resulting location (the cluster), holding a "TYPE:LOC": "" label for every
 *   location registered in through that cluster, the custom labels of
 *   --labels-dir, deploy_group and paasta_instance.
 * Without a location hierarchy (a host with no location_*.json) nothing can
 * be converted: extra_advertise destinations are taken as written (meshreg's
 * behaviour before host layouts) and the one placement has no cluster. */
#ifndef MESHREG_PLACEMENT_H
#define MESHREG_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct check_spec;
struct diag;
struct kv;
struct location_db;

/* The ZooKeeper path of a registration's records on a SmartStack mesh. */
#define PLACEMENT_ZK_ROOT "/smartstack/global"

struct placement {
    char *zk_location;        /* location of type --zk-location-type whose cluster gets
                                 this record (NULL when the db cannot say) */
    char *adv_type, *adv_loc; /* the first TYPE:LOC this record advertises */
    struct kv *labels;        /* full record labels: "TYPE:LOC" -> "", custom labels
                                 (--labels-dir), deploy_group, paasta_instance */
    size_t nlabels;
    char **advertised; /* every "TYPE:LOC" registered in through this cluster */
    size_t nadvertised;
};

struct placement_set {
    struct placement *v;
    size_t n;
    char **notes; /* why something was skipped, for `meshreg check` and the log */
    size_t nnotes;
};

/* What a check_spec carries for placement_compute (filled by config/checks.c). */
struct placement_input {
    char **advertise; /* resolved: the smartstack entry's, or [region] */
    size_t nadvertise;
    struct kv *extra_advertise; /* one SRC -> DST pair per destination, in order */
    size_t nextra_advertise;
    struct kv *custom_labels; /* from --labels-dir */
    size_t ncustom_labels;
    char *deploy_group; /* NULL: unknown */
};

/* Computes spec's placements (spec->place_in, spec->instance as
 * paasta_instance) into *out (zeroed first). A location or type the db does
 * not know is skipped with a note, as nerve-tools would not register there
 * either; no advertise location at all gives no placement. Returns 0; -1 only
 * on invalid arguments (err set). */
int placement_compute(const struct location_db *db, const struct check_spec *spec,
                      const char *zk_location_type, struct placement_set *out, char *err,
                      size_t errlen);
void placement_set_free(struct placement_set *set);
bool placement_set_equal(const struct placement_set *a, const struct placement_set *b);
void placement_input_clear(struct placement_input *in);

/* The record labels of a check (check_spec.labels): every placement's labels,
 * plus the custom labels, deploy_group and paasta_instance even when there is
 * no placement (what a single-cluster backend writes). Appended to *labels. */
void placement_union_labels(const struct placement_set *set, const struct check_spec *spec,
                            struct kv **labels, size_t *nlabels);

/* nerve-tools' custom labels: every file in labels_dir whose name starts with
 * "<svc.ns><port>" (its glob "<svc.ns><port>*"), in name order, each a YAML
 * map of label -> scalar; later files win. A missing directory is no labels;
 * a malformed file is -1 with "FILE:LINE:COL: ..." added to d. */
int placement_load_labels(const char *labels_dir, const char *name, int port, struct kv **out,
                          size_t *nout, struct diag *d);

/* Describes the cluster of zk_location into desc for `meshreg check`;
 * returns false when there is none (the smartstack backend: no topology
 * file, the placement is skipped). */
typedef bool (*placement_cluster_fn)(const char *zk_location, char *desc, size_t desclen,
                                     void *arg);

/* Writes one "  placement ..." line per placement of spec (cluster location,
 * ZooKeeper path, labels), its notes, and with `smartstack` a warning when no
 * placement has a cluster. cluster (may be NULL: every placement with a
 * location counts) says which clusters exist. */
void placement_print(FILE *f, const struct check_spec *spec, const char *zk_location_type,
                     placement_cluster_fn cluster, void *arg, bool smartstack);

#endif
