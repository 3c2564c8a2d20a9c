#include "config/probe_kind.h"

#include <string.h>

/* In enum order: probe_kind_name indexes it. */
const char *const probe_kind_names[] = {"http", "https", "tcp", "cmd", "grpc", NULL};

const char *probe_kind_name(enum probe_kind k)
{
    if ((unsigned)k >= sizeof(probe_kind_names) / sizeof(probe_kind_names[0]) - 1)
        return "?";
    return probe_kind_names[k];
}

bool probe_kind_parse(const char *mode, enum probe_kind *out)
{
    if (strcmp(mode, "http2") == 0)
        mode = "http";
    for (int i = 0; probe_kind_names[i]; i++)
        if (strcmp(probe_kind_names[i], mode) == 0)
            return *out = (enum probe_kind)i, true;
    return false;
}
