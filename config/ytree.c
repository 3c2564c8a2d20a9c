#include "config/ytree.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/cmem.h"
#include "config/diag.h"

/* Limits that turn hostile input into an error instead of a crash. */
#define YTREE_MAX_DEPTH 64
#define YTREE_MAX_NODES 200000
#define YTREE_MAX_FILE (16 * 1024 * 1024)

struct anchor {
    char *name;
    struct ytree_node *node;
};

struct parse {
    yaml_parser_t parser;
    struct ytree_doc *doc;
    struct diag *d;
    struct anchor *anchors;
    size_t nanchors;
    size_t nodes;
    struct ytree_node **dropped; /* nodes left out of the tree; anchors may point in */
    size_t ndropped;
    bool failed; /* a fatal error: stop parsing */
    bool errors; /* any error, fatal or not */
};

static void node_free(struct ytree_node *n)
{
    if (!n)
        return;
    free(n->str);
    for (size_t i = 0; i < n->nitems; i++)
        node_free(n->items[i]);
    free(n->items);
    for (size_t i = 0; i < n->npairs; i++) {
        node_free(n->pairs[i].key);
        node_free(n->pairs[i].value);
    }
    free(n->pairs);
    free(n);
}

void ytree_doc_free(struct ytree_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->file);
    free(doc);
}

static void perr(struct parse *p, int line, int col, const char *msg)
{
    diag_add(p->d, "%s:%d:%d: %s", p->doc->file, line, col, msg);
    p->errors = true;
}

static void fatal(struct parse *p, int line, int col, const char *msg)
{
    perr(p, line, col, msg);
    p->failed = true;
}

static void syntax_error(struct parse *p)
{
    yaml_parser_t *y = &p->parser;
    char msg[512];
    const char *problem = y->problem ? y->problem : "invalid YAML";
    if (y->context)
        snprintf(msg, sizeof(msg), "%s %s", y->context, problem);
    else
        snprintf(msg, sizeof(msg), "%s", problem);
    fatal(p, (int)y->problem_mark.line + 1, (int)y->problem_mark.column + 1, msg);
}

static struct ytree_node *node_new(struct parse *p, enum ytree_kind kind, yaml_mark_t mark)
{
    if (++p->nodes > YTREE_MAX_NODES) {
        fatal(p, (int)mark.line + 1, (int)mark.column + 1,
              "document too large (too many nodes, alias expansion?)");
        return NULL;
    }
    struct ytree_node *n = cmem_calloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark.line + 1;
    n->col = (int)mark.column + 1;
    n->file = p->doc->file;
    return n;
}

static bool is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* Integer forms PyYAML (YAML 1.1) knows, minus sexagesimal. Underscores allowed. */
static bool parse_int(const char *s, long long *out)
{
    char buf[128];
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '_')
            continue;
        if (j + 1 >= sizeof(buf))
            return false;
        buf[j++] = s[i];
    }
    buf[j] = '\0';
    const char *q = buf;
    bool neg = false;
    if (*q == '+' || *q == '-')
        neg = *q++ == '-';
    if (!*q || s[0] == '_')
        return false;
    int base = 10;
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
        base = 16, q += 2;
    else if (q[0] == '0' && (q[1] == 'o' || q[1] == 'O'))
        base = 8, q += 2;
    else if (q[0] == '0' && (q[1] == 'b' || q[1] == 'B'))
        base = 2, q += 2;
    else if (q[0] == '0' && q[1])
        base = 8, q += 1;
    if (!*q)
        return false;
    for (const char *c = q; *c; c++) {
        int v = (*c >= '0' && *c <= '9')   ? *c - '0'
                : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
                : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10
                                           : 99;
        if (v >= base)
            return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long u = strtoull(q, &end, base);
    if (errno || *end || u > (unsigned long long)LLONG_MAX)
        return false;
    *out = neg ? -(long long)u : (long long)u;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nan_[] = {".nan", ".NaN", ".NAN", NULL};
    if (is_one_of(s, inf))
        return *out = INFINITY, true;
    if (is_one_of(s, ninf))
        return *out = -INFINITY, true;
    if (is_one_of(s, nan_))
        return *out = NAN, true;
    /* [-+]? digits with a '.' or an exponent; at least one digit */
    const char *c = s;
    bool digit = false, dot = false, exp = false;
    if (*c == '+' || *c == '-')
        c++;
    for (; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digit = true;
        else if (*c == '_' && digit)
            continue;
        else if (*c == '.' && !dot && !exp)
            dot = true;
        else if ((*c == 'e' || *c == 'E') && digit && !exp) {
            exp = true;
            if (c[1] == '+' || c[1] == '-')
                c++;
            if (!(c[1] >= '0' && c[1] <= '9'))
                return false;
        } else
            return false;
    }
    if (!digit || (!dot && !exp))
        return false;
    char buf[128];
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < sizeof(buf); i++)
        if (s[i] != '_')
            buf[j++] = s[i];
    buf[j] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

