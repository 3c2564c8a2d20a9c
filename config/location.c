#include "config/location.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cmem.h"
#include "config/settings.h"

/* One node of the hierarchy, named as in location_mapping.json: "LOC_TYPE". */
struct lnode {
    char *name;
    size_t *kids, nkids;
    size_t *parents, nparents;
};

/* A host location of one type, with where it was written. */
struct hloc {
    char *key; /* the type, or for env entries the MESHREG_LOCATION_ suffix */
    char *value;
    char *origin;
};

struct location_db {
    char **types; /* location_types.json, most general first */
    size_t ntypes;
    struct lnode *nodes;
    size_t nnodes;
    char *etc_dir;
    char *types_file, *mapping_file; /* NULL when absent */
    struct hloc *env, *conf, *file;  /* by precedence, highest first */
    size_t nenv, nconf, nfile;
};

#define ENV_PREFIX "MESHREG_LOCATION_"
/* Mapping depth beyond any real datacenter layout; stops a hostile file. */
#define MAX_DEPTH 32
#define MAX_LOCATION_LEN 4096

/* The types whose <etc_dir>/<type> files are read when there is no
 * location_types.json: PaaSTA's. */
static const char *const default_types[] = {"ecosystem", "superregion", "region", "habitat"};

static void hlocs_free(struct hloc *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].key);
        free(h[i].value);
        free(h[i].origin);
    }
    free(h);
}

void location_db_free(struct location_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ntypes; i++)
        free(db->types[i]);
    free(db->types);
    for (size_t i = 0; i < db->nnodes; i++) {
        free(db->nodes[i].name);
        free(db->nodes[i].kids);
        free(db->nodes[i].parents);
    }
    free(db->nodes);
    free(db->etc_dir);
    free(db->types_file);
    free(db->mapping_file);
    hlocs_free(db->env, db->nenv);
    hlocs_free(db->conf, db->nconf);
    hlocs_free(db->file, db->nfile);
    free(db);
}

static void hloc_add(struct hloc **arr, size_t *n, const char *key, const char *value,
                     const char *origin)
{
    struct hloc *h = cmem_push(arr, n, sizeof(**arr));
    h->key = cmem_strdup(key);
    h->value = cmem_strdup(value);
    h->origin = cmem_strdup(origin);
}

static const struct hloc *hloc_find(const struct hloc *h, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].key, key) == 0)
            return &h[i];
    return NULL;
}

/* MESHREG_LOCATION_<TYPE>: the type uppercased, anything but letters and
 * digits as '_' (as settings_location spells it). */
static char *env_suffix(const char *type)
{
    char *s = cmem_strdup(type);
    for (char *c = s; *c; c++)
        *c = (char)(isalnum((unsigned char)*c) ? toupper((unsigned char)*c) : '_');
    return s;
}

static const struct hloc *host_entry(const struct location_db *db, const char *type)
{
    if (!db || !type)
        return NULL;
    char *suffix = env_suffix(type);
    const struct hloc *h = hloc_find(db->env, db->nenv, suffix);
    free(suffix);
    if (!h)
        h = hloc_find(db->conf, db->nconf, type);
    if (!h)
        h = hloc_find(db->file, db->nfile, type);
    return h;
}

const char *location_db_host(const struct location_db *db, const char *type)
{
    const struct hloc *h = host_entry(db, type);
    return h ? h->value : NULL;
}

const char *location_db_host_origin(const struct location_db *db, const char *type)
{
    const struct hloc *h = host_entry(db, type);
    return h ? h->origin : NULL;
}

bool location_db_has_hierarchy(const struct location_db *db)
{
    return db && db->types_file && db->mapping_file;
}

int location_db_type_index(const struct location_db *db, const char *type)
{
    for (size_t i = 0; db && type && i < db->ntypes; i++)
        if (strcmp(db->types[i], type) == 0)
            return (int)i;
    return -1;
}

const char *location_db_etc_dir(const struct location_db *db)
{
    return db && db->etc_dir ? db->etc_dir : "";
}

const char *location_db_types_file(const struct location_db *db)
{
    return db && db->types_file ? db->types_file : "";
}

const char *location_db_mapping_file(const struct location_db *db)
{
    return db && db->mapping_file ? db->mapping_file : "";
}

/* ---- files ---- */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* <etc_dir>/services/NAME if it is a file, else LOCATION_DATA_DIR/NAME if it
 * exists at all (then reading it reports what is wrong with it), else NULL. */
static char *data_file(const char *etc_dir, const char *name)
{
    char *p = cmem_printf("%s/services/%s", etc_dir, name);
    if (is_file(p))
        return p;
    free(p);
    p = cmem_printf("%s/%s", LOCATION_DATA_DIR, name);
    struct stat st;
    if (stat(p, &st) == 0)
        return p;
    free(p);
    return NULL;
}

