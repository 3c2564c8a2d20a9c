/* libFuzzer target: smartstack.yaml reading and validation (config/ytree.c
 * on libyaml, config/yschema.c, config/smartstack.c). A service owner
 * writes this file; meshreg must answer anything in it with FILE:LINE:COL
 * errors, never a crash, a leak or an unbounded blow-up (anchors/aliases,
 * merge keys and deep nesting are all reachable from here).
 *
 * ytree_parse() is smartstack_load() minus the file read, so the input is
 * parsed from memory. Contract checks: -1 always comes with at least one
 * message, 0 never does, and every message names the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"
#include "config/smartstack.h"
#include "config/ytree.h"

#define NAME "smartstack.yaml"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Every message starts with the file name: "smartstack.yaml:L:C: ..." or
 * "smartstack.yaml: ...". Messages are one per line, but today a key with a
 * line break in it (a quoted "a\nb") is quoted raw and splits its message
 * over two lines (notes/fuzz.md, finding 1); build with
 * -DFUZZ_STRICT_DIAG_LINES to check every line once that is fixed. */
static void check_messages(const struct diag *d)
{
    CHECK(d->buf != NULL);
    CHECK(strlen(d->buf) == d->len);
    const char *line = d->buf;
    while (line) {
        CHECK(strncmp(line, NAME ":", sizeof(NAME)) == 0);
        line = strchr(line, '\n');
        if (line)
            line++;
#ifndef FUZZ_STRICT_DIAG_LINES
        line = NULL;
#endif
    }
}

static void check_result(const struct smartstack *ss)
{
    /* nns may be 0: namespaces whose keys are not strings are left out */
    for (size_t i = 0; i < ss->nns; i++) {
        const struct smartstack_ns *ns = &ss->ns[i];
        CHECK(ns->name != NULL);
        CHECK(ns->line >= 1 && ns->col >= 1);
        CHECK(ns->proxy_port == -1 || (ns->proxy_port >= 19000 && ns->proxy_port <= 21000));
        CHECK(ns->healthcheck_port >= -1 && ns->healthcheck_port <= 65535);
        CHECK(ns->healthcheck_timeout_s < 0 || ns->healthcheck_timeout_s <= 10);
        CHECK(!ns->healthcheck_uri || ns->healthcheck_uri[0] == '/');
        /* Names are unique (the last of duplicate keys is kept, only string
         * keys are namespaces): find() gets this one. */
        CHECK(smartstack_find(ss, ns->name) == ns);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag d;
    struct ytree_doc *doc = NULL;
    struct smartstack *ss = NULL;

    diag_init(&d);
    int rc = ytree_parse(NAME, (const char *)data, size, &doc, &d);
    if (rc == 0) {
        CHECK(d.count == 0);
        rc = smartstack_from_doc(doc, &ss, &d);
        ytree_doc_free(doc);
    } else {
        CHECK(doc == NULL);
    }
    if (rc == 0) {
        CHECK(ss != NULL && d.count == 0);
        check_result(ss);
    } else {
        CHECK(rc == -1 && ss == NULL && d.count > 0);
        check_messages(&d);
    }
    smartstack_free(ss);
    diag_free(&d);
    return 0;
}