static void resolve(struct ytree_node *n, const char *tag, bool plain)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
                                        "YES",  "on",   "On",   "ON",  NULL};
    static const char *const falses[] = {"false", "False", "FALSE", "no",  "No",
                                         "NO",    "off",   "Off",   "OFF", NULL};
    n->stype = YTREE_STR;
    n->quoted = !plain;
    if (tag && strcmp(tag, "tag:yaml.org,2002:str") != 0 && strcmp(tag, "!") != 0)
        plain = true; /* another explicit tag (!!int, !!null ...): resolve the text */
    else if (tag)
        return;
    if (!plain)
        return;
    const char *s = n->str;
    if (is_one_of(s, nulls))
        n->stype = YTREE_NULL;
    else if (is_one_of(s, trues))
        n->stype = YTREE_BOOL, n->bval = true;
    else if (is_one_of(s, falses))
        n->stype = YTREE_BOOL, n->bval = false;
    else if (parse_int(s, &n->ival))
        n->stype = YTREE_INT, n->fval = (double)n->ival;
    else if (parse_float(s, &n->fval))
        n->stype = YTREE_FLOAT;
}

static struct ytree_node *copy_node(struct parse *p, const struct ytree_node *src)
{
    yaml_mark_t m = {0, (size_t)src->line - 1, (size_t)src->col - 1};
    struct ytree_node *n = node_new(p, src->kind, m);
    if (!n)
        return NULL;
    n->str = cmem_strdup(src->str);
    n->stype = src->stype;
    n->quoted = src->quoted;
    n->ival = src->ival;
    n->fval = src->fval;
    n->bval = src->bval;
    if (src->nitems) {
        n->items = cmem_calloc(src->nitems, sizeof(*n->items));
        for (size_t i = 0; i < src->nitems && !p->failed; i++, n->nitems++)
            n->items[i] = copy_node(p, src->items[i]);
    }
    if (src->npairs) {
        n->pairs = cmem_calloc(src->npairs, sizeof(*n->pairs));
        for (size_t i = 0; i < src->npairs && !p->failed; i++, n->npairs++) {
            n->pairs[i].key = copy_node(p, src->pairs[i].key);
            n->pairs[i].value = copy_node(p, src->pairs[i].value);
        }
    }
    return n;
}

static void add_anchor(struct parse *p, const yaml_char_t *anchor, struct ytree_node *n)
{
    if (!anchor || !n)
        return;
    /* A redefined anchor shadows the older one: search from the end. */
    struct anchor *a = cmem_push(&p->anchors, &p->nanchors, sizeof(*a));
    a->name = cmem_strdup((const char *)anchor);
    a->node = n;
}

static struct ytree_node *find_anchor(struct parse *p, const char *name)
{
    for (size_t i = p->nanchors; i-- > 0;)
        if (strcmp(p->anchors[i].name, name) == 0)
            return p->anchors[i].node;
    return NULL;
}

/* Nodes left out of the tree (duplicate keys, merge sources) are kept until the
 * end of the parse because a later alias may still copy an anchor inside them. */
static void drop(struct parse *p, struct ytree_node *n)
{
    *(struct ytree_node **)cmem_push(&p->dropped, &p->ndropped, sizeof(*p->dropped)) = n;
}

static bool next_event(struct parse *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->parser, ev)) {
        syntax_error(p);
        return false;
    }
    return true;
}

static struct ytree_node *parse_node(struct parse *p, yaml_event_t *ev, int depth);

static bool has_key(struct ytree_pair *pairs, size_t n, const char *key, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].key->str, key) == 0) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

