/* config/ytree.c corner by corner (test_yaml.c covers the main behaviour):
 * scalar resolution as PyYAML does it, at the edges of its int/float/bool/null forms,
 * explicit tags, NUL bytes, redefined anchors, aliases as keys, merge
 * keys given twice or quoted, every place an unknown alias or the depth
 * and node caps can strike, several errors in one file, empty documents,
 * unreadable paths, and the small query helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/diag.h"
#include "config/ytree.h"

static struct diag D;

static struct ytree_doc *parse(const char *text)
{
    struct ytree_doc *doc = (struct ytree_doc *)1;
    diag_free(&D);
    diag_init(&D);
    int rc = ytree_parse("t.yaml", text, strlen(text), &doc, &D);
    assert_true(rc == 0 ? doc != NULL && D.count == 0 : doc == NULL && D.count > 0);
    return doc;
}

static int teardown(void **state)
{
    diag_free(&D);
    return 0;
}

#define assert_diag_has(want)                                                                      \
    do {                                                                                           \
        if (!D.buf || !strstr(D.buf, (want)))                                                      \
            fail_msg("diag lacks \"%s\"; it is:\n%s", (want), D.buf ? D.buf : "(empty)");          \
    } while (0)

/* The one scalar of `v: TEXT`, resolved. */
static struct ytree_doc *one(const char *text, const struct ytree_node **v)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "v: %s\n", text);
    struct ytree_doc *doc = parse(buf);
    if (!doc)
        fail_msg("'%s' did not parse: %s", text, D.buf);
    *v = ytree_map_get(doc->root, "v");
    assert_non_null(*v);
    return doc;
}

static void expect_int(const char *text, long long want)
{
    const struct ytree_node *v;
    struct ytree_doc *doc = one(text, &v);
    if (!ytree_is_scalar(v, YTREE_INT) || v->ival != want)
        fail_msg("'%s': want integer %lld, got %s %lld", text, want, ytree_type_name(v), v->ival);
    assert_true(v->fval == (double)want);
    assert_true(ytree_is_number(v));
    ytree_doc_free(doc);
}

static void expect_float(const char *text, double want)
{
    const struct ytree_node *v;
    struct ytree_doc *doc = one(text, &v);
    if (!ytree_is_scalar(v, YTREE_FLOAT))
        fail_msg("'%s': want number, got %s", text, ytree_type_name(v));
    if (isnan(want) ? !isnan(v->fval) : v->fval != want)
        fail_msg("'%s': want %g, got %g", text, want, v->fval);
    assert_string_equal(ytree_type_name(v), "number");
    assert_true(ytree_is_number(v));
    ytree_doc_free(doc);
}

static void expect_kind(const char *text, enum ytree_stype t, const char *str)
{
    const struct ytree_node *v;
    struct ytree_doc *doc = one(text, &v);
    if (!ytree_is_scalar(v, t))
        fail_msg("'%s': got %s", text, ytree_type_name(v));
    assert_string_equal(v->str, str);
    assert_false(t == YTREE_STR && ytree_is_number(v));
    ytree_doc_free(doc);
}

/* Resolution through the tree (config/yaml11.c has its own tests): what
 * PyYAML makes of each form. */
