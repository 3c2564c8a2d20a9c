#include "config/yschema.h"

#include <stdio.h>
#include <string.h>

#include "config/diag.h"
#include "config/ytree.h"

void yschema_describe(const struct ytree_node *n, char *buf, size_t len)
{
    if (!n) {
        snprintf(buf, len, "nothing");
    } else if (n->kind != YTREE_SCALAR || n->other || n->stype == YTREE_NULL) {
        snprintf(buf, len, "%s", ytree_type_name(n));
    } else if (n->stype == YTREE_STR) {
        snprintf(buf, len, "string \"%.60s%s\"", n->str, strlen(n->str) > 60 ? "..." : "");
    } else {
        snprintf(buf, len, "%s %.60s", ytree_type_name(n), n->str);
    }
}

/* JSON Schema's types of what PyYAML built: a set, a tuple, a date or bytes
 * is none of them. */
static bool type_ok(unsigned types, const struct ytree_node *n)
{
    if (!types)
        return true;
    if (n->other)
        return false;
    if (n->kind == YTREE_MAP)
        return types & YS_MAP;
    if (n->kind == YTREE_SEQ)
        return types & YS_LIST;
    switch (n->stype) {
    case YTREE_NULL:
        return types & YS_NULL;
    case YTREE_BOOL:
        return types & YS_BOOL;
    case YTREE_INT:
        return types & (YS_INT | YS_NUMBER);
    case YTREE_FLOAT:
        return types & YS_NUMBER;
    case YTREE_STR:
        return types & YS_STRING;
    case YTREE_TIME:
    case YTREE_BYTES:
        break;
    }
    return false;
}

static void types_text(unsigned types, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{YS_MAP, "map"},     {YS_LIST, "list"},     {YS_STRING, "string"},
                 {YS_INT, "integer"}, {YS_NUMBER, "number"}, {YS_BOOL, "boolean"},
                 {YS_NULL, "null"}};
    size_t off = 0;
    int count = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(types & names[i].bit))
            continue;
        off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", count ? " or " : "",
                                names[i].name);
        count++;
    }
}

static void enum_text(const char *const *e, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; e[i]; i++)
        off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", i ? ", " : "", e[i]);
}

/* Implicit nulls (`key:` with nothing after it) have a position after the colon
 * that reads oddly; point at the key instead. */
static const struct ytree_node *where(const struct ytree_node *n, const struct ytree_node *key)
{
    if (key && n->kind == YTREE_SCALAR && n->stype == YTREE_NULL && n->str[0] == '\0')
        return key;
    return n;
}

static int check_scalar(const struct yschema *s, const struct ytree_node *n, const char *path,
                        struct diag *d)
{
    int errs = 0;
    char desc[160];
    if (s->enumv) {
        bool ok = false;
        for (int i = 0; s->enumv[i] && !ok; i++)
            ok = ytree_is_scalar(n, YTREE_STR) && !n->other && n->len == strlen(s->enumv[i]) &&
                 strcmp(n->str, s->enumv[i]) == 0;
        if (!ok) {
            char et[400];
            enum_text(s->enumv, et, sizeof(et));
            yschema_describe(n, desc, sizeof(desc));
            diag_node(d, n, "%s: %s is not one of: %s", path, desc, et);
            errs++;
        }
    }
    if (n->kind != YTREE_SCALAR)
        return errs;
    if (s->pattern && n->stype == YTREE_STR && !s->pattern(n->str, n->len)) {
        diag_node(d, n, "%s: \"%.200s\" does not match %s", path, n->str, s->pattern_text);
        errs++;
    }
    if ((n->stype == YTREE_INT || n->stype == YTREE_FLOAT) && (s->has_min || s->has_max)) {
        /* As Python compares: NaN is neither below nor above anything. */
        double v = n->fval;
        bool lo = s->has_min && v < s->min, hi = s->has_max && v > s->max;
        if (lo || hi) {
            if (s->has_min && s->has_max)
                diag_node(d, n, "%s: %s is out of range %.15g..%.15g", path, n->str, s->min,
                          s->max);
            else if (lo)
                diag_node(d, n, "%s: %s is below the minimum %.15g", path, n->str, s->min);
            else
                diag_node(d, n, "%s: %s is above the maximum %.15g", path, n->str, s->max);
            errs++;
        }
    }
    return errs;
}

static int check_map(const struct yschema *s, const struct ytree_node *n,
                     const struct ytree_node *key, const char *path, struct diag *d)
{
    int errs = 0;
    char sub[512];
    const struct ytree_node *at = key ? key : n;
    if (s->min_props && (int)n->npairs < s->min_props) {
        diag_node(d, at, "%s: needs at least %d entr%s", path, s->min_props,
                  s->min_props == 1 ? "y" : "ies");
        errs++;
    }
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ytree_node *k = n->pairs[i].key, *v = n->pairs[i].value;
        const struct yschema *vs = NULL;
        bool skey = k->stype == YTREE_STR && strlen(k->str) == k->len;
        for (const struct yschema_prop *p = s->props; skey && p && p->key; p++)
            if (strcmp(p->key, k->str) == 0)
                vs = p->schema;
        if (*path)
            snprintf(sub, sizeof(sub), "%s.%s", path, k->str);
        else
            snprintf(sub, sizeof(sub), "%s", k->str);
        if (!vs && s->closed) {
            diag_node(d, k, "%s: unknown key '%s'", *path ? path : "top level", k->str);
            errs++;
            continue;
        }
        if (!vs)
            vs = s->addl;
        if (vs)
            errs += yschema_check(vs, v, k, sub, d);
    }
    for (const char *const *r = s->required; r && *r; r++) {
        if (!ytree_map_get(n, *r)) {
            diag_node(d, at, "%s: missing required key '%s'", path, *r);
            errs++;
        }
    }
    return errs;
}

int yschema_check(const struct yschema *s, const struct ytree_node *n, const struct ytree_node *key,
                  const char *path, struct diag *d)
{
    char desc[160], tt[120];
    if (!type_ok(s->types, n)) {
        types_text(s->types, tt, sizeof(tt));
        yschema_describe(n, desc, sizeof(desc));
        diag_node(d, where(n, key), "%s: expected %s, got %s", path, tt, desc);
        return 1;
    }
    int errs = check_scalar(s, n, path, d);
    if (n->kind == YTREE_MAP)
        errs += check_map(s, n, key, path, d);
    if (n->kind == YTREE_SEQ && s->items) {
        char sub[512];
        for (size_t i = 0; i < n->nitems; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            errs += yschema_check(s->items, n->items[i], NULL, sub, d);
        }
    }
    return errs;
}
