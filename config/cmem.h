/* Allocation helpers for the config layer. Config parsing runs once at start-up
 * (and on SIGHUP) and allocates small amounts; on out-of-memory there is nothing
 * sensible to do, so these abort() rather than thread ENOMEM through every
 * validator (redis's zmalloc makes the same call). */
#ifndef MESHREG_CMEM_H
#define MESHREG_CMEM_H

#include <stddef.h>

void *cmem_malloc(size_t n);
void *cmem_calloc(size_t n, size_t size);
void *cmem_realloc(void *p, size_t n);
/* Duplicates s; NULL gives NULL. */
char *cmem_strdup(const char *s);
char *cmem_strndup(const char *s, size_t n);
/* printf into a new string. */
char *cmem_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* p itself, or the same abort when it is NULL (for allocations made elsewhere). */
void *cmem_check(void *p);
/* Grows *arr (of *n elements of size sz) by one zeroed element; returns it. */
void *cmem_push(void *arr_p, size_t *n, size_t sz);

#endif
