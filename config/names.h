/* A hashed index of names to numbers (checks by "svc.ns", smartstack files
 * by path), so that a look-up by name (GET /health/<svc.ns>, a reload's
 * compare, loading 10,000 registrations) costs the same with 10 names or
 * 10,000. */
#ifndef MESHREG_NAMES_H
#define MESHREG_NAMES_H

#include <stdbool.h>
#include <stddef.h>

struct names;

/* An index sized for n names; NULL when out of memory. */
struct names *names_new(size_t n);
/* Adds name -> i (the name is not copied: it must outlive the index). The
 * first of equal names wins. Returns -1 when the index is full. */
int names_add(struct names *x, const char *name, size_t i);
/* The number of name[0..len), or false. */
bool names_find(const struct names *x, const char *name, size_t len, size_t *i);
void names_free(struct names *x);

#endif
