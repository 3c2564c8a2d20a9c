/* The YAML tree (config/ytree.c): scalar resolution, positions, duplicate keys,
 * anchors/aliases/merge keys and the limits that refuse hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diag.h"
#include "config/smartstack.h"
#include "config/ytree.h"

/* Parses text; returns the doc (NULL on error) and leaves errors in *d. */
static struct ytree_doc *parse(const char *text, struct diag *d)
{
    struct ytree_doc *doc = NULL;
    diag_init(d);
    ytree_parse("t.yaml", text, strlen(text), &doc, d);
    return doc;
}

static void plain_scalars_resolve_like_pyyaml(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a: 20000\n"
                                  "b: \"20000\"\n"
                                  "c: '20000'\n"
                                  "d: 0x1f\n"
                                  "e: 0o17\n"
                                  "f: 2.5\n"
                                  "g: yes\n"
                                  "h: Off\n"
                                  "i: ~\n"
                                  "j:\n"
                                  "k: hello\n"
                                  "l: !!str 12\n"
                                  "m: -7\n"
                                  "n: 1_000\n"
                                  "o: .inf\n"
                                  "p: |\n  block\n",
                                  &d);
    assert_non_null(doc);
    const struct ytree_node *r = doc->root;
    assert_true(ytree_is_scalar(ytree_map_get(r, "a"), YTREE_INT));
    assert_int_equal(ytree_map_get(r, "a")->ival, 20000);
    assert_true(ytree_is_scalar(ytree_map_get(r, "b"), YTREE_STR));
    assert_true(ytree_map_get(r, "b")->quoted);
    assert_true(ytree_is_scalar(ytree_map_get(r, "c"), YTREE_STR));
    assert_int_equal(ytree_map_get(r, "d")->ival, 31);
    /* 0o is YAML 1.2: PyYAML keeps it a string */
    assert_true(ytree_is_scalar(ytree_map_get(r, "e"), YTREE_STR));
    assert_true(ytree_is_scalar(ytree_map_get(r, "f"), YTREE_FLOAT));
    assert_true(ytree_map_get(r, "f")->fval == 2.5);
    assert_true(ytree_is_scalar(ytree_map_get(r, "g"), YTREE_BOOL));
    assert_true(ytree_map_get(r, "g")->bval);
    assert_true(ytree_is_scalar(ytree_map_get(r, "h"), YTREE_BOOL));
    assert_false(ytree_map_get(r, "h")->bval);
    assert_true(ytree_is_scalar(ytree_map_get(r, "i"), YTREE_NULL));
    assert_true(ytree_is_scalar(ytree_map_get(r, "j"), YTREE_NULL));
    assert_true(ytree_is_scalar(ytree_map_get(r, "k"), YTREE_STR));
    assert_true(ytree_is_scalar(ytree_map_get(r, "l"), YTREE_STR));
    assert_int_equal(ytree_map_get(r, "m")->ival, -7);
    assert_int_equal(ytree_map_get(r, "n")->ival, 1000);
    assert_true(ytree_is_scalar(ytree_map_get(r, "o"), YTREE_FLOAT));
    assert_true(ytree_is_scalar(ytree_map_get(r, "p"), YTREE_STR));
    assert_string_equal(ytree_map_get(r, "p")->str, "block\n");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "b")), "string");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "a")), "integer");
    ytree_doc_free(doc);
    diag_free(&d);
}

static void positions_are_one_based(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("# comment\nmain:\n  proxy_port: 20000\n  list: [a, b]\n", &d);
    assert_non_null(doc);
    const struct ytree_node *main_ = ytree_map_get(doc->root, "main");
    assert_int_equal(doc->root->pairs[0].key->line, 2);
    assert_int_equal(doc->root->pairs[0].key->col, 1);
    const struct ytree_node *pp = ytree_map_get(main_, "proxy_port");
    assert_int_equal(pp->line, 3);
    assert_int_equal(pp->col, 15);
    const struct ytree_node *l = ytree_map_get(main_, "list");
    assert_int_equal(l->kind, YTREE_SEQ);
    assert_int_equal(l->nitems, 2);
    assert_int_equal(l->items[1]->line, 4);
    assert_int_equal(l->items[1]->col, 13);
    assert_string_equal(pp->file, "t.yaml");
    ytree_doc_free(doc);
    diag_free(&d);
}

