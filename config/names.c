/* Open addressing with linear probing over a power-of-two table at most
 * half full: short probe runs, no per-name allocation. */
#include "config/names.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct names_slot {
    const char *name; /* NULL: empty */
    size_t len;
    size_t i;
};

struct names {
    struct names_slot *slots;
    size_t mask, used;
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t k = 0; k < len; k++)
        h = (h ^ (unsigned char)s[k]) * 1099511628211ULL;
    return h;
}

struct names *names_new(size_t n)
{
    struct names *x = calloc(1, sizeof(*x));
    size_t cap = 16;

    if (!x)
        return NULL;
    while (cap < 2 * n + 1)
        cap *= 2;
    if (!(x->slots = calloc(cap, sizeof(*x->slots)))) {
        free(x);
        return NULL;
    }
    x->mask = cap - 1;
    return x;
}

int names_add(struct names *x, const char *name, size_t i)
{
    size_t len = strlen(name), k;

    if (x->used + 1 > (x->mask + 1) / 2)
        return -1;
    for (k = hash(name, len) & x->mask; x->slots[k].name; k = (k + 1) & x->mask)
        if (x->slots[k].len == len && memcmp(x->slots[k].name, name, len) == 0)
            return 0; /* the first one stays */
    x->slots[k] = (struct names_slot){name, len, i};
    x->used++;
    return 0;
}

bool names_find(const struct names *x, const char *name, size_t len, size_t *i)
{
    if (!x)
        return false;
    for (size_t k = hash(name, len) & x->mask; x->slots[k].name; k = (k + 1) & x->mask) {
        if (x->slots[k].len == len && memcmp(x->slots[k].name, name, len) == 0) {
            *i = x->slots[k].i;
            return true;
        }
    }
    return false;
}

void names_free(struct names *x)
{
    if (!x)
        return;
    free(x->slots);
    free(x);
}
