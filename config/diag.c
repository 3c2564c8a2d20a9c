#include "config/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cmem.h"
#include "config/ytree.h"

void diag_init(struct diag *d)
{
    memset(d, 0, sizeof(*d));
}

void diag_free(struct diag *d)
{
    if (!d)
        return;
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

static void append_line(struct diag *d, const char *prefix, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    /* One problem per line: a key or value quoted into the message may hold
     * a line break (YAML allows it in quoted keys), which would split the
     * line or forge a "FILE:LINE:COL:" of its own. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    size_t need = (prefix ? strlen(prefix) : 0) + strlen(msg) + 2;
    if (d->len + need + 1 > d->cap) {
        d->cap = (d->len + need + 1) * 2;
        d->buf = cmem_realloc(d->buf, d->cap);
    }
    d->len += (size_t)snprintf(d->buf + d->len, d->cap - d->len, "%s%s%s", d->count ? "\n" : "",
                               prefix ? prefix : "", msg);
    d->count++;
    free(msg);
}

void diag_add(struct diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(d, NULL, fmt, ap);
    va_end(ap);
}

void diag_node(struct diag *d, const struct ytree_node *n, const char *fmt, ...)
{
    char prefix[1200];
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", n->file, n->line, n->col);
    va_list ap;
    va_start(ap, fmt);
    append_line(d, prefix, fmt, ap);
    va_end(ap);
}

void diag_copy(const struct diag *d, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    snprintf(err, errlen, "%s", d->buf ? d->buf : "");
}
