/* See failalloc.h. Single-threaded tests only: the counters are plain. */
#include "tests/failalloc.h"

#include <stddef.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static unsigned countdown; /* 0: off */
static bool sticky_fail;
static bool failing;
static unsigned nfailed;

void failalloc_arm(unsigned nth, bool sticky)
{
    countdown = nth;
    sticky_fail = sticky;
    failing = false;
    nfailed = 0;
}

void failalloc_off(void)
{
    countdown = 0;
    failing = false;
}

unsigned failalloc_failed(void)
{
    return nfailed;
}

static bool should_fail(void)
{
    if (failing) {
        nfailed++;
        return true;
    }
    if (countdown == 0)
        return false;
    if (--countdown > 0)
        return false;
    nfailed++;
    failing = sticky_fail;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = __wrap_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *__wrap_strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = __wrap_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
