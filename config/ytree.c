#include "config/ytree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/cmem.h"
#include "config/diag.h"
#include "config/yaml11.h"

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
    bool as_key;    /* the node being parsed is a mapping key */
    bool merge_key; /* the key just parsed is a merge key */
    bool failed;    /* a fatal error: stop parsing */
    bool errors;    /* any error, fatal or not */
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

/* Resolves and constructs a scalar as PyYAML does. tag: the event's tag
 * (NULL, "!" or a full tag); implicit: libyaml's plain_implicit (a plain
 * scalar, or one tagged "!"). `<<` and `=` are only keys (a merge key, the
 * string "="): PyYAML has no constructor for them as values. */
static void resolve(struct parse *p, struct ytree_node *n, const char *tag, bool implicit,
                    bool as_key)
{
    char full[200], err[300];
    struct yaml11_value v;
    n->stype = YTREE_STR;
    n->quoted = true;
    if (!tag || strcmp(tag, "!") == 0) {
        if (!implicit)
            return;
        n->quoted = false;
        snprintf(full, sizeof(full), "%s%s", YAML11_TAG, yaml11_implicit(n->str, n->len));
        tag = full;
    }
    /* flatten_mapping: a key tagged merge (`<<`, `!!merge x`) merges, one
     * tagged value (`=`) is the string it is written as */
    if (as_key && strcmp(tag, YAML11_TAG "merge") == 0) {
        p->merge_key = true;
        return;
    }
    if (as_key && strcmp(tag, YAML11_TAG "value") == 0)
        return;
    if (yaml11_construct(tag, n->str, n->len, &v, err, sizeof(err)) < 0) {
        perr(p, n->line, n->col, err);
        return;
    }
    static const enum ytree_stype st[] = {
        [YAML11_NULL] = YTREE_NULL,    [YAML11_BOOL] = YTREE_BOOL, [YAML11_INT] = YTREE_INT,
        [YAML11_FLOAT] = YTREE_FLOAT,  [YAML11_STR] = YTREE_STR,   [YAML11_TIMESTAMP] = YTREE_TIME,
        [YAML11_BINARY] = YTREE_BYTES,
    };
    n->stype = st[v.type];
    n->bval = v.b;
    n->ival = v.i;
    n->big = v.big;
    n->fval = v.f;
}

/* Tags on collections: the default ones, and !!set/!!omap/!!pairs whose
 * values have no JSON type. Anything else has no constructor in PyYAML. */
static void collection_tag(struct parse *p, struct ytree_node *n, const char *tag)
{
    const char *t =
        tag && strncmp(tag, YAML11_TAG, strlen(YAML11_TAG)) == 0 ? tag + strlen(YAML11_TAG) : tag;
    if (!t || strcmp(t, "!") == 0 || strcmp(t, n->kind == YTREE_MAP ? "map" : "seq") == 0)
        return;
    if (n->kind == YTREE_MAP && strcmp(t, "set") == 0) {
        n->other = "set";
        return;
    }
    if (n->kind == YTREE_SEQ && (strcmp(t, "omap") == 0 || strcmp(t, "pairs") == 0)) {
        for (size_t i = 0; i < n->nitems; i++) {
            if (n->items[i]->kind != YTREE_MAP || n->items[i]->npairs != 1) {
                perr(p, n->items[i]->line, n->items[i]->col,
                     "!!omap and !!pairs items must be maps of one key");
                return;
            }
            n->items[i]->other = "tuple";
        }
        return;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "could not determine a constructor for the tag '%.200s' on a %s",
             tag, n->kind == YTREE_MAP ? "map" : "list");
    perr(p, n->line, n->col, msg);
}