/* PyYAML keeps the last of duplicate keys (in the first one's place):
 * so does ytree, warning about each. */
static void every_duplicate_key_is_a_warning_and_the_last_wins(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\n", &d);
    assert_non_null(doc);
    assert_int_equal(d.count, 0);
    assert_int_equal(d.wcount, 2);
    assert_non_null(strstr(d.wbuf, "t.yaml:3:1: warning: duplicate key 'a' (first at line 1)"));
    assert_non_null(strstr(d.wbuf, "t.yaml:6:3: warning: duplicate key 'x' (first at line 5)"));
    assert_int_equal(doc->root->npairs, 3);
    assert_string_equal(doc->root->pairs[0].key->str, "a");
    assert_int_equal(doc->root->pairs[0].value->ival, 3);
    assert_int_equal(ytree_map_get(ytree_map_get(doc->root, "c"), "x")->ival, 2);
    ytree_doc_free(doc);
    diag_free(&d);
}

static void syntax_errors_have_a_position(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a: 1\nb: [1, 2\n", &d);
    assert_null(doc);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.buf, "t.yaml:3:1: "));
    assert_non_null(strstr(d.buf, "did not find expected ',' or ']'"));
    diag_free(&d);

    doc = parse("a: 1\n b: 2\n", &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:2:3: "));
    assert_non_null(strstr(d.buf, "mapping values are not allowed"));
    diag_free(&d);
}

static void aliases_copy_and_merge_keys_merge(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("_d: &d\n"
                                  "  cpus: 1\n"
                                  "  weight: 5\n"
                                  "main:\n"
                                  "  <<: *d\n"
                                  "  weight: 7\n"
                                  "other: *d\n"
                                  "both:\n"
                                  "  <<: [*d, {mem: 3, cpus: 9}]\n",
                                  &d);
    assert_non_null(doc);
    const struct ytree_node *m = ytree_map_get(doc->root, "main");
    assert_int_equal(ytree_map_get(m, "weight")->ival, 7); /* written keys win */
    assert_int_equal(ytree_map_get(m, "cpus")->ival, 1);
    assert_int_equal(ytree_map_get(ytree_map_get(doc->root, "other"), "weight")->ival, 5);
    const struct ytree_node *b = ytree_map_get(doc->root, "both");
    assert_int_equal(ytree_map_get(b, "cpus")->ival, 1); /* the first source wins */
    assert_int_equal(ytree_map_get(b, "mem")->ival, 3);
    assert_null(ytree_map_get(m, "<<"));
    ytree_doc_free(doc);
    diag_free(&d);
}

static void anchors_inside_merge_values_stay_usable(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a:\n  <<: &base {x: 1}\nb: *base\n", &d);
    assert_non_null(doc);
    assert_int_equal(ytree_map_get(ytree_map_get(doc->root, "b"), "x")->ival, 1);
    ytree_doc_free(doc);
    diag_free(&d);
}

static void bad_merge_and_unknown_alias_fail(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a:\n  <<: 5\n", &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:2:7: merge key '<<' needs a map or a list of maps"));
    diag_free(&d);
    doc = parse("a: *nope\n", &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:1:4: unknown alias '*nope'"));
    diag_free(&d);
}

static void alias_bomb_is_refused(void **state)
{
    struct diag d;
    /* 9 levels of 10x fan-out: 10^9 nodes if expanded. */
    const char *text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                       "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    struct ytree_doc *doc = parse(text, &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "too many nodes"));
    diag_free(&d);
}

/* Found by reading ytree.c while writing the fuzz harness: the node cap hit
 * exactly inside a merge-key alias copy left NULL children that the '<<'
 * check then read (a segfault instead of an error). */
