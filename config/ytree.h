/* A small YAML tree on top of libyaml: scalars, sequences and mappings with the
 * 1-based line/column of every node, so validators can say FILE:LINE:COL.
 *
 * Plain scalars are resolved the way PyYAML (which PaaSTA uses) resolves them:
 * null (~, null, empty), bool (true/false/yes/no/on/off), int (decimal, 0x, 0o,
 * 0b, leading-0 octal), float (with a dot or exponent, .inf, .nan), else string.
 * Quoted and block scalars, and anything tagged !!str, are strings: so
 * `proxy_port: "20000"` is a string and fails an integer check.
 *
 * Duplicate keys are an error (PyYAML silently keeps the last; a typo'd copy of
 * a namespace is too easy to miss). Anchors/aliases are expanded by copying and
 * `<<` merge keys are supported, because yelpsoa-configs instance files use them;
 * expansion is capped so an alias bomb fails instead of eating memory. Only one
 * document per file. */
#ifndef MESHREG_YTREE_H
#define MESHREG_YTREE_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

enum ytree_kind { YTREE_SCALAR, YTREE_SEQ, YTREE_MAP };

/* Resolved type of a scalar. */
enum ytree_stype { YTREE_NULL, YTREE_BOOL, YTREE_INT, YTREE_FLOAT, YTREE_STR };

struct ytree_node;

struct ytree_pair {
    struct ytree_node *key; /* always a scalar */
    struct ytree_node *value;
};

struct ytree_node {
    enum ytree_kind kind;
    int line, col;    /* 1-based position of the node's start */
    const char *file; /* file name for messages; owned by the doc */

    /* YTREE_SCALAR */
    char *str; /* the scalar's text as written (unquoted) */
    enum ytree_stype stype;
    bool quoted; /* quoted or block style (never resolved) */
    long long ival;
    double fval; /* also set for ints */
    bool bval;

    /* YTREE_SEQ */
    struct ytree_node **items;
    size_t nitems;

    /* YTREE_MAP, in document order, merge keys already applied */
    struct ytree_pair *pairs;
    size_t npairs;
};

struct ytree_doc {
    char *file;
    struct ytree_node *root; /* NULL for an empty document */
};

/* Parses text (len bytes) named `name` in messages. On error returns -1 and adds
 * "NAME:LINE:COL: message" lines to d; *out is then NULL. */
int ytree_parse(const char *name, const char *text, size_t len, struct ytree_doc **out,
                struct diag *d);
/* Reads and parses a file; an unreadable file is "PATH: cannot read: reason". */
int ytree_load_file(const char *path, struct ytree_doc **out, struct diag *d);
void ytree_doc_free(struct ytree_doc *doc);

/* Value of key in a mapping, or NULL (also when n is not a mapping). */
struct ytree_node *ytree_map_get(const struct ytree_node *n, const char *key);
/* Human name of a node's type for messages: "string", "integer", "number",
 * "boolean", "null", "list", "map". */
const char *ytree_type_name(const struct ytree_node *n);
/* True when n is a scalar resolved to type t. */
bool ytree_is_scalar(const struct ytree_node *n, enum ytree_stype t);
/* A number (int or float scalar). */
bool ytree_is_number(const struct ytree_node *n);

#endif
