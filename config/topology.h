/* ZooKeeper cluster topology files of a PaaSTA host (README "Backends",
 * smartstack): <etc_dir>/zookeeper_discovery/<cluster_type>/<location>.yaml
 * holds a YAML list of [host, port] pairs, the hosts of the cluster that
 * serves <location> (nerve-tools' CEP 355 discovery). */
#ifndef MESHREG_TOPOLOGY_H
#define MESHREG_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

struct diag;
struct mr_config;

/* Reads the topology of one location's cluster. Returns 1 with *hosts set
 * to "h:p,h:p" (caller frees) and *path to the file read (caller frees, may
 * be NULL to not ask); 0 when the file does not exist (nerve-tools then
 * skips the location; *path still set); -1 with err holding one
 * "FILE:LINE:COL: message" line per problem. */
int topology_load(const char *etc_dir, const char *cluster_type, const char *location,
                  char **hosts, char **path, char *err, size_t errlen);

/* The file topology_load reads (caller frees). */
char *topology_path(const char *etc_dir, const char *cluster_type, const char *location);

/* With a multi-cluster backend (smartstack), reads the topology file of
 * every location a registration of cfg is placed in, so a malformed one
 * fails the configuration (`meshreg check`, start, reload) with its
 * FILE:LINE:COL. Absent files are fine (skipped at run time). -1 after adding
 * every problem to d; 0 otherwise (and always for other backends). */
int topology_check_config(const struct mr_config *cfg, struct diag *d);

/* The `meshreg check` hook (placement_cluster_fn) for smartstack: arg is the
 * struct mr_config; desc gets "zk://HOSTS/smartstack/global" when the
 * location has a topology file. */
bool topology_describe(const char *zk_location, char *desc, size_t desclen, void *arg);

#endif