static void node_cap_inside_a_merge_alias_is_an_error(void **state)
{
    struct diag d;
    const char *text =
        "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: [*d,*d,*d,*d,*d,*d,*c,*c,*c,*c,*c,*c,*c,*c,*b,*b,*b,*b,*b,*b,*b,*b,*a,*a,0,0,0,0]\n"
        "ms: &ms [{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},"
        "{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1},{k: 1}]\n"
        "m: {<<: *ms}\n";
    struct ytree_doc *doc = parse(text, &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:7:"));
    assert_non_null(strstr(d.buf, "too many nodes"));
    diag_free(&d);
}

static void deep_nesting_is_refused(void **state)
{
    char text[400];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        text[n++] = '[';
    for (int i = 0; i < 100; i++)
        text[n++] = ']';
    text[n] = '\0';
    struct diag d;
    struct ytree_doc *doc = parse(text, &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "nesting too deep"));
    diag_free(&d);
}

static void one_document_only_and_empty_is_null(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a: 1\n---\nb: 2\n", &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:2:1: only one YAML document"));
    diag_free(&d);
    doc = parse("# only a comment\n", &d);
    assert_non_null(doc);
    assert_null(doc->root);
    ytree_doc_free(doc);
    diag_free(&d);
}

static void non_scalar_keys_are_refused(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("? [a, b]\n: 1\n", &d);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "t.yaml:1:3: found unhashable key"));
    diag_free(&d);
}

static void missing_file_is_reported(void **state)
{
    struct diag d;
    struct ytree_doc *doc = NULL;
    diag_init(&d);
    assert_int_equal(ytree_load_file("/nonexistent/x.yaml", &doc, &d), -1);
    assert_null(doc);
    assert_string_equal(d.buf, "/nonexistent/x.yaml: cannot read: No such file or directory");
    diag_free(&d);
    ytree_doc_free(NULL);
}

/* ---- files over 4 KiB ----
 * ytree_load_file reads into a buffer that starts at 4 KiB and doubles, so
 * its reads end at 4096, 8192 and 16384 bytes; libyaml decodes its input
 * 16 KiB at a time. A token cut by one of those boundaries must come out
 * whole, at the right line and column. The texts are generated so that a
 * key, a multi-byte character, and an erroneous value each straddle one. */

struct gen {
    char *buf;
    size_t len, cap;
    int line; /* 1-based line of the next byte */
};

static void gen_add(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gen_add(struct gen *g, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(tmp));
    if (g->len + (size_t)n + 1 > g->cap) {
        g->cap = (g->len + (size_t)n + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
        assert_non_null(g->buf);
    }
    memcpy(g->buf + g->len, tmp, (size_t)n + 1);
    g->len += (size_t)n;
    for (int i = 0; i < n; i++)
        g->line += tmp[i] == '\n';
}

/* Pads with a comment line (or an empty line) so that the next byte is at
 * offset `at`. */
static void gen_pad_to(struct gen *g, size_t at)
{
    static const char x[] =
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; /* 198 */
    assert_true(at >= g->len);
    while (at - g->len > 200)
        gen_add(g, "#%s\n", x);
    size_t gap = at - g->len;
    if (gap == 1)
        gen_add(g, "\n");
    else if (gap > 1)
        gen_add(g, "#%.*s\n", (int)(gap - 2), x);
    assert_int_equal(g->len, at);
}

/* Before the next piece: if it could reach `point`, pad so that the piece
 * starts `before` bytes ahead of it (its first byte at point - before).
 * Pieces are under 200 bytes. Returns whether it padded. */
static bool gen_place(struct gen *g, size_t point, size_t before)
{
    size_t at = point - before;
    if (g->len > at || g->len + 200 <= at)
        return false;
    gen_pad_to(g, at);
    return true;
}

static char *write_temp(const struct gen *g)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/meshreg-test-yaml-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, g->buf, g->len), (ssize_t)g->len);
    close(fd);
    return path;
}