static struct ytree_node *copy_node(struct parse *p, const struct ytree_node *src)
{
    yaml_mark_t m = {0, (size_t)src->line - 1, (size_t)src->col - 1};
    struct ytree_node *n = node_new(p, src->kind, m);
    if (!n)
        return NULL;
    if (src->str) {
        n->str = cmem_malloc(src->len + 1);
        memcpy(n->str, src->str, src->len + 1);
    }
    n->len = src->len;
    n->stype = src->stype;
    n->quoted = src->quoted;
    n->ival = src->ival;
    n->big = src->big;
    n->fval = src->fval;
    n->bval = src->bval;
    n->other = src->other;
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

static struct ytree_node *find_anchor(struct parse *p, const char *name);

static void add_anchor(struct parse *p, const yaml_char_t *anchor, struct ytree_node *n)
{
    if (!anchor || !n)
        return;
    for (size_t i = 0; i < p->nanchors; i++) {
        if (strcmp(p->anchors[i].name, (const char *)anchor) == 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "found duplicate anchor '&%.200s'", (const char *)anchor);
            perr(p, n->line, n->col, msg);
            break;
        }
    }
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

/* Python's == on the values of two scalar keys (PyYAML builds a dict):
 * true == 1 == 1.0, and PyYAML's one NaN object is equal to itself. */
static bool key_equal(const struct ytree_node *a, const struct ytree_node *b)
{
    bool an = a->stype == YTREE_BOOL || a->stype == YTREE_INT || a->stype == YTREE_FLOAT;
    bool bn = b->stype == YTREE_BOOL || b->stype == YTREE_INT || b->stype == YTREE_FLOAT;
    if (an && bn) {
        double x = a->stype == YTREE_BOOL ? a->bval : a->fval;
        double y = b->stype == YTREE_BOOL ? b->bval : b->fval;
        if (a->stype == YTREE_INT && b->stype == YTREE_INT && !a->big && !b->big)
            return a->ival == b->ival;
        return x == y || (isnan(x) && isnan(y));
    }
    if (a->stype != b->stype)
        return false;
    return a->stype == YTREE_NULL || (a->len == b->len && memcmp(a->str, b->str, a->len) == 0);
}

/* Puts key: value into map as a dict assignment does: a key already there
 * keeps its place and takes the new value. Returns the pair replaced (its
 * old key and value are dropped), or NULL. */
static struct ytree_pair *dict_set(struct parse *p, struct ytree_node *map, struct ytree_node *key,
                                   struct ytree_node *val)
{
    for (size_t i = 0; i < map->npairs; i++) {
        struct ytree_pair *old = &map->pairs[i];
        if (key_equal(old->key, key)) {
            drop(p, old->value);
            drop(p, key);
            old->value = val;
            return old;
        }
    }
    struct ytree_pair *np = cmem_push(&map->pairs, &map->npairs, sizeof(*np));
    np->key = key;
    np->value = val;
    return NULL;
}

/* A `<<` value: a map, or a list of maps whose earlier items win (PyYAML
 * merges them in reverse). Adds the sources, in the order their pairs are
 * assigned, to merges. */
static void add_merge(struct parse *p, struct ytree_node *val, struct ytree_node ***merges,
                      size_t *nmerges)
{
    bool ok = val->kind == YTREE_MAP;
    for (size_t i = 0; val->kind == YTREE_SEQ && i < val->nitems; i++)
        ok = (i == 0 || ok) && val->items[i]->kind == YTREE_MAP;
    if (val->kind == YTREE_SEQ && val->nitems == 0)
        ok = true;
    if (!ok) {
        perr(p, val->line, val->col, "merge key '<<' needs a map or a list of maps");
    } else if (val->kind == YTREE_MAP) {
        *(struct ytree_node **)cmem_push(merges, nmerges, sizeof(**merges)) = val;
    } else {
        for (size_t i = val->nitems; i-- > 0;)
            *(struct ytree_node **)cmem_push(merges, nmerges, sizeof(**merges)) = val->items[i];
    }
}

/* PyYAML's flatten_mapping then dict construction: the merged pairs first
 * (later assignments win), then the mapping's own pairs, each of which wins
 * over everything before it. */
static void build_mapping(struct parse *p, struct ytree_node *map, struct ytree_pair *own,
                          size_t nown, struct ytree_node **merges, size_t nmerges)
{
    for (size_t m = 0; m < nmerges && !p->failed; m++) {
        struct ytree_node *src = merges[m];
        for (size_t i = 0; i < src->npairs && !p->failed; i++) {
            struct ytree_node *k = copy_node(p, src->pairs[i].key);
            struct ytree_node *v = k ? copy_node(p, src->pairs[i].value) : NULL;
            if (!k || !v) {
                node_free(k);
                node_free(v);
                return;
            }
            dict_set(p, map, k, v);
        }
    }
    for (size_t i = 0; i < nown; i++) {
        int first_line = 0;
        for (size_t j = 0; j < i && !first_line; j++)
            if (key_equal(own[j].key, own[i].key))
                first_line = own[j].key->line;
        struct ytree_node *key = own[i].key;
        struct ytree_pair *old = dict_set(p, map, key, own[i].value);
        if (old && first_line && p->d)
            diag_warn_node(p->d, key,
                           "duplicate key '%.200s' (first at line %d): the last one wins, as "
                           "in paasta validate",
                           key->str, first_line);
    }
}

static void parse_mapping(struct parse *p, struct ytree_node *map, int depth)
{
    struct ytree_node **merges = NULL;
    size_t nmerges = 0;
    struct ytree_pair *own = NULL;
    size_t nown = 0;
    yaml_event_t ev;
    while (!p->failed) {
        if (!next_event(p, &ev))
            break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        p->as_key = true;
        p->merge_key = false;
        struct ytree_node *key = parse_node(p, &ev, depth + 1);
        bool merge = p->merge_key;
        p->as_key = p->merge_key = false;
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
        if (key->kind != YTREE_SCALAR || key->other) {
            perr(p, key->line, key->col, "found unhashable key (a list or map as a key)");
            drop(p, key);
            drop(p, val);
            continue;
        }
        if (merge) {
            add_merge(p, val, &merges, &nmerges);
            drop(p, val);
            drop(p, key);
            continue;
        }
        struct ytree_pair *pair = cmem_push(&own, &nown, sizeof(*pair));
        pair->key = key;
        pair->value = val;
    }
    if (!p->failed)
        build_mapping(p, map, own, nown, merges, nmerges);
    else
        for (size_t i = 0; i < nown; i++)
            drop(p, own[i].key), drop(p, own[i].value);
    free(own);
    free(merges);
}

static struct ytree_node *parse_node(struct parse *p, yaml_event_t *ev, int depth)
{
    struct ytree_node *n = NULL;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    bool as_key = p->as_key;
    p->as_key = false;
    if (depth > YTREE_MAX_DEPTH) {
        fatal(p, line, col, "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(p, YTREE_SCALAR, ev->start_mark);
        if (!n)
            return NULL;
        n->len = ev->data.scalar.length;
        n->str = cmem_malloc(n->len + 1);
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
        if (strlen(n->str) != n->len)
            diag_warn_node(p->d, n, "NUL byte in a scalar: meshreg reads the text before it");
        resolve(p, n, (const char *)ev->data.scalar.tag, ev->data.scalar.plain_implicit, as_key);
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
        if (!p->failed)
            collection_tag(p, n, (const char *)ev->data.sequence_start.tag);
        break;
    case YAML_MAPPING_START_EVENT:
        n = node_new(p, YTREE_MAP, ev->start_mark);
        if (!n)
            return NULL;
        add_anchor(p, ev->data.mapping_start.anchor, n);
        parse_mapping(p, n, depth);
        if (!p->failed)
            collection_tag(p, n, (const char *)ev->data.mapping_start.tag);
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
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ytree_node *k = n->pairs[i].key;
        if (k->stype == YTREE_STR && strlen(k->str) == k->len && strcmp(k->str, key) == 0)
            return n->pairs[i].value;
    }
    return NULL;
}

const char *ytree_type_name(const struct ytree_node *n)
{
    if (!n)
        return "nothing";
    if (n->other)
        return n->other;
    if (n->kind == YTREE_SEQ)
        return "list";
    if (n->kind == YTREE_MAP)
        return "map";
    switch (n->stype) {
    case YTREE_TIME:
        return "date";
    case YTREE_BYTES:
        return "binary";
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
