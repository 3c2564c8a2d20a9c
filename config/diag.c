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
    free(d->wbuf);
    memset(d, 0, sizeof(*d));
}

static void append_line(char **buf, size_t *len, size_t *cap, int *count, const char *prefix,
                        const char *fmt, va_list ap)
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
    if (*len + need + 1 > *cap) {
        *cap = (*len + need + 1) * 2;
        *buf = cmem_realloc(*buf, *cap);
    }
    *len += (size_t)snprintf(*buf + *len, *cap - *len, "%s%s%s", *count ? "\n" : "",
                             prefix ? prefix : "", msg);
    (*count)++;
    free(msg);
}

void diag_add(struct diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(&d->buf, &d->len, &d->cap, &d->count, NULL, fmt, ap);
    va_end(ap);
}

void diag_node(struct diag *d, const struct ytree_node *n, const char *fmt, ...)
{
    char prefix[1200];
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", n->file, n->line, n->col);
    va_list ap;
    va_start(ap, fmt);
    append_line(&d->buf, &d->len, &d->cap, &d->count, prefix, fmt, ap);
    va_end(ap);
}

void diag_warn_node(struct diag *d, const struct ytree_node *n, const char *fmt, ...)
{
    char prefix[1200];
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: warning: ", n->file, n->line, n->col);
    va_list ap;
    va_start(ap, fmt);
    append_line(&d->wbuf, &d->wlen, &d->wcap, &d->wcount, prefix, fmt, ap);
    va_end(ap);
}

void diag_warn(struct diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(&d->wbuf, &d->wlen, &d->wcap, &d->wcount, "", fmt, ap);
    va_end(ap);
}

/* Whole lines while they fit, then how many were left out: a line cut in
 * its middle ("... is ") reads as a different error. */
void diag_copy(const struct diag *d, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    const char *b = d->buf ? d->buf : "";
    if (strlen(b) < errlen) {
        memcpy(err, b, strlen(b) + 1);
        return;
    }
    char tail[64];
    size_t used = 0;
    int shown = 0;
    for (const char *p = b; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        size_t need = used + (shown ? 1 : 0) + l;
        int after = d->count - shown - 1; /* lines left out if this one is shown */
        size_t reserve = after > 0 ? (size_t)snprintf(tail, sizeof(tail), "\n... and %d more", after)
                                   : 0;
        if (need + reserve + 1 > errlen)
            break;
        if (shown)
            err[used++] = '\n';
        memcpy(err + used, p, l);
        used += l;
        shown++;
        p = nl ? nl + 1 : p + l;
    }
    int more = d->count - shown;
    int n = snprintf(tail, sizeof(tail), "%s... and %d more", shown ? "\n" : "", more);
    if (more > 0 && shown && used + (size_t)n + 1 <= errlen) {
        memcpy(err + used, tail, (size_t)n + 1);
    } else if (more > 0) { /* not even one line and the count fit: cut */
        snprintf(err, errlen, "%s", b);
    } else {
        err[used] = '\0';
    }
}