static void test_integers(void **state)
{
    expect_int("0b101", 5);
    expect_int("017", 15); /* YAML 1.1 leading-zero octal */
    expect_int("0", 0);
    expect_int("+12", 12);
    expect_int("-0x10", -16);
    expect_int("0xfF", 255);
    expect_int("1__0", 10);
    expect_int("1:30", 90); /* sexagesimal */
    expect_int("9223372036854775807", 9223372036854775807LL);
    /* not integers to PyYAML: stay strings (0o and uppercase prefixes are YAML 1.2) */
    static const char *const strs[] = {"08",   "0x",   "0x1G", "0b102", "_1",    "+",   "0o",
                                       "0o17", "0O17", "0B11", "0XfF",  "12abc", "1 2", "1:60"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        expect_kind(strs[i], YTREE_STR, strs[i]);
    /* Python's integers have no limit: beyond long long, still an integer */
    char longnum[200];
    memset(longnum, '7', sizeof(longnum) - 1);
    longnum[sizeof(longnum) - 1] = '\0';
    const struct ytree_node *v;
    struct ytree_doc *doc = one(longnum, &v);
    assert_true(ytree_is_scalar(v, YTREE_INT) && v->big && v->ival == LLONG_MAX);
    assert_true(v->fval > 7e198);
    ytree_doc_free(doc);
    /* patterns PyYAML matches but cannot construct: the load fails */
    assert_null(parse("v: 0b_\n"));
    assert_diag_has("t.yaml:1:4: '0b_' is not a valid integer");
    assert_null(parse("v: 0x__\n"));
}

static void test_floats(void **state)
{
    expect_float("1.5e-3", 1.5e-3);
    expect_float("1.0e+5", 1e5);
    expect_float(".5", 0.5);
    expect_float("5.", 5.0);
    expect_float("-2.25", -2.25);
    expect_float("1_000.5", 1000.5);
    expect_float("0:30.5", 30.5);
    expect_float("+.Inf", INFINITY);
    expect_float(".INF", INFINITY);
    expect_float("-.inf", -INFINITY);
    expect_float("-.Inf", -INFINITY);
    expect_float(".NaN", NAN);
    expect_float(".nan", NAN);
    /* a float needs a dot, and an exponent needs its sign */
    static const char *const strs[] = {"1e5",   "1E+2",  "1.0e5", "1e",  "e5",    "1.2.3",
                                       "1e5e5", "1e5.0", ".",     "1e+", "._5",   "inf",
                                       "NaN",   "1,5",   ".e5",   "-.5", "-.nan", "+.nan"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        expect_kind(strs[i], YTREE_STR, strs[i]);
}

static void test_null_bool_and_tags(void **state)
{
    expect_kind("Null", YTREE_NULL, "Null");
    expect_kind("NULL", YTREE_NULL, "NULL");
    expect_kind("TRUE", YTREE_BOOL, "TRUE");
    expect_kind("ON", YTREE_BOOL, "ON");
    expect_kind("NO", YTREE_BOOL, "NO");
    expect_kind("nUll", YTREE_STR, "nUll");
    expect_kind("y", YTREE_STR, "y");
    /* quoted: never resolved */
    expect_kind("\"null\"", YTREE_STR, "null");
    expect_kind("'true'", YTREE_STR, "true");
    expect_kind("\"12\"", YTREE_STR, "12");
    /* an explicit tag constructs the text, even when quoted */
    expect_kind("!!int \"42\"", YTREE_INT, "42");
    expect_kind("!!bool 'yes'", YTREE_BOOL, "yes");
    expect_kind("!!bool tRuE", YTREE_BOOL, "tRuE");
    expect_kind("!!null ''", YTREE_NULL, "");
    expect_kind("!!null anything", YTREE_NULL, "anything");
    expect_kind("!!float '2.5'", YTREE_FLOAT, "2.5");
    expect_kind("!!float 20000", YTREE_FLOAT, "20000");
    expect_kind("!!str true", YTREE_STR, "true");
    expect_kind("2001-12-14", YTREE_TIME, "2001-12-14");
    expect_kind("!!binary aGk=", YTREE_BYTES, "aGk=");
    /* the non-specific tag "!" resolves as if plain, even a quoted scalar */
    expect_kind("! 12", YTREE_INT, "12");
    expect_kind("! \"12\"", YTREE_INT, "12");
    /* a tag PyYAML has no constructor for fails the load */
    assert_null(parse("v: !custom 7\n"));
    assert_string_equal(D.buf, "t.yaml:1:4: could not determine a constructor for the tag "
                               "'!custom'");
    assert_null(parse("v: !!bool maybe\n"));
    assert_null(parse("v: !!int [1]\n"));
    assert_null(parse("v: !x {a: 1}\n"));
    assert_diag_has("on a map");
    assert_null(parse("v: <<\n"));
    assert_diag_has("'tag:yaml.org,2002:merge'");
    assert_null(parse("v: =\n"));
    assert_diag_has("'tag:yaml.org,2002:value'");
    /* tags on collections: the defaults, and set/omap whose values have no JSON type */
    struct ytree_doc *doc = parse("a: !!map {x: 1}\nb: !!seq [1]\nc: !!set {x}\n"
                                  "d: !!omap [{x: 1}]\n=: 1\n");
    assert_int_equal(ytree_map_get(doc->root, "a")->kind, YTREE_MAP);
    assert_int_equal(ytree_map_get(doc->root, "b")->kind, YTREE_SEQ);
    assert_string_equal(ytree_type_name(ytree_map_get(doc->root, "c")), "set");
    assert_string_equal(ytree_type_name(ytree_map_get(doc->root, "d")->items[0]), "tuple");
    assert_int_equal(ytree_map_get(doc->root, "=")->ival, 1);
    ytree_doc_free(doc);
    assert_null(parse("v: !!omap [1]\n"));
}

/* "\0" in a quoted scalar is fine to PyYAML: a warning, the length kept. */
static void test_nul_byte_in_a_scalar(void **state)
{
    struct ytree_doc *doc = parse("a: 1\nb: \"x\\0y\"\n");
    assert_non_null(doc);
    assert_string_equal(D.wbuf, "t.yaml:2:4: warning: NUL byte in a scalar: meshreg reads the "
                                "text before it");
    assert_int_equal(ytree_map_get(doc->root, "b")->len, 3);
    ytree_doc_free(doc);
    doc = parse("\"k\\0\": 1\n");
    assert_int_equal(D.wcount, 1);
    assert_null(ytree_map_get(doc->root, "k"));
    ytree_doc_free(doc);
}

/* ---- anchors, aliases, merge keys ---- */

static void test_anchors_and_aliases(void **state)
{
    struct ytree_doc *doc = parse("a: &x 1\nb: *x\nc: &y [1]\nd: *y\n");
    assert_int_equal(ytree_map_get(doc->root, "b")->ival, 1);
    /* a copy keeps the position of what it copies */
    assert_int_equal(ytree_map_get(doc->root, "d")->line, 3);
    ytree_doc_free(doc);
    /* a redefined anchor is an error in PyYAML */
    assert_null(parse("a: &x 1\nb: *x\nc: &x 2\n"));
    assert_string_equal(D.buf, "t.yaml:3:4: found duplicate anchor '&x'");

    /* an anchored root; aliases inside lists and as keys */
    doc = parse("&r\n- &k key\n- *k\n- {*k : v}\n");
    assert_int_equal(doc->root->kind, YTREE_SEQ);
    assert_int_equal(doc->root->nitems, 3);
    assert_string_equal(doc->root->items[1]->str, "key");
    assert_string_equal(ytree_map_get(doc->root->items[2], "key")->str, "v");
    ytree_doc_free(doc);

    /* an alias key equal to a written one is a duplicate: the last wins
     * (warned where the copied key was written) */
    doc = parse("&k a: 1\n*k : 2\n");
    assert_int_equal(ytree_map_get(doc->root, "a")->ival, 2);
    assert_string_equal(D.wbuf, "t.yaml:1:1: warning: duplicate key 'a' (first at line 1): the "
                                "last one wins, as in paasta validate");
    ytree_doc_free(doc);
    /* keys are Python values: 1, 1.0, true and 0o1 (01) are one key */
    doc = parse("1: a\n1.0: b\ntrue: c\n01: d\n\"1\": e\n");
    assert_int_equal(doc->root->npairs, 2);
    assert_string_equal(doc->root->pairs[0].key->str, "1");
    assert_string_equal(doc->root->pairs[0].value->str, "d");
    assert_int_equal(D.wcount, 3);
    ytree_doc_free(doc);
    /* an alias of a collection as a key is unhashable */
    assert_null(parse("x: &m {a: 1}\n? *m\n: 2\n"));
    assert_diag_has("found unhashable key");
}

static void test_merge_keys(void **state)
{
    /* two merge keys in one map both apply, the later source winning
     * (PyYAML's flatten_mapping); in a list the earlier one wins */
    struct ytree_doc *doc = parse("a: &a {x: 1, z: 1}\n"
                                  "b: &b {y: 2, z: 2}\n"
                                  "m:\n  <<: *a\n  <<: *b\n"
                                  "n:\n  <<: [*a, *b]\n  x: 3\n");
    const struct ytree_node *m = ytree_map_get(doc->root, "m");
    assert_int_equal(m->npairs, 3);
    assert_int_equal(ytree_map_get(m, "x")->ival, 1);
    assert_int_equal(ytree_map_get(m, "y")->ival, 2);
    assert_int_equal(ytree_map_get(m, "z")->ival, 2);
    const struct ytree_node *n = ytree_map_get(doc->root, "n");
    assert_int_equal(ytree_map_get(n, "z")->ival, 1);
    assert_int_equal(ytree_map_get(n, "x")->ival, 3);
    assert_int_equal(D.wcount, 0); /* overriding a merged key is no duplicate */
    ytree_doc_free(doc);

    /* a quoted "<<" is an ordinary key; an empty list merges nothing */
    doc = parse("m:\n  \"<<\": {x: 1}\nn:\n  <<: []\n");
    m = ytree_map_get(doc->root, "m");
    assert_int_equal(m->npairs, 1);
    assert_int_equal(ytree_map_get(m, "<<")->kind, YTREE_MAP);
    assert_int_equal(ytree_map_get(doc->root, "n")->npairs, 0);
    ytree_doc_free(doc);

    /* a key tagged merge merges whatever its text; one tagged value is a string */
    doc = parse("m:\n  !!merge x: {a: 1}\n  ! <<: {b: 2}\n  !!value c: 3\n");
    m = ytree_map_get(doc->root, "m");
    assert_int_equal(m->npairs, 3);
    assert_int_equal(ytree_map_get(m, "a")->ival, 1);
    assert_int_equal(ytree_map_get(m, "b")->ival, 2);
    assert_int_equal(ytree_map_get(m, "c")->ival, 3);
    ytree_doc_free(doc);

    /* the sources: only maps */
    assert_null(parse("a: &a {x: 1}\nm:\n  <<: [*a, [1]]\n"));
    assert_string_equal(D.buf, "t.yaml:3:7: merge key '<<' needs a map or a list of maps");
    assert_null(parse("m:\n  <<: [{x: 1}, 5]\n"));
    assert_diag_has("merge key '<<' needs a map or a list of maps");
}

/* Errors that do not stop the parse are all reported, each at its place;
 * warnings apart. */
static void test_several_errors_in_one_file(void **state)
{
    char longkey[600];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    char text[2048];
    snprintf(text, sizeof(text),
             "a: 1\n"
             "a: 2\n"
             "? [x]\n"
             ": 3\n"
             "m: {<<: 4}\n"
             "%s: 1\n"
             "%s: 2\n"
             "z: \"\\0\"\n"
             "t: !t 1\n"
             "d: 2001-02-29\n",
             longkey, longkey);
    assert_null(parse(text));
    assert_int_equal(D.count, 4);
    assert_diag_has("t.yaml:3:3: found unhashable key");
    assert_diag_has("t.yaml:5:9: merge key '<<' needs a map or a list of maps");
    assert_diag_has("t.yaml:9:4: could not determine a constructor for the tag '!t'");
    assert_diag_has("t.yaml:10:4: '2001-02-29': day is out of range for month");
    assert_int_equal(D.wcount, 3);
    /* a long key is quoted cut, the message stays one line */
    char want[600];
    snprintf(want, sizeof(want), "t.yaml:7:1: warning: duplicate key '%.200s' (first at line 6)",
             longkey);
    if (!strstr(D.wbuf, want))
        fail_msg("warnings lack \"%s\":\n%s", want, D.wbuf);
    assert_non_null(strstr(D.wbuf, "t.yaml:2:1: warning: duplicate key 'a' (first at line 1)"));
    assert_non_null(strstr(D.wbuf, "t.yaml:8:4: warning: NUL byte in a scalar"));
}

/* ---- where a fatal error can strike ---- */

static void test_unknown_alias_anywhere(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"*nope\n", "t.yaml:1:1: unknown alias '*nope'"},
        {"- 1\n- *nope\n- 3\n", "t.yaml:2:3: unknown alias '*nope'"},
        {"? *nope\n: 1\n", "t.yaml:1:3: unknown alias '*nope'"},
        {"a:\n  b: [1, {c: *nope}]\n", "t.yaml:2:14: unknown alias '*nope'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_null(parse(cases[i].text));
        if (strcmp(D.buf, cases[i].want) != 0)
            fail_msg("%s: want\n  %s\ngot\n  %s", cases[i].text, cases[i].want, D.buf);
    }
    /* an alias of a list inside that very list copies what is there so
     * far: a finite tree, never a cycle */
    struct ytree_doc *doc = parse("&a [1, *a, 3]\n");
    const struct ytree_node *r = doc->root;
    assert_int_equal(r->nitems, 3);
    assert_int_equal(r->items[1]->kind, YTREE_SEQ);
    assert_int_equal(r->items[1]->nitems, 1);
    assert_int_equal(r->items[1]->items[0]->ival, 1);
    ytree_doc_free(doc);
}

/* Nesting past 64 levels, whether in values, in keys or in lists. */
static void test_depth_cap_anywhere(void **state)
{
    static char text[4096];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "{a: ");
    n += (size_t)snprintf(text + n, sizeof(text) - n, "1");
    for (int i = 0; i < 70; i++)
        text[n++] = '}';
    text[n] = '\0';
    assert_null(parse(text));
    assert_diag_has("nesting too deep");
    assert_int_equal(D.count, 1);

    n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "{? ");
    n += (size_t)snprintf(text + n, sizeof(text) - n, "k");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, ": v}");
    assert_null(parse(text));
    assert_diag_has("nesting too deep");

    /* exactly at the cap is fine */
    n = 0;
    for (int i = 0; i < 64; i++)
        text[n++] = '[';
    for (int i = 0; i < 64; i++)
        text[n++] = ']';
    text[n] = '\0';
    struct ytree_doc *doc = parse(text);
    assert_non_null(doc);
    ytree_doc_free(doc);
}

