/* A JSON-schema-like validator over ytree nodes, driven by const tables, so that
 * the smartstack.yaml schema reads like PaaSTA's smartstack_schema.json and every
 * problem is reported as FILE:LINE:COL at the offending node.
 *
 * Values are what PyYAML builds (README "Same verdicts as paasta validate"):
 * dates, bytes, sets and tuples have no JSON type; NaN passes every
 * minimum/maximum (Python's comparisons are false); a non-string key is
 * never a named property.
 *
 * Supported: type (any set of null/boolean/integer/number/string/map/list),
 * enum, pattern (as a C predicate plus its text for messages), minimum/maximum,
 * properties, additionalProperties (false, a schema, or anything), required,
 * minProperties and items. "number" accepts integers; booleans are never numbers. */
#ifndef MESHREG_YSCHEMA_H
#define MESHREG_YSCHEMA_H

#include <stdbool.h>
#include <stddef.h>

struct diag;
struct ytree_node;

enum {
    YS_NULL = 1 << 0,
    YS_BOOL = 1 << 1,
    YS_INT = 1 << 2,
    YS_NUMBER = 1 << 3, /* integer or float */
    YS_STRING = 1 << 4,
    YS_MAP = 1 << 5,
    YS_LIST = 1 << 6,
};

struct yschema_prop;

struct yschema {
    unsigned types;                             /* YS_* bits; 0 = any type */
    const char *const *enumv;                   /* NULL-terminated allowed strings, or NULL */
    bool (*pattern)(const char *s, size_t len); /* s may hold NUL bytes */
    const char *pattern_text;                   /* shown in the message when pattern fails */
    bool has_min, has_max;
    double min, max;
    const struct yschema_prop *props; /* terminated by {NULL, NULL} */
    const struct yschema *addl;       /* schema for keys not in props */
    bool closed;                      /* additionalProperties: false */
    const char *const *required;      /* NULL-terminated */
    int min_props;
    const struct yschema *items; /* for lists */
};

struct yschema_prop {
    const char *key;
    const struct yschema *schema;
};

/* Validates n against s. `path` names n in messages ("main.proxy_port");
 * `key` (may be NULL) is the mapping key n is the value of: errors about n as a
 * whole (missing required keys, an empty value) point at it, which reads better
 * than pointing at n's first child. Returns the number of errors added to d. */
int yschema_check(const struct yschema *s, const struct ytree_node *n, const struct ytree_node *key,
                  const char *path, struct diag *d);

/* Describes a scalar for messages: `string "abc"`, `integer 5`, `map`. */
void yschema_describe(const struct ytree_node *n, char *buf, size_t len);

#endif
