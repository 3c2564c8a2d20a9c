/* Start-up memory given back once start-up is over: see memtrim.h. */
#include "sidecar/memtrim.h"

#include <errno.h>
#include <ev.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sidecar/log.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static ev_timer trim_timer;
static bool scheduled;

/* One line of /proc/self/maps: "lo-hi perms offset dev inode path". A
 * read-only private mapping of a file is code or constant data: clean
 * pages the kernel can always read again. Writable and anonymous mappings
 * (heap, stack, .data) are left alone: their pages are the process's own. */
static bool trim_candidate(const char *line, unsigned long *lo, unsigned long *hi)
{
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", lo, hi, perms, &path_at) != 3 || !path_at)
        return false;
    return perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && line[path_at] == '/';
}

int memtrim_now(char *err, size_t errlen)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) {
        snprintf(err, errlen, "/proc/self/maps: %s", strerror(errno));
        return -1;
    }
    malloc_trim(0);
    char line[512];
    int advised = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (!trim_candidate(line, &lo, &hi))
            continue;
        /* Both are hints; a failure (an old kernel) only costs the saving. */
        if (madvise((void *)lo, hi - lo, MADV_RANDOM) == 0 &&
            madvise((void *)lo, hi - lo, MADV_PAGEOUT) == 0)
            advised++;
        else
            log_debug(NULL, "memtrim: madvise %lx-%lx: %s", lo, hi, strerror(errno));
    }
    fclose(f);
    return advised;
}

static void trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    char err[256];
    int n = memtrim_now(err, sizeof(err));
    if (n < 0)
        log_debug(NULL, "memtrim: %s", err);
    else
        log_debug(NULL, "memtrim: start-up pages of %d mapping(s) given back", n);
}

void memtrim_schedule(struct ev_loop *loop, double after)
{
    if (scheduled)
        return;
    /* The operator's way out, and the benchmark's "before" column. */
    const char *env = getenv("MESHREG_MEMTRIM");
    if (env && strcmp(env, "0") == 0) {
        log_debug(NULL, "memtrim: off (MESHREG_MEMTRIM=0)");
        return;
    }
    scheduled = true;
    ev_timer_init(&trim_timer, trim_cb, after, 0.);
    ev_timer_start(loop, &trim_timer);
}

void memtrim_stop(struct ev_loop *loop)
{
    if (scheduled)
        ev_timer_stop(loop, &trim_timer);
}
