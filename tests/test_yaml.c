/* The YAML tree (config/ytree.c): scalar resolution, positions, duplicate keys,
 * anchors/aliases/merge keys and the limits that refuse hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"
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
    assert_int_equal(ytree_map_get(r, "e")->ival, 15);
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

static void every_duplicate_key_is_reported(void **state)
{
    struct diag d;
    struct ytree_doc *doc = parse("a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\n", &d);
    assert_null(doc);
    assert_int_equal(d.count, 2);
    assert_non_null(strstr(d.buf, "t.yaml:3:1: duplicate key 'a' (first at line 1)"));
    assert_non_null(strstr(d.buf, "t.yaml:6:3: duplicate key 'x' (first at line 5)"));
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
    assert_non_null(strstr(d.buf, "t.yaml:1:3: mapping keys must be scalars"));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_scalars_resolve_like_pyyaml),
        cmocka_unit_test(positions_are_one_based),
        cmocka_unit_test(every_duplicate_key_is_reported),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
