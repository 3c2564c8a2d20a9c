#include "config/cmem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *p)
{
    if (!p) {
        fputs("meshreg: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cmem_check(void *p)
{
    return check(p);
}

void *cmem_malloc(size_t n)
{
    return check(malloc(n ? n : 1));
}

void *cmem_calloc(size_t n, size_t size)
{
    return check(calloc(n ? n : 1, size ? size : 1));
}

void *cmem_realloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1));
}

char *cmem_strdup(const char *s)
{
    return s ? check(strdup(s)) : NULL;
}

char *cmem_strndup(const char *s, size_t n)
{
    return s ? check(strndup(s, n)) : NULL;
}

char *cmem_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        check(NULL);
    return s;
}

void *cmem_push(void *arr_p, size_t *n, size_t sz)
{
    void **arr = arr_p;
    char *a = cmem_realloc(*arr, (*n + 1) * sz);
    memset(a + *n * sz, 0, sz);
    *arr = a;
    (*n)++;
    return a + (*n - 1) * sz;
}
