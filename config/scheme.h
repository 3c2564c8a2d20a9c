/* The one table of backend URI schemes (README "Backends"): settings
 * validation, `meshreg check` and the sidecar's construction all read it, so
 * a scheme exists everywhere or nowhere.
 *
 * A single-cluster scheme (file:, zk://, etcd://) names one store and its
 * URI is handed whole to that backend's parser. A multi-cluster scheme
 * (smartstack[:CLUSTER_TYPE]) names a rule: the clusters come from the
 * host's layout, one per location a registration is placed in. */
#ifndef MESHREG_SCHEME_H
#define MESHREG_SCHEME_H

#include <stdbool.h>
#include <stddef.h>

/* X(KIND, name, syntax, multi_cluster): one line per scheme. */
#define SCHEME_TABLE(X)                                                                            \
    X(FILE, "file", "file:DIR", false)                                                             \
    X(ZK, "zk", "zk://H:P[,H:P]/ROOT", false)                                                      \
    X(ETCD, "etcd", "etcd://H:P[,H:P]/PREFIX", false)                                              \
    X(ETCDS, "etcds", "etcds://H:P[,H:P]/PREFIX", false)                                           \
    X(SMARTSTACK, "smartstack", "smartstack[:CLUSTER_TYPE]", true)

#define SCHEME_ENUM_(kind, name, syntax, multi) SCHEME_##kind,
enum scheme_kind { SCHEME_TABLE(SCHEME_ENUM_) SCHEME_COUNT };
#undef SCHEME_ENUM_

/* Every scheme's syntax, for --help: "file:DIR | zk://... | ...". */
#define SCHEME_SYNTAX_(kind, name, syntax, multi) " | " syntax
#define SCHEME_HELP_ALL ("" SCHEME_TABLE(SCHEME_SYNTAX_) + 3)

/* smartstack's cluster type when the URI names none (nerve-tools' default). */
#define SCHEME_DEFAULT_CLUSTER_TYPE "infrastructure"

struct scheme {
    enum scheme_kind kind;
    const char *name;   /* "zk": the URI starts "zk:" (or is exactly "smartstack") */
    const char *syntax; /* for messages */
    bool multi_cluster;
};

/* The scheme of a backend URI, or NULL when no scheme matches. */
const struct scheme *scheme_find(const char *uri);
/* The table entry of a kind (never NULL for kind < SCHEME_COUNT). */
const struct scheme *scheme_get(enum scheme_kind kind);

/* Checks a URI's scheme and, for multi-cluster schemes, the whole URI (the
 * single-cluster backends parse the rest themselves). -1 with err naming
 * every accepted syntax. */
int scheme_check(const char *uri, char *err, size_t errlen);

/* smartstack[:CLUSTER_TYPE]: the cluster type (a copy, caller frees), the
 * default when none is given; NULL with err for a bad URI. */
char *scheme_cluster_type(const char *uri, char *err, size_t errlen);

#endif