static json_t *load_json(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line > 0)
            snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        else
            snprintf(err, errlen, "%s: %s", path, je.text);
    }
    return j;
}

static int load_types(struct location_db *db, char *err, size_t errlen)
{
    json_t *j = load_json(db->types_file, err, errlen);
    if (!j)
        return -1;
    int rc = -1;
    if (!json_is_array(j) || json_array_size(j) == 0) {
        snprintf(err, errlen, "%s: expected a non-empty JSON list of location types",
                 db->types_file);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        const char *t = json_string_value(v);
        if (!t || !settings_name_ok(t)) {
            snprintf(err, errlen,
                     "%s: item %zu: expected a location type name (letters, digits, _ - .)",
                     db->types_file, i + 1);
            goto out;
        }
        if (location_db_type_index(db, t) >= 0) {
            snprintf(err, errlen, "%s: location type '%s' listed twice", db->types_file, t);
            goto out;
        }
        char **slot = cmem_push(&db->types, &db->ntypes, sizeof(char *));
        *slot = cmem_strdup(t);
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static size_t node_get(struct location_db *db, const char *name)
{
    for (size_t i = 0; i < db->nnodes; i++)
        if (strcmp(db->nodes[i].name, name) == 0)
            return i;
    struct lnode *n = cmem_push(&db->nodes, &db->nnodes, sizeof(*n));
    n->name = cmem_strdup(name);
    return db->nnodes - 1;
}

static void edge_add(struct location_db *db, size_t parent, size_t kid)
{
    struct lnode *p = &db->nodes[parent];
    for (size_t i = 0; i < p->nkids; i++)
        if (p->kids[i] == kid)
            return;
    *(size_t *)cmem_push(&p->kids, &p->nkids, sizeof(size_t)) = kid;
    struct lnode *k = &db->nodes[kid];
    *(size_t *)cmem_push(&k->parents, &k->nparents, sizeof(size_t)) = parent;
}

/* Adds the children of obj below node `parent` (SIZE_MAX: top level). */
static int visit(struct location_db *db, size_t parent, json_t *obj, int depth, char *err,
                 size_t errlen)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "%s: nested deeper than %d levels", db->mapping_file, MAX_DEPTH);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!json_is_object(v)) {
            snprintf(err, errlen, "%s: \"%s\": expected an object of the locations it contains",
                     db->mapping_file, key);
            return -1;
        }
        if (!strrchr(key, '_')) {
            snprintf(err, errlen, "%s: \"%s\": expected LOCATION_TYPE", db->mapping_file, key);
            return -1;
        }
        size_t n = node_get(db, key);
        if (parent != SIZE_MAX)
            edge_add(db, parent, n);
        if (visit(db, n, v, depth + 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_mapping(struct location_db *db, char *err, size_t errlen)
{
    json_t *j = load_json(db->mapping_file, err, errlen);
    if (!j)
        return -1;
    int rc = -1;
    if (!json_is_object(j))
        snprintf(err, errlen, "%s: expected a JSON object of locations", db->mapping_file);
    else
        rc = visit(db, SIZE_MAX, j, 0, err, errlen);
    json_decref(j);
    return rc;
}

/* Reads <etc_dir>/<type>. Returns 1 with *out set, 0 when absent, -1 on a
 * file that is there but unusable. */
static int read_location_file(const char *path, char **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char buf[MAX_LOCATION_LEN + 1];
    ssize_t n = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    for (ssize_t r; n < (ssize_t)sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - (size_t)n));) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        n += r;
    }
    close(fd);
    if (n > MAX_LOCATION_LEN) {
        snprintf(err, errlen, "%s: longer than %d bytes (expected one location name)", path,
                 MAX_LOCATION_LEN);
        return -1;
    }
    size_t b = 0, e = (size_t)n;
    while (b < e && isspace((unsigned char)buf[b]))
        b++;
    while (e > b && isspace((unsigned char)buf[e - 1]))
        e--;
    if (b == e) {
        snprintf(err, errlen, "%s: empty (expected this host's location on one line)", path);
        return -1;
    }
    for (size_t i = b; i < e; i++)
        if (buf[i] < 0x21 || buf[i] > 0x7e) {
            snprintf(err, errlen, "%s: expected one location name on one line (byte %zu is 0x%02x)",
                     path, i + 1, (unsigned char)buf[i]);
            return -1;
        }
    *out = cmem_strndup(buf + b, e - b);
    return 1;
}

