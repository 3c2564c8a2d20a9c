/* ZooKeeper cluster topology files of a PaaSTA host (README "Backends",
 * smartstack): <etc_dir>/zookeeper_discovery/<cluster_type>/<location>.yaml
 * holds a YAML list of [host, port] pairs, the hosts of the cluster that
 * serves <location> (nerve-tools' CEP 355 discovery). */
#ifndef MESHREG_TOPOLOGY_H
#define MESHREG_TOPOLOGY_H

#include <stddef.h>

/* Reads the topology of one location's cluster. Returns 1 with *hosts set
 * to "h:p,h:p" (caller frees) and *path to the file read (caller frees, may
 * be NULL to not ask); 0 when the file does not exist (nerve-tools then
 * skips the location; *path still set); -1 with err holding one
 * "FILE:LINE:COL: message" line per problem. */
int topology_load(const char *etc_dir, const char *cluster_type, const char *location,
                  char **hosts, char **path, char *err, size_t errlen);

/* The file topology_load reads (caller frees). */
char *topology_path(const char *etc_dir, const char *cluster_type, const char *location);

#endif