/* A list of 1000 lists holding, with the outer list, exactly 200000 nodes
 * (the cap), then `last` on line 1002 (NULL: nothing more). Nested rather
 * than one flat list of 200000, which only grows one array. */
static size_t at_the_cap(char *text, size_t cap, const char *last)
{
    size_t n = (size_t)snprintf(text, cap, "[\n");
    for (int i = 0; i < 1000; i++) {
        int items = i < 999 ? 199 : 198; /* 1 + 999 * 200 + 199 = 200000 */
        text[n++] = '[';
        for (int j = 0; j < items; j++)
            n += (size_t)snprintf(text + n, cap - n, j ? ",1" : "1");
        n += (size_t)snprintf(text + n, cap - n, "]%s\n", i < 999 || last ? "," : "");
    }
    n += (size_t)snprintf(text + n, cap - n, "%s\n]\n", last ? last : "");
    return n;
}

/* The 200000-node cap hit by a scalar, a list or a map being started. */
static void test_node_cap_by_each_kind(void **state)
{
    static const char *const last[] = {"x", "[1]", "{a: 1}"};
    size_t cap = 1000 * 420 + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t k = 0; k < sizeof(last) / sizeof(last[0]); k++) {
        size_t n = at_the_cap(text, cap, last[k]);
        diag_free(&D);
        diag_init(&D);
        struct ytree_doc *doc = (struct ytree_doc *)1;
        assert_int_equal(ytree_parse("t.yaml", text, n, &doc, &D), -1);
        assert_null(doc);
        assert_int_equal(D.count, 1);
        assert_string_equal(D.buf,
                            "t.yaml:1002:1: document too large (too many nodes, alias expansion?)");
    }
    /* at the cap itself: loads */
    size_t n = at_the_cap(text, cap, NULL);
    struct ytree_doc *doc = NULL;
    diag_free(&D);
    diag_init(&D);
    if (ytree_parse("t.yaml", text, n, &doc, &D) != 0)
        fail_msg("%s", D.buf);
    assert_int_equal(doc->root->nitems, 1000);
    assert_int_equal(doc->root->items[999]->nitems, 198);
    ytree_doc_free(doc);
    free(text);
}

