#include "config/placement.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/cmem.h"
#include "config/config.h"
#include "config/diag.h"
#include "config/location.h"
#include "config/ytree.h"

/* A location to register in: "TYPE:LOC" (label), split when it has a type. */
struct target {
    char *type, *loc; /* NULL for an extra_advertise destination without ':' */
    char *label;
};

struct targets {
    struct target *v;
    size_t n;
};

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void note(struct placement_set *set, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct placement_set *set, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < set->nnotes; i++)
        if (strcmp(set->notes[i], buf) == 0)
            return;
    *(char **)cmem_push(&set->notes, &set->nnotes, sizeof(char *)) = cmem_strdup(buf);
}

static void target_add(struct targets *t, const char *type, const char *loc, const char *label)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].label, label) == 0)
            return;
    struct target *x = cmem_push(&t->v, &t->n, sizeof(*x));
    x->type = cmem_strdup(type);
    x->loc = cmem_strdup(loc);
    x->label = cmem_strdup(label);
}

static void target_add_typed(struct targets *t, const char *type, const char *loc)
{
    char *label = cmem_printf("%s:%s", type, loc);
    target_add(t, type, loc, label);
    free(label);
}

static void targets_free(struct targets *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].type);
        free(t->v[i].loc);
        free(t->v[i].label);
    }
    free(t->v);
}

/* Splits "TYPE:LOC" (exactly one ':', both sides non-empty, as nerve-tools'
 * `a, b = s.split(":")` needs). */
static bool split_tl(const char *s, char **type, const char **loc)
{
    const char *c = strchr(s, ':');
    if (!c || c == s || !c[1] || strchr(c + 1, ':'))
        return false;
    *type = cmem_strndup(s, (size_t)(c - s));
    *loc = c + 1;
    return true;
}

static void add_advertised(const struct location_db *db, const struct placement_input *in,
                           struct targets *t, struct placement_set *set)
{
    for (size_t i = 0; i < in->nadvertise; i++) {
        const char *typ = in->advertise[i], *loc = location_db_host(db, typ);
        if (loc)
            target_add_typed(t, typ, loc);
        else if (location_db_has_hierarchy(db))
            note(set,
                 "advertise %s: this host's %s is unknown (no %s/%s file, locations: entry "
                 "or MESHREG_LOCATION_ variable)",
                 typ, typ, location_db_etc_dir(db), typ);
    }
}

/* One extra_advertise entry whose source is this host: its destination
 * converted into each advertise type at least as specific as its own. */
static void add_extra_converted(const struct location_db *db, const struct placement_input *in,
                                const char *dst, struct targets *t, struct placement_set *set)
{
    char *dtyp = NULL, err[512];
    const char *dloc;
    if (!split_tl(dst, &dtyp, &dloc)) {
        note(set, "extra_advertise destination '%s': not TYPE:LOCATION, skipped", dst);
        return;
    }
    int di = location_db_type_index(db, dtyp);
    if (di < 0) {
        note(set, "extra_advertise destination %s: unknown location type '%s' (not in %s), skipped",
             dst, dtyp, location_db_types_file(db));
        free(dtyp);
        return;
    }
    for (size_t i = 0; i < in->nadvertise; i++) {
        const char *atyp = in->advertise[i];
        int ai = location_db_type_index(db, atyp);
        if (ai < 0 || ai < di)
            continue; /* no upcast: atyp is more general than the destination */
        char **locs;
        size_t n;
        if (location_convert(db, dloc, dtyp, atyp, &locs, &n, err, sizeof(err)) < 0) {
            note(set, "extra_advertise destination %s: %s, skipped", dst, err);
            continue;
        }
        for (size_t j = 0; j < n; j++)
            target_add_typed(t, atyp, locs[j]);
        location_list_free(locs);
    }
    free(dtyp);
}

static void add_extra(const struct location_db *db, const struct placement_input *in,
                      struct targets *t, struct placement_set *set)
{
    for (size_t i = 0; i < in->nextra_advertise; i++) {
        const char *src = in->extra_advertise[i].key, *dst = in->extra_advertise[i].value;
        char *styp = NULL;
        const char *sloc;
        if (!split_tl(src, &styp, &sloc)) {
            note(set, "extra_advertise source '%s': not TYPE:LOCATION, skipped", src);
            continue;
        }
        const char *here = location_db_host(db, styp);
        bool match = here && strcmp(here, sloc) == 0;
        free(styp);
        if (!match)
            continue; /* another host's entry */
        if (location_db_has_hierarchy(db)) {
            add_extra_converted(db, in, dst, t, set);
            continue;
        }
        /* Nothing to convert through: the destination as written. */
        char *dtyp = NULL;
        const char *dloc = NULL;
        if (split_tl(dst, &dtyp, &dloc))
            target_add(t, dtyp, dloc, dst);
        else
            target_add(t, NULL, NULL, dst);
        free(dtyp);
    }
}