static int load_host_files(struct location_db *db, const char *etc_dir, char *err, size_t errlen)
{
    const char *const *types = (const char *const *)db->types;
    size_t n = db->ntypes;
    if (!n) {
        types = default_types;
        n = sizeof(default_types) / sizeof(default_types[0]);
    }
    for (size_t i = 0; i < n; i++) {
        char *path = cmem_printf("%s/%s", etc_dir, types[i]), *value = NULL;
        int rc = read_location_file(path, &value, err, errlen);
        if (rc > 0)
            hloc_add(&db->file, &db->nfile, types[i], value, path);
        free(value);
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void load_overrides(struct location_db *db, const struct settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nlocations; i++)
        if (!hloc_find(db->conf, db->nconf, s->locations[i].key))
            hloc_add(&db->conf, &db->nconf, s->locations[i].key, s->locations[i].value,
                     "locations:");
    size_t plen = strlen(ENV_PREFIX);
    for (char **e = s->envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, ENV_PREFIX, plen) != 0 || eq == *e + plen || !eq[1])
            continue; /* an empty value counts as unset */
        char *name = cmem_strndup(*e, (size_t)(eq - *e));
        if (!hloc_find(db->env, db->nenv, name + plen))
            hloc_add(&db->env, &db->nenv, name + plen, eq + 1, name);
        free(name);
    }
}

struct location_db *location_db_load(const char *etc_dir, const struct settings *s, char *err,
                                     size_t errlen)
{
    struct location_db *db = cmem_calloc(1, sizeof(*db));
    load_overrides(db, s);
    if (!etc_dir || !*etc_dir)
        return db;
    db->etc_dir = cmem_strdup(etc_dir);
    db->types_file = data_file(etc_dir, "location_types.json");
    db->mapping_file = data_file(etc_dir, "location_mapping.json");
    if (db->types_file && load_types(db, err, errlen) < 0)
        goto fail;
    if (db->mapping_file && load_mapping(db, err, errlen) < 0)
        goto fail;
    if (!db->types_file != !db->mapping_file) {
        snprintf(err, errlen,
                 "%s: found, but no %s in %s/services or " LOCATION_DATA_DIR
                 " (the location hierarchy needs both)",
                 db->types_file ? db->types_file : db->mapping_file,
                 db->types_file ? "location_mapping.json" : "location_types.json", etc_dir);
        goto fail;
    }
    if (load_host_files(db, etc_dir, err, errlen) < 0)
        goto fail;
    return db;
fail:
    location_db_free(db);
    return NULL;
}

/* ---- conversion ---- */

static int node_find(const struct location_db *db, const char *name)
{
    for (size_t i = 0; i < db->nnodes; i++)
        if (strcmp(db->nodes[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Marks every node reachable from `from` (itself included), following
 * parents (up) or children (down). */
static void reach(const struct location_db *db, size_t from, bool up, bool *seen)
{
    size_t *stack = cmem_malloc(sizeof(size_t) * (db->nnodes + 1));
    size_t sp = 0;
    stack[sp++] = from;
    seen[from] = true;
    while (sp) {
        const struct lnode *n = &db->nodes[stack[--sp]];
        size_t cnt = up ? n->nparents : n->nkids;
        const size_t *next = up ? n->parents : n->kids;
        for (size_t i = 0; i < cnt; i++)
            if (!seen[next[i]]) {
                seen[next[i]] = true;
                stack[sp++] = next[i];
            }
    }
    free(stack);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void location_list_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

int location_convert(const struct location_db *db, const char *loc, const char *src_type,
                     const char *dst_type, char ***out, size_t *nout, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!location_db_has_hierarchy(db)) {
        snprintf(err, errlen, "no location hierarchy (location_types.json, location_mapping.json)");
        return -1;
    }
    int si = location_db_type_index(db, src_type), di = location_db_type_index(db, dst_type);
    if (si < 0 || di < 0) {
        snprintf(err, errlen, "unknown location type '%s' (not in %s)",
                 si < 0 ? src_type : dst_type, db->types_file);
        return -1;
    }
    char *name = cmem_printf("%s_%s", loc, src_type);
    int start = node_find(db, name);
    free(name);
    if (start < 0) {
        snprintf(err, errlen, "unknown location %s:%s (not in %s)", src_type, loc,
                 db->mapping_file);
        return -1;
    }
    bool *seen = cmem_calloc(db->nnodes, sizeof(bool));
    reach(db, (size_t)start, di < si, seen);
    size_t tlen = strlen(dst_type), n = 0;
    char **v = cmem_calloc(db->nnodes + 1, sizeof(char *));
    for (size_t i = 0; i < db->nnodes; i++) {
        const char *nm = db->nodes[i].name;
        size_t len = strlen(nm);
        if (!seen[i] || len <= tlen + 1 || nm[len - tlen - 1] != '_' ||
            strcmp(nm + len - tlen, dst_type) != 0)
            continue;
        v[n++] = cmem_strndup(nm, len - tlen - 1);
    }
    free(seen);
    qsort(v, n, sizeof(char *), cmp_str);
    *out = v;
    *nout = n;
    return 0;
}