/* ---- documents and files ---- */

static void test_empty_documents(void **state)
{
    struct ytree_doc *doc = parse("");
    assert_null(doc->root);
    ytree_doc_free(doc);
    doc = parse("---\n");
    assert_null(doc->root);
    ytree_doc_free(doc);
    doc = parse("--- \n...\n");
    assert_null(doc->root);
    ytree_doc_free(doc);
    /* a written null is a value, not an empty document */
    doc = parse("--- ~\n");
    assert_non_null(doc->root);
    assert_true(ytree_is_scalar(doc->root, YTREE_NULL));
    ytree_doc_free(doc);
    doc = parse("plain\n");
    assert_string_equal(doc->root->str, "plain");
    assert_string_equal(doc->file, "t.yaml");
    ytree_doc_free(doc);
    ytree_doc_free(NULL);
}

static void test_unreadable_paths(void **state)
{
    char dir[] = "/tmp/meshreg-test-ytree-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct ytree_doc *doc = (struct ytree_doc *)1;
    diag_free(&D);
    diag_init(&D);
    /* a directory opens but does not read */
    assert_int_equal(ytree_load_file(dir, &doc, &D), -1);
    assert_null(doc);
    char want[128];
    snprintf(want, sizeof(want), "%s: cannot read: I/O error", dir);
    assert_string_equal(D.buf, want);

    /* a file we may not open (as root, only if the check applies) */
    char path[160];
    snprintf(path, sizeof(path), "%s/nope.yaml", dir);
    diag_free(&D);
    diag_init(&D);
    assert_int_equal(ytree_load_file(path, &doc, &D), -1);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(D.buf, want);

    /* a file longer than one read buffer, then parsed */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 500; i++)
        fprintf(f, "# padding line %04d to go past the first read buffer\n", i);
    fputs("key: value\n", f);
    fclose(f);
    diag_free(&D);
    diag_init(&D);
    assert_int_equal(ytree_load_file(path, &doc, &D), 0);
    assert_string_equal(ytree_map_get(doc->root, "key")->str, "value");
    assert_int_equal(ytree_map_get(doc->root, "key")->line, 501);
    assert_string_equal(doc->file, path);
    ytree_doc_free(doc);
    unlink(path);
    rmdir(dir);
}

