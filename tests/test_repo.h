/* Finding a file of this repository from a test binary, wherever the build
 * put it (build/tests/, build/asan/tests/): up from /proc/self/exe. Used by
 * the tests that start a fixture or a scripts/ helper. Header-only. */
#ifndef MESHREG_TEST_REPO_H
#define MESHREG_TEST_REPO_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Writes DIR/rel into out for the nearest directory DIR above the binary
 * where access(DIR/rel, mode) succeeds; returns 0, or -1 if there is none. */
static inline int test_repo_path(const char *rel, int mode, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (char *slash; (slash = strrchr(exe, '/')) != NULL;) {
        *slash = '\0';
        snprintf(out, len, "%s/%s", exe, rel);
        if (access(out, mode) == 0)
            return 0;
    }
    return -1;
}

#endif