static const size_t bounds[] = {4096, 8192, 16384};

static void big_file_tokens_across_read_boundaries(void **state)
{
    struct gen g = {.line = 1};
    int key_line[3] = {0}, flow_line = 0;
    size_t keys = 0;
    bool flow_done = false;
    for (int i = 0; g.len < 20 * 1024; i++) {
        /* a key whose 3rd byte is the first after 4096 and after 16384 */
        for (int b = 0; b < 3; b += 2)
            if (!key_line[b] && gen_place(&g, bounds[b], 2))
                key_line[b] = g.line;
        /* a flow map whose 3-byte character straddles 8192 */
        if (!flow_done && gen_place(&g, bounds[1], 7 + 1)) {
            flow_line = g.line;
            gen_add(&g, "f: {a: \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac, b: 1}\n");
            flow_done = true;
            continue;
        }
        gen_add(&g, "key_%05d: value_%05d\n", i, i);
        keys++;
    }
    assert_true(key_line[0] && key_line[2] && flow_done);
    assert_int_equal(g.buf[bounds[0] - 2], 'k');
    /* the euro sign's first byte ends one read, the rest begins the next */
    assert_int_equal((unsigned char)g.buf[bounds[1] - 1], 0xe2);
    assert_int_equal((unsigned char)g.buf[bounds[1]], 0x82);

    struct diag d;
    struct ytree_doc *doc = NULL;
    diag_init(&d);
    char *path = write_temp(&g);
    if (ytree_load_file(path, &doc, &d) != 0)
        fail_msg("%s", d.buf);
    const struct ytree_node *root = doc->root;
    assert_int_equal(root->npairs, keys + 1);
    size_t k = 0;
    for (size_t i = 0; i < root->npairs; i++) {
        const struct ytree_pair *pr = &root->pairs[i];
        if (strcmp(pr->key->str, "f") == 0)
            continue;
        char want_key[32], want_val[32];
        int n;
        assert_int_equal(sscanf(pr->key->str, "key_%d", &n), 1);
        snprintf(want_key, sizeof(want_key), "key_%05d", n);
        snprintf(want_val, sizeof(want_val), "value_%05d", n);
        assert_string_equal(pr->key->str, want_key);
        assert_string_equal(pr->value->str, want_val);
        assert_int_equal(pr->key->col, 1);
        assert_int_equal(pr->value->col, 12);
        k++;
    }
    assert_int_equal(k, keys);
    /* the straddling keys, where they were written */
    for (int b = 0; b < 3; b += 2) {
        const struct ytree_pair *hit = NULL;
        for (size_t i = 0; i < root->npairs; i++)
            if (root->pairs[i].key->line == key_line[b])
                hit = &root->pairs[i];
        assert_non_null(hit);
        assert_int_equal(hit->key->col, 1);
        assert_int_equal(hit->value->line, key_line[b]);
    }
    /* columns count characters: the euro signs are one column each */
    const struct ytree_node *fm = ytree_map_get(root, "f");
    assert_non_null(fm);
    assert_int_equal(fm->line, flow_line);
    assert_string_equal(ytree_map_get(fm, "a")->str, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
    assert_int_equal(fm->pairs[1].key->line, flow_line);
    assert_int_equal(fm->pairs[1].key->col, 13);
    assert_int_equal(ytree_map_get(fm, "b")->col, 16);
    assert_int_equal(ytree_map_get(fm, "b")->ival, 1);
    ytree_doc_free(doc);
    diag_free(&d);
    unlink(path);
    free(g.buf);
}

static void ns_block(struct gen *g, int i, int port, bool bogus)
{
    gen_add(g, "ns_%04d:\n%s  proxy_port: %d\n  mode: http\n  healthcheck_uri: /status/%04d\n", i,
            bogus ? "  bogus: 1\n" : "", port, i);
}

/* A 20 KiB smartstack.yaml: namespace keys straddling 4096 and 16384 are
 * read whole, at their line, and every namespace has its values. */
static void big_smartstack_file_loads(void **state)
{
    struct gen g = {.line = 1};
    int line[2] = {0}, idx[2] = {0}, n = 0;
    gen_add(&g, "# %s\n", "generated: a service with very many namespaces");
    while (g.len < 20 * 1024) {
        if (!line[0] && gen_place(&g, bounds[0], 2))
            line[0] = g.line, idx[0] = n;
        if (!line[1] && gen_place(&g, bounds[2], 4))
            line[1] = g.line, idx[1] = n;
        ns_block(&g, n, 20000 + n, false);
        n++;
    }
    assert_true(line[0] && line[1]);
    assert_memory_equal(g.buf + bounds[0] - 2, "ns_", 3);

    struct diag d;
    struct smartstack *ss = NULL;
    diag_init(&d);
    char *path = write_temp(&g);
    if (smartstack_load(path, &ss, &d) != 0)
        fail_msg("%s", d.buf);
    assert_int_equal(ss->nns, n);
    for (int i = 0; i < n; i++) {
        char name[16], uri[32];
        snprintf(name, sizeof(name), "ns_%04d", i);
        snprintf(uri, sizeof(uri), "/status/%04d", i);
        const struct smartstack_ns *ns = smartstack_find(ss, name);
        if (!ns)
            fail_msg("namespace %s missing", name);
        assert_int_equal(ns->proxy_port, 20000 + i);
        assert_string_equal(ns->healthcheck_uri, uri);
        assert_int_equal(ns->col, 1);
        for (int b = 0; b < 2; b++)
            if (i == idx[b])
                assert_int_equal(ns->line, line[b]);
    }
    smartstack_free(ss);
    diag_free(&d);
    unlink(path);
    free(g.buf);
}

/* Errors deep in a big file are reported at the right FILE:LINE:COL, even
 * when the offending token is cut by a read boundary: an unknown key
 * across 8192, a value out of range across 16384, and (in a second file)
 * a syntax error past 16 KiB. */
static void big_smartstack_file_errors_have_positions(void **state)
{
    struct gen g = {.line = 1};
    int key_line = 0, key_ns = -1, val_line = 0, val_ns = -1, n = 0;
    while (g.len < 20 * 1024) {
        bool bogus = false;
        int port = 20000 + n;
        /* "ns_NNNN:\n  " is 11 bytes: 'bogus' starts 2 bytes before 8192 */
        if (key_ns < 0 && gen_place(&g, bounds[1], 11 + 2)) {
            key_ns = n;
            key_line = g.line + 1;
            bogus = true;
        }
        /* "ns_NNNN:\n  proxy_port: " is 23 bytes: 18000 straddles 16384 */
        if (val_ns < 0 && gen_place(&g, bounds[2], 23 + 2)) {
            val_ns = n;
            val_line = g.line + 1;
            port = 18000;
        }
        ns_block(&g, n, port, bogus);
        n++;
    }
    assert_true(key_ns >= 0 && val_ns >= 0);
    assert_memory_equal(g.buf + bounds[1] - 2, "bogus", 5);
    assert_memory_equal(g.buf + bounds[2] - 2, "18000", 5);

    struct diag d;
    struct smartstack *ss = NULL;
    char want[256];
    diag_init(&d);
    char *path = write_temp(&g);
    assert_int_equal(smartstack_load(path, &ss, &d), -1);
    assert_null(ss);
    assert_int_equal(d.count, 2);
    snprintf(want, sizeof(want), "%s:%d:3: ns_%04d: unknown key 'bogus'", path, key_line, key_ns);
    if (!strstr(d.buf, want))
        fail_msg("want\n  %s\ngot\n  %s", want, d.buf);
    snprintf(want, sizeof(want), "%s:%d:15: ns_%04d.proxy_port: 18000 is out of range", path,
             val_line, val_ns);
    if (!strstr(d.buf, want))
        fail_msg("want\n  %s\ngot\n  %s", want, d.buf);
    diag_free(&d);
    unlink(path);

    /* a tab where indentation belongs, its line starting at 16384 */
    g.len = 0;
    g.line = 1;
    n = 0;
    int tab_line = 0;
    while (g.len < 20 * 1024) {
        if (!tab_line && gen_place(&g, bounds[2], 9)) { /* "ns_NNNN:\n" */
            tab_line = g.line + 1;
            gen_add(&g, "ns_%04d:\n\tproxy_port: 20000\n", n++);
            continue;
        }
        ns_block(&g, n, 20000 + n, false);
        n++;
    }
    assert_int_equal(g.buf[bounds[2]], '\t');
    diag_init(&d);
    path = write_temp(&g);
    assert_int_equal(smartstack_load(path, &ss, &d), -1);
    snprintf(want, sizeof(want),
             "%s:%d:1: while scanning for the next token found character that cannot", path,
             tab_line);
    if (!strstr(d.buf, want))
        fail_msg("want\n  %s\ngot\n  %s", want, d.buf);
    diag_free(&d);
    unlink(path);
    free(g.buf);
}

/* Exactly one read buffer, one byte more, and a file with no final
 * newline that ends right at a boundary. */
static void files_at_the_buffer_size(void **state)
{
    for (size_t size = 4095; size <= 4097; size++) {
        for (int final_nl = 0; final_nl < 2; final_nl++) {
            struct gen g = {.line = 1};
            gen_add(&g, "first: 1\n");
            size_t tail = final_nl ? strlen("last: 2\n") : strlen("last: 2");
            gen_pad_to(&g, size - tail);
            gen_add(&g, final_nl ? "last: 2\n" : "last: 2");
            assert_int_equal(g.len, size);
            struct diag d;
            struct ytree_doc *doc = NULL;
            diag_init(&d);
            char *path = write_temp(&g);
            if (ytree_load_file(path, &doc, &d) != 0)
                fail_msg("%zu bytes: %s", size, d.buf);
            assert_int_equal(ytree_map_get(doc->root, "last")->ival, 2);
            assert_int_equal(ytree_map_get(doc->root, "last")->line, g.line - final_nl);
            ytree_doc_free(doc);
            diag_free(&d);
            unlink(path);
            free(g.buf);
        }
    }
}

/* Over the 16 MiB cap: refused with a message, not read to the end. */
static void file_over_the_cap_is_refused(void **state)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/meshreg-test-yaml-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0); /* sparse: no disk used */
    close(fd);
    struct diag d;
    struct ytree_doc *doc = NULL;
    diag_init(&d);
    assert_int_equal(ytree_load_file(path, &doc, &d), -1);
    assert_null(doc);
    assert_non_null(strstr(d.buf, "file too large"));
    assert_non_null(strstr(d.buf, path));
    diag_free(&d);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_scalars_resolve_like_pyyaml),
        cmocka_unit_test(positions_are_one_based),
        cmocka_unit_test(every_duplicate_key_is_a_warning_and_the_last_wins),
        cmocka_unit_test(syntax_errors_have_a_position),
        cmocka_unit_test(aliases_copy_and_merge_keys_merge),
        cmocka_unit_test(anchors_inside_merge_values_stay_usable),
        cmocka_unit_test(bad_merge_and_unknown_alias_fail),
        cmocka_unit_test(alias_bomb_is_refused),
        cmocka_unit_test(node_cap_inside_a_merge_alias_is_an_error),
        cmocka_unit_test(deep_nesting_is_refused),
        cmocka_unit_test(one_document_only_and_empty_is_null),
        cmocka_unit_test(non_scalar_keys_are_refused),
        cmocka_unit_test(missing_file_is_reported),
        cmocka_unit_test(big_file_tokens_across_read_boundaries),
        cmocka_unit_test(big_smartstack_file_loads),
        cmocka_unit_test(big_smartstack_file_errors_have_positions),
        cmocka_unit_test(files_at_the_buffer_size),
        cmocka_unit_test(file_over_the_cap_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