/* Applies `<<: *x` / `<<: [*x, *y]`: keys written in the mapping win, then
 * earlier merge sources win over later ones (YAML merge key semantics). */
static void apply_merges(struct parse *p, struct ytree_node *map, struct ytree_node **merges,
                         size_t nmerges)
{
    for (size_t m = 0; m < nmerges && !p->failed; m++) {
        struct ytree_node *src = merges[m];
        for (size_t i = 0; i < src->npairs && !p->failed; i++) {
            if (has_key(map->pairs, map->npairs, src->pairs[i].key->str, NULL))
                continue;
            struct ytree_pair *np = cmem_push(&map->pairs, &map->npairs, sizeof(*np));
            np->key = copy_node(p, src->pairs[i].key);
            np->value = copy_node(p, src->pairs[i].value);
        }
    }
}

static void parse_mapping(struct parse *p, struct ytree_node *map, int depth)
{
    struct ytree_node **merges = NULL;
    size_t nmerges = 0;
    yaml_event_t ev;
    while (!p->failed) {
        if (!next_event(p, &ev))
            break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        struct ytree_node *key = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!key)
            break;
        if (!next_event(p, &ev)) {
            node_free(key);
            break;
        }
        struct ytree_node *val = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val) {
            node_free(key);
            break;
        }
        if (key->kind != YTREE_SCALAR) {
            perr(p, key->line, key->col, "mapping keys must be scalars");
            drop(p, key);
            drop(p, val);
            continue;
        }
        if (!key->quoted && strcmp(key->str, "<<") == 0) {
            bool ok = val->kind == YTREE_MAP;
            for (size_t i = 0; val->kind == YTREE_SEQ && i < val->nitems; i++)
                ok = val->items[i]->kind == YTREE_MAP;
            if (!ok || (val->kind == YTREE_SEQ && val->nitems == 0)) {
                perr(p, val->line, val->col, "merge key '<<' needs a map or a list of maps");
            } else if (val->kind == YTREE_MAP) {
                *(struct ytree_node **)cmem_push(&merges, &nmerges, sizeof(*merges)) = val;
            } else {
                for (size_t i = 0; i < val->nitems; i++)
                    *(struct ytree_node **)cmem_push(&merges, &nmerges, sizeof(*merges)) =
                        val->items[i];
            }
            drop(p, val);
            drop(p, key);
            continue;
        }
        size_t first;
        if (has_key(map->pairs, map->npairs, key->str, &first)) {
            char msg[600];
            snprintf(msg, sizeof(msg), "duplicate key '%.400s' (first at line %d)", key->str,
                     map->pairs[first].key->line);
            perr(p, key->line, key->col, msg);
            drop(p, key);
            drop(p, val);
            continue;
        }
        struct ytree_pair *pair = cmem_push(&map->pairs, &map->npairs, sizeof(*pair));
        pair->key = key;
        pair->value = val;
    }
    if (!p->failed)
        apply_merges(p, map, merges, nmerges);
    free(merges);
}

static struct ytree_node *parse_node(struct parse *p, yaml_event_t *ev, int depth)
{
    struct ytree_node *n = NULL;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > YTREE_MAX_DEPTH) {
        fatal(p, line, col, "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(p, YTREE_SCALAR, ev->start_mark);
        if (!n)
            return NULL;
        n->str = cmem_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (strlen(n->str) != ev->data.scalar.length)
            perr(p, line, col, "NUL byte in a scalar");
        resolve(n, (const char *)ev->data.scalar.tag,
                ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
        add_anchor(p, ev->data.scalar.anchor, n);
        return n;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(p, YTREE_SEQ, ev->start_mark);
        if (!n)
            return NULL;
        add_anchor(p, ev->data.sequence_start.anchor, n);
        for (;;) {
            yaml_event_t iev;
            if (!next_event(p, &iev))
                break;
            if (iev.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&iev);
                break;
            }
            struct ytree_node *item = parse_node(p, &iev, depth + 1);
            yaml_event_delete(&iev);
            if (!item)
                break;
            *(struct ytree_node **)cmem_push(&n->items, &n->nitems, sizeof(*n->items)) = item;
        }
        break;
    case YAML_MAPPING_START_EVENT:
        n = node_new(p, YTREE_MAP, ev->start_mark);
        if (!n)
            return NULL;
        add_anchor(p, ev->data.mapping_start.anchor, n);
        parse_mapping(p, n, depth);
        break;
    case YAML_ALIAS_EVENT: {
        struct ytree_node *target = find_anchor(p, (const char *)ev->data.alias.anchor);
        if (!target) {
            char msg[300];
            snprintf(msg, sizeof(msg), "unknown alias '*%.200s'", ev->data.alias.anchor);
            fatal(p, line, col, msg);
            return NULL;
        }
        struct ytree_node *c = copy_node(p, target);
        if (p->failed) {
            /* A copy cut short by the node cap holds NULL children: never
             * hand it to a caller that would look inside. */
            node_free(c);
            return NULL;
        }
        return c;
    }
    default:
        fatal(p, line, col, "unexpected YAML event");
        return NULL;
    }
    if (p->failed) {
        /* The anchor table may point into n: drop entries before freeing. */
        for (size_t i = 0; i < p->nanchors; i++)
            p->anchors[i].node = NULL;
        node_free(n);
        return NULL;
    }
    return n;
}

