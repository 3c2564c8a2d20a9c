/* Collects configuration errors, one per line, so that a config load can report
 * every problem it found instead of only the first. Lines look like
 * "FILE:LINE:COL: message" for file errors, "--flag: message" for flag errors
 * and "ENVVAR: message" for environment errors. */
#ifndef MESHREG_DIAG_H
#define MESHREG_DIAG_H

#include <stddef.h>

struct ytree_node;

struct diag {
    char *buf; /* NUL-terminated, lines separated by '\n' (no trailing one) */
    size_t len, cap;
    int count;
    /* Warnings: problems that do not stop meshreg (README "Same verdicts as
     * paasta validate"), same line format, kept apart from the errors. */
    char *wbuf;
    size_t wlen, wcap;
    int wcount;
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
/* Adds one line (no newline in fmt). */
void diag_add(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds "FILE:LINE:COL: message" pointing at node n (file taken from the node). */
void diag_node(struct diag *d, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a warning "FILE:LINE:COL: message" pointing at node n. */
void diag_warn_node(struct diag *d, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a warning line as it is ("FILE: warning: ..."). */
void diag_warn(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies everything collected into err (truncated to errlen). */
void diag_copy(const struct diag *d, char *err, size_t errlen);

#endif