/* ---- the query helpers ---- */

static void test_helpers(void **state)
{
    struct ytree_doc *doc = parse("m: {a: 1}\nl: [1]\nf: 1.5\nb: off\nn: ~\ns: x\n");
    const struct ytree_node *r = doc->root;
    assert_string_equal(ytree_type_name(NULL), "nothing");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "m")), "map");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "l")), "list");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "f")), "number");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "b")), "boolean");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "n")), "null");
    assert_string_equal(ytree_type_name(ytree_map_get(r, "s")), "string");
    assert_null(ytree_map_get(NULL, "m"));
    assert_null(ytree_map_get(ytree_map_get(r, "l"), "m")); /* not a map */
    assert_null(ytree_map_get(r, "missing"));
    assert_false(ytree_is_scalar(NULL, YTREE_STR));
    assert_false(ytree_is_scalar(ytree_map_get(r, "m"), YTREE_STR));
    assert_false(ytree_is_number(ytree_map_get(r, "b")));
    assert_false(ytree_is_number(NULL));
    ytree_doc_free(doc);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_integers),
        T(test_floats),
        T(test_null_bool_and_tags),
        T(test_nul_byte_in_a_scalar),
        T(test_anchors_and_aliases),
        T(test_merge_keys),
        T(test_several_errors_in_one_file),
        T(test_unknown_alias_anywhere),
        T(test_depth_cap_anywhere),
        T(test_node_cap_by_each_kind),
        T(test_empty_documents),
        T(test_unreadable_paths),
        T(test_helpers),
    };
    return cmocka_run_group_tests_name("ytree", tests, NULL, NULL);
}
