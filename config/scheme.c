/* The backend scheme table and its matching rules. */
#include "config/scheme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/settings.h"

#define SCHEME_ROW_(k, n, syn, multi) {SCHEME_##k, n, syn, multi},
static const struct scheme schemes[SCHEME_COUNT] = {SCHEME_TABLE(SCHEME_ROW_)};
#undef SCHEME_ROW_

const struct scheme *scheme_find(const char *uri)
{
    for (size_t i = 0; i < SCHEME_COUNT; i++) {
        size_t n = strlen(schemes[i].name);
        if (strncmp(uri, schemes[i].name, n) != 0)
            continue;
        /* A bare name only for a multi-cluster scheme: "zk" alone names no store. */
        if (uri[n] == ':' || (uri[n] == '\0' && schemes[i].multi_cluster))
            return &schemes[i];
    }
    return NULL;
}

const struct scheme *scheme_get(enum scheme_kind kind)
{
    return kind < SCHEME_COUNT ? &schemes[kind] : NULL;
}

char *scheme_cluster_type(const char *uri, char *err, size_t errlen)
{
    const struct scheme *s = scheme_find(uri);
    if (!s || !s->multi_cluster) {
        snprintf(err, errlen, "'%s' is not smartstack[:CLUSTER_TYPE]", uri);
        return NULL;
    }
    const char *type = uri[strlen(s->name)] == ':' ? uri + strlen(s->name) + 1
                                                   : SCHEME_DEFAULT_CLUSTER_TYPE;
    /* The type is a directory name under zookeeper_discovery/. */
    if (!settings_name_ok(type)) {
        snprintf(err, errlen,
                 "'%s': cluster type '%s' is not a name (letters, digits, _ - . only); "
                 "expected %s",
                 uri, type, s->syntax);
        return NULL;
    }
    char *copy = strdup(type);
    if (!copy)
        snprintf(err, errlen, "out of memory");
    return copy;
}

int scheme_check(const char *uri, char *err, size_t errlen)
{
    const struct scheme *s = scheme_find(uri);
    if (!s) {
        snprintf(err, errlen, "'%s': expected %s", uri, SCHEME_HELP_ALL);
        return -1;
    }
    if (!s->multi_cluster)
        return 0;
    char *type = scheme_cluster_type(uri, err, errlen);
    free(type);
    return type ? 0 : -1;
}
