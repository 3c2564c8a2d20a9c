/* YAML 1.1 scalars exactly as PyYAML's SafeLoader reads them (what `paasta
 * validate` sees, README "Same verdicts as paasta validate"):
 *
 * - implicit resolution of a plain scalar (or one tagged "!") by PyYAML's
 *   resolver patterns: null (~, null, Null, NULL, empty), bool (yes/no,
 *   true/false, on/off in three casings), int (0b..., 0x..., leading-0 octal,
 *   decimal, sexagesimal 1:30; `_` anywhere after the first character; no 0o,
 *   no uppercase 0B/0X), float (needs a dot: 1.5, 1., .5, 1.5e+3 (the
 *   exponent needs its sign), sexagesimal 1:30.5, .inf/-.inf, .nan), timestamp
 *   (2001-12-14, 2001-12-14 21:59:43.10 -5), merge (<<), value (=), else str;
 * - construction under an explicit tag (!!int, !!float, !!bool, !!null,
 *   !!str, !!timestamp, !!binary), with PyYAML's failures: a matched pattern
 *   can still fail to construct (0b_, 2001-02-30, a timezone of 24 h), which
 *   makes the whole load fail, and so does any tag it has no constructor for
 *   (!custom, !!merge, the `=` and `<<` values). */
#ifndef MESHREG_YAML11_H
#define MESHREG_YAML11_H

#include <stdbool.h>
#include <stddef.h>

enum yaml11_type {
    YAML11_NULL,
    YAML11_BOOL,
    YAML11_INT,
    YAML11_FLOAT,
    YAML11_STR,
    YAML11_TIMESTAMP, /* datetime.date or datetime.datetime */
    YAML11_BINARY,    /* bytes */
};

struct yaml11_value {
    enum yaml11_type type;
    bool b;
    long long i; /* saturated when big */
    bool big;    /* an integer beyond long long (Python's are unbounded) */
    double f;    /* the number as a double, also for integers */
};

#define YAML11_TAG "tag:yaml.org,2002:"

/* The tag PyYAML's resolver gives the plain scalar s (len bytes), as its
 * suffix: "null", "bool", "int", "float", "timestamp", "merge", "value",
 * "yaml" or "str". */
const char *yaml11_implicit(const char *s, size_t len);

/* Constructs the scalar s under the full tag `tag` ("tag:yaml.org,2002:int",
 * "!custom"). Returns 0, or -1 with the reason in err (PyYAML would raise). */
int yaml11_construct(const char *tag, const char *s, size_t len, struct yaml11_value *v, char *err,
                     size_t errlen);

#endif
