/* Helpers shared by the config tests: a scratch directory for generated files,
 * finding the fixtures from any build directory, and a config_load() wrapper. */
#ifndef MESHREG_TEST_CONFIG_UTIL_H
#define MESHREG_TEST_CONFIG_UTIL_H

#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

static char tdir[PATH_MAX]; /* scratch directory of the current test */
static char terr[16384];    /* last config_load error text */

/* The tests read tests/fixtures/... relative to the repository root; walk up
 * from the binary (build/<X>/tests/) if started elsewhere. */
static __attribute__((unused)) void find_repo_root(const char *argv0)
{
    char path[PATH_MAX];
    if (access("tests/fixtures/smartstack", F_OK) == 0 || !realpath(argv0, path))
        return;
    for (int i = 0; i < 6; i++) {
        char *dir = dirname(path);
        memmove(path, dir, strlen(dir) + 1);
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof(probe), "%s/tests/fixtures/smartstack", path);
        if (access(probe, F_OK) == 0) {
            if (chdir(path) != 0)
                perror("chdir");
            return;
        }
    }
}

static __attribute__((unused)) int rm_cb(const char *p, const struct stat *st, int flag,
                                         struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static __attribute__((unused)) int tdir_setup(void **state)
{
    (void)state;
    snprintf(tdir, sizeof(tdir), "/tmp/meshreg-cfgtest-XXXXXX");
    return mkdtemp(tdir) ? 0 : -1;
}

static __attribute__((unused)) int tdir_teardown(void **state)
{
    (void)state;
    return nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes tdir/rel (creating directories); returns the full path (static buffer
 * rotation of 8, so a few can be alive at once). */
static __attribute__((unused)) const char *put(const char *rel, const char *content)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tdir, rel);
    for (char *s = p + strlen(tdir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    if (!f)
        abort();
    fputs(content, f);
    fclose(f);
    return p;
}

/* tdir/rel as a path (not created). */
static __attribute__((unused)) const char *tpath(const char *rel)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tdir, rel);
    return p;
}

/* config_load with a NULL-terminated argument list and environment. */
static __attribute__((unused)) int load(struct mr_config **cfg, const char *const *env, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, env);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 63;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    terr[0] = '\0';
    *cfg = NULL;
    static const char *const noenv[] = {NULL};
    return config_load(n, (char **)args, (char **)(env ? env : noenv), cfg, terr, sizeof(terr));
}

static __attribute__((unused)) int count_lines(const char *s)
{
    int n = *s ? 1 : 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* What config_print writes for cfg (NULL too), malloc'd. */
static __attribute__((unused)) char *config_printed(const struct mr_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    config_print(f, cfg);
    fclose(f);
    return buf;
}

/* Fails unless config_print writes exactly want for cfg. */
static __attribute__((unused)) void expect_printed(const struct mr_config *cfg, const char *want)
{
    char *out = config_printed(cfg);
    bool same = strcmp(out, want) == 0;

    if (!same)
        print_error("config_print wrote:\n%swant:\n%s", out, want);
    free(out);
    assert_true(same);
}

/* Fails with the whole error text when it does not contain want. */
#define assert_err_has(want)                                                                       \
    do {                                                                                           \
        if (!strstr(terr, (want)))                                                                 \
            fail_msg("error text lacks \"%s\"; it is:\n%s", (want), terr);                         \
    } while (0)

/* The same for "FILE:at" (at: "LINE:COL: what"). */
#define assert_err_at(file, at)                                                                    \
    do {                                                                                           \
        char want_[PATH_MAX + 512];                                                                \
        snprintf(want_, sizeof(want_), "%s:%s", (file), (at));                                     \
        assert_err_has(want_);                                                                     \
    } while (0)

#define assert_loads(rc)                                                                           \
    do {                                                                                           \
        if ((rc) != 0)                                                                             \
            fail_msg("config_load failed:\n%s", terr);                                             \
    } while (0)

#endif
