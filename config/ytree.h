/* A small YAML tree on top of libyaml: scalars, sequences and mappings with the
 * 1-based line/column of every node, so validators can say FILE:LINE:COL.
 *
 * It reads what PyYAML's safe_load reads (PaaSTA's loader; README "Same
 * verdicts as paasta validate"): scalars are resolved and constructed by
 * config/yaml11.c (YAML 1.1: yes/no booleans, 0b/0x/leading-0 octal and
 * sexagesimal integers, floats with a dot, dates); quoted and block scalars
 * and !!str are strings; a tag PyYAML has no constructor for (!custom) and a
 * scalar its constructor refuses (0b_, 2001-02-30) are errors; !!set, !!omap
 * and !!pairs values are kept but have no JSON type.
 *
 * Duplicate keys: the last one wins, as in PyYAML (keys compare as Python
 * values: 1, 1.0 and true are one key), with a warning. Anchors/aliases are
 * expanded by copying and `<<` merge keys follow PyYAML's flatten_mapping; a
 * redefined anchor is an error, as in PyYAML. Expansion is capped so an alias
 * bomb fails instead of eating memory. Only one document per file. */
#ifndef MESHREG_YTREE_H
#define MESHREG_YTREE_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

enum ytree_kind { YTREE_SCALAR, YTREE_SEQ, YTREE_MAP };

/* Resolved type of a scalar. */
enum ytree_stype {
    YTREE_NULL,
    YTREE_BOOL,
    YTREE_INT,
    YTREE_FLOAT,
    YTREE_STR,
    YTREE_TIME,  /* a date or date-time: no JSON type */
    YTREE_BYTES, /* !!binary: no JSON type */
};

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
    char *str;  /* the scalar's text as written (unquoted) */
    size_t len; /* of str; more than strlen(str) when it holds a NUL byte */
    enum ytree_stype stype;
    bool quoted; /* quoted or block style (never resolved) */
    long long ival;
    bool big;    /* an integer beyond long long: ival saturated, fval approximate */
    double fval; /* also set for ints */
    bool bval;

    /* Any kind: a Python value JSON has no type for ("set" for !!set,
     * "tuple" for the items of !!omap/!!pairs), or NULL. */
    const char *other;

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

/* Value of the string key `key` in a mapping, or NULL (also when n is not a
 * mapping). */
struct ytree_node *ytree_map_get(const struct ytree_node *n, const char *key);
/* Human name of a node's type for messages: "string", "integer", "number",
 * "boolean", "null", "list", "map". */
const char *ytree_type_name(const struct ytree_node *n);
/* True when n is a scalar resolved to type t. */
bool ytree_is_scalar(const struct ytree_node *n, enum ytree_stype t);
/* A number (int or float scalar). */
bool ytree_is_number(const struct ytree_node *n);

#endif
