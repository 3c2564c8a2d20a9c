/* Child names of the ZooKeeper backend, the way nerve writes them and synapse
 * reads them (README "Backends"). Each record is an ephemeral sequential
 * znode: we create PREFIX and ZooKeeper appends a 10-digit sequence.
 *   plain:          "<instance_id>_"                    + sequence
 *   path encoding:  "base64_<len>_<b64url(record)>_"    + sequence
 * where <len> is the length of the base64 text (URL-safe alphabet, '='
 * padding kept) and names whose base64 text would exceed
 * ZK_NAME_ENCODED_MAX fall back to the plain form, as nerve does. synapse
 * takes a backend's id from the digits after the last '_' and, for an
 * encoded name, reads the record from the name instead of the node.
 * Pure string work: no I/O, no ZooKeeper. */
#ifndef MESHREG_ZK_NAME_H
#define MESHREG_ZK_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define ZK_NAME_SEQ_DIGITS 10
#define ZK_NAME_ENCODED_MAX 65536
#define ZK_NAME_ENCODED_TAG "base64_"

/* The prefix to create a record under. instance_id is the first id_len bytes
 * of its argument (the registry key "<instance_id>_<port>" can be passed as
 * is with zk_name_id_len). With encode, the record data (len bytes) goes into
 * the name unless too long. Returns a new string, NULL when out of memory. */
char *zk_name_prefix(const char *instance_id, size_t id_len, const char *data, size_t len,
                     bool encode);

/* Length of the instance id in a registry key "<instance_id>_<port>": up to
 * its last '_' (the whole key when it has none). */
size_t zk_name_id_len(const char *key);

/* True when child is prefix followed by exactly ZK_NAME_SEQ_DIGITS digits,
 * i.e. a node ZooKeeper created for a create of prefix. */
bool zk_name_matches(const char *child, const char *prefix);

/* synapse's id of a child: the digits after its last '_' as a number, or -1
 * when that part is empty or not all digits. */
long long zk_name_seq(const char *child);

/* The record an encoded child name carries (synapse's reading: the length
 * after "base64_", then that many characters of base64). Returns a new
 * NUL-terminated string and its length in *len, or NULL when the name is not
 * encoded or does not decode. */
char *zk_name_decode(const char *child, size_t *len);

#endif