static struct placement *placement_for(struct placement_set *set, const char *zk)
{
    for (size_t i = 0; i < set->n; i++)
        if (str_eq(set->v[i].zk_location, zk))
            return &set->v[i];
    struct placement *p = cmem_push(&set->v, &set->n, sizeof(*p));
    p->zk_location = cmem_strdup(zk);
    return p;
}

static void place_target(const struct location_db *db, const struct target *t, const char *zk_type,
                         struct placement_set *set)
{
    char **zks = NULL, err[512];
    size_t n = 0;
    static char *const none[] = {NULL};
    char *const *list = none;
    size_t cnt = 1;
    if (location_db_has_hierarchy(db) && t->type) {
        if (location_convert(db, t->loc, t->type, zk_type, &zks, &n, err, sizeof(err)) < 0) {
            note(set, "%s: %s: no cluster known", t->label, err);
        } else {
            list = zks;
            cnt = n;
            if (!n)
                note(set, "%s: no %s contains it in %s: not registered there", t->label, zk_type,
                     location_db_mapping_file(db));
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        struct placement *p = placement_for(set, list[i]);
        if (!p->nadvertised) {
            p->adv_type = cmem_strdup(t->type ? t->type : t->label);
            p->adv_loc = cmem_strdup(t->loc ? t->loc : "");
        }
        *(char **)cmem_push(&p->advertised, &p->nadvertised, sizeof(char *)) =
            cmem_strdup(t->label);
    }
    location_list_free(zks);
}

/* Sets key to value; an existing key keeps its place and changes value only
 * when `override`. */
static void kv_set(struct kv **arr, size_t *n, const char *key, const char *value, bool override)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i].key, key) == 0) {
            if (override) {
                free((*arr)[i].value);
                (*arr)[i].value = cmem_strdup(value);
            }
            return;
        }
    struct kv *l = cmem_push(arr, n, sizeof(**arr));
    l->key = cmem_strdup(key);
    l->value = cmem_strdup(value);
}

/* nerve-tools' order: custom labels, then each location label over them,
 * then deploy_group and paasta_instance over everything. */
static void base_labels(const struct check_spec *spec, struct kv **arr, size_t *n)
{
    const struct placement_input *in = &spec->place_in;
    for (size_t i = 0; i < in->ncustom_labels; i++)
        kv_set(arr, n, in->custom_labels[i].key, in->custom_labels[i].value, false);
    if (in->deploy_group)
        kv_set(arr, n, "deploy_group", in->deploy_group, true);
    if (spec->instance)
        kv_set(arr, n, "paasta_instance", spec->instance, true);
}

int placement_compute(const struct location_db *db, const struct check_spec *spec,
                      const char *zk_location_type, struct placement_set *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!spec || !zk_location_type) {
        snprintf(err, errlen, "placement_compute: no check or no zk location type");
        return -1;
    }
    struct targets t = {NULL, 0};
    add_advertised(db, &spec->place_in, &t, out);
    add_extra(db, &spec->place_in, &t, out);
    if (location_db_has_hierarchy(db) && location_db_type_index(db, zk_location_type) < 0)
        note(out, "--zk-location-type %s: not a location type of %s", zk_location_type,
             location_db_types_file(db));
    for (size_t i = 0; i < t.n; i++)
        place_target(db, &t.v[i], zk_location_type, out);
    for (size_t i = 0; i < out->n; i++) {
        struct placement *p = &out->v[i];
        for (size_t j = 0; j < p->nadvertised; j++)
            kv_set(&p->labels, &p->nlabels, p->advertised[j], "", true);
        base_labels(spec, &p->labels, &p->nlabels);
    }
    targets_free(&t);
    return 0;
}

static void kvs_free(struct kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}

static void strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void placement_set_free(struct placement_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        struct placement *p = &set->v[i];
        free(p->zk_location);
        free(p->adv_type);
        free(p->adv_loc);
        kvs_free(p->labels, p->nlabels);
        strs_free(p->advertised, p->nadvertised);
    }
    free(set->v);
    strs_free(set->notes, set->nnotes);
    memset(set, 0, sizeof(*set));
}

void placement_input_clear(struct placement_input *in)
{
    if (!in)
        return;
    strs_free(in->advertise, in->nadvertise);
    kvs_free(in->extra_advertise, in->nextra_advertise);
    kvs_free(in->custom_labels, in->ncustom_labels);
    free(in->deploy_group);
    memset(in, 0, sizeof(*in));
}