int ytree_parse(const char *name, const char *text, size_t len, struct ytree_doc **out,
                struct diag *d)
{
    struct parse p;
    memset(&p, 0, sizeof(p));
    p.d = d;
    p.doc = cmem_calloc(1, sizeof(*p.doc));
    p.doc->file = cmem_strdup(name);
    *out = NULL;
    if (!yaml_parser_initialize(&p.parser)) {
        diag_add(d, "%s: cannot initialise the YAML parser", name);
        ytree_doc_free(p.doc);
        return -1;
    }
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
    yaml_event_t ev;
    int ndocs = 0;
    bool done = false;
    while (!done && !p.failed && next_event(&p, &ev)) {
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1)
                fatal(&p, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                      "only one YAML document per file is supported");
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            p.doc->root = parse_node(&p, &ev, 0);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p.parser);
    for (size_t i = 0; i < p.nanchors; i++)
        free(p.anchors[i].name);
    free(p.anchors);
    for (size_t i = 0; i < p.ndropped; i++)
        node_free(p.dropped[i]);
    free(p.dropped);
    /* An empty document is one null scalar in libyaml; a truly empty file has no root. */
    if (p.doc->root && p.doc->root->kind == YTREE_SCALAR && p.doc->root->stype == YTREE_NULL &&
        p.doc->root->str[0] == '\0') {
        node_free(p.doc->root);
        p.doc->root = NULL;
    }
    if (p.errors || p.failed) {
        ytree_doc_free(p.doc);
        return -1;
    }
    *out = p.doc;
    return 0;
}

int ytree_load_file(const char *path, struct ytree_doc **out, struct diag *d)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_add(d, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = cmem_malloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= YTREE_MAX_FILE) {
                diag_add(d, "%s: file too large (over %d bytes)", path, YTREE_MAX_FILE);
                free(buf);
                fclose(f);
                return -1;
            }
            cap *= 2;
            buf = cmem_realloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        diag_add(d, "%s: cannot read: I/O error", path);
        free(buf);
        return -1;
    }
    int rc = ytree_parse(path, buf, len, out, d);
    free(buf);
    return rc;
}

struct ytree_node *ytree_map_get(const struct ytree_node *n, const char *key)
{
    if (!n || n->kind != YTREE_MAP)
        return NULL;
    for (size_t i = 0; i < n->npairs; i++)
        if (strcmp(n->pairs[i].key->str, key) == 0)
            return n->pairs[i].value;
    return NULL;
}

const char *ytree_type_name(const struct ytree_node *n)
{
    if (!n)
        return "nothing";
    if (n->kind == YTREE_SEQ)
        return "list";
    if (n->kind == YTREE_MAP)
        return "map";
    switch (n->stype) {
    case YTREE_NULL:
        return "null";
    case YTREE_BOOL:
        return "boolean";
    case YTREE_INT:
        return "integer";
    case YTREE_FLOAT:
        return "number";
    case YTREE_STR:
        break;
    }
    return "string";
}

bool ytree_is_scalar(const struct ytree_node *n, enum ytree_stype t)
{
    return n && n->kind == YTREE_SCALAR && n->stype == t;
}

bool ytree_is_number(const struct ytree_node *n)
{
    return ytree_is_scalar(n, YTREE_INT) || ytree_is_scalar(n, YTREE_FLOAT);
}