bool placement_set_equal(const struct placement_set *a, const struct placement_set *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct placement *x = &a->v[i], *y = &b->v[i];
        if (!str_eq(x->zk_location, y->zk_location) || x->nlabels != y->nlabels)
            return false;
        for (size_t j = 0; j < x->nlabels; j++)
            if (!str_eq(x->labels[j].key, y->labels[j].key) ||
                !str_eq(x->labels[j].value, y->labels[j].value))
                return false;
    }
    return true;
}

void placement_union_labels(const struct placement_set *set, const struct check_spec *spec,
                            struct kv **labels, size_t *nlabels)
{
    for (size_t i = 0; i < set->n; i++)
        for (size_t j = 0; j < set->v[i].nadvertised; j++)
            kv_set(labels, nlabels, set->v[i].advertised[j], "", true);
    base_labels(spec, labels, nlabels);
}

/* ---- custom labels (--labels-dir) ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int labels_from_file(const char *path, struct kv **out, size_t *nout, struct diag *d)
{
    struct ytree_doc *doc = NULL;
    if (ytree_load_file(path, &doc, d) < 0)
        return -1;
    const struct ytree_node *root = doc->root;
    int rc = 0;
    if (root && root->kind != YTREE_MAP) {
        diag_node(d, root, "labels: expected a map of label -> value, got %s",
                  ytree_type_name(root));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && root && i < root->npairs; i++) {
        const struct ytree_node *k = root->pairs[i].key, *v = root->pairs[i].value;
        if (v->kind != YTREE_SCALAR) {
            diag_node(d, v, "label %s: expected a scalar value, got %s", k->str,
                      ytree_type_name(v));
            rc = -1;
            continue;
        }
        kv_set(out, nout, k->str, v->stype == YTREE_NULL ? "" : v->str, true);
    }
    ytree_doc_free(doc);
    return rc;
}

int placement_load_labels(const char *labels_dir, const char *name, int port, struct kv **out,
                          size_t *nout, struct diag *d)
{
    if (!labels_dir || !*labels_dir)
        return 0;
    DIR *dir = opendir(labels_dir);
    if (!dir) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        diag_add(d, "%s: cannot read the labels directory: %s", labels_dir, strerror(errno));
        return -1;
    }
    char *prefix = cmem_printf("%s%d", name, port);
    size_t plen = strlen(prefix), n = 0;
    char **names = NULL;
    for (struct dirent *e; (e = readdir(dir));)
        if (strncmp(e->d_name, prefix, plen) == 0)
            *(char **)cmem_push(&names, &n, sizeof(char *)) = cmem_strdup(e->d_name);
    closedir(dir);
    qsort(names, n, sizeof(char *), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = cmem_printf("%s/%s", labels_dir, names[i]);
        struct stat st;
        /* glob matches directories too; there is nothing to read in one */
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && labels_from_file(path, out, nout, d) < 0)
            rc = -1;
        free(path);
    }
    strs_free(names, n);
    free(prefix);
    return rc;
}

/* ---- meshreg check ---- */

static void print_labels(FILE *f, const struct kv *l, size_t n)
{
    for (size_t j = 0; j < n; j++)
        fprintf(f, "%s%s%s%s", j ? "," : "", l[j].key, l[j].value[0] ? "=" : "", l[j].value);
}

void placement_print(FILE *f, const struct check_spec *spec, const char *zk_location_type,
                     placement_cluster_fn cluster, void *arg, bool smartstack)
{
    const struct placement_set *set = &spec->placements;
    size_t usable = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct placement *p = &set->v[i];
        char desc[512] = "";
        bool found =
            p->zk_location && (!cluster || cluster(p->zk_location, desc, sizeof(desc), arg));
        if (p->zk_location)
            fprintf(f, "  placement %s:%s", zk_location_type, p->zk_location);
        else
            fprintf(f, "  placement (no %s known)", zk_location_type);
        fprintf(f, " path %s/%s labels ", PLACEMENT_ZK_ROOT, spec->name);
        print_labels(f, p->labels, p->nlabels);
        if (desc[0])
            fprintf(f, " cluster %s", desc);
        else if (cluster && p->zk_location && !found)
            fprintf(f, " (no cluster: skipped)");
        fputc('\n', f);
        usable += found;
    }
    for (size_t i = 0; i < set->nnotes; i++)
        fprintf(f, "  note: %s\n", set->notes[i]);
    if (smartstack && !usable)
        fprintf(f, "  warning: %s: no placement: this registration is registered nowhere\n",
                spec->name);
}
