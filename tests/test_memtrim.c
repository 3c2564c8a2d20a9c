/* memtrim (sidecar/memtrim.c) against the real kernel: a read-only private
 * file mapping this process alone maps loses its resident pages, while a
 * writable mapping and the heap keep theirs and their contents; the timer
 * fires on a real libev loop; MESHREG_MEMTRIM=0 keeps everything. Residency
 * is read from /proc/self/smaps, the same place VmRSS comes from. */
#include <ev.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/memtrim.h"

#define PAGES 64

/* Rss in kB of the mapping that starts at ADDR, from /proc/self/smaps. */
static long rss_kb(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    unsigned long lo, hi;
    long kb = -1;
    int in = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = lo == (unsigned long)addr;
        else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
            break;
    }
    if (f)
        fclose(f);
    return kb;
}

/* Whether this kernel has MADV_PAGEOUT (5.4+), asked independently of the
 * code under test so that a trim that does nothing cannot pass as "old
 * kernel". */
static int pageout_supported(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = p != MAP_FAILED && madvise(p, (size_t)pg, 21 /* MADV_PAGEOUT */) == 0;
    if (p != MAP_FAILED)
        munmap(p, (size_t)pg);
    return ok;
}

struct fx {
    char path[64];
    int fd;
    size_t len;
    unsigned char *ro;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    long pg = sysconf(_SC_PAGESIZE);
    f->len = (size_t)pg * PAGES;
    snprintf(f->path, sizeof(f->path), "/tmp/meshreg-memtrim.XXXXXX");
    f->fd = mkstemp(f->path);
    assert_true(f->fd >= 0);
    unsigned char *buf = malloc(f->len);
    for (size_t i = 0; i < f->len; i++)
        buf[i] = (unsigned char)(i * 7);
    assert_int_equal(write(f->fd, buf, f->len), (ssize_t)f->len);
    free(buf);
    /* Written back first, as an installed binary is: dirty page-cache pages
     * cannot be reclaimed (BENCHMARKS.md, the "strip" state), and without
     * this the test failed whenever writeback had not run yet. */
    assert_int_equal(fsync(f->fd), 0);
    f->ro = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, f->fd, 0);
    assert_true(f->ro != MAP_FAILED);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    munmap(f->ro, f->len);
    close(f->fd);
    unlink(f->path);
    free(f);
    unsetenv("MESHREG_MEMTRIM");
    return 0;
}

static unsigned touch(const unsigned char *p, size_t len)
{
    unsigned sum = 0;
    for (size_t i = 0; i < len; i += 512)
        sum += ((const volatile unsigned char *)p)[i];
    return sum;
}

static void test_read_only_file_pages_given_back(void **state)
{
    struct fx *f = *state;
    unsigned before = touch(f->ro, f->len);
    long kb_before = rss_kb(f->ro);
    assert_true(kb_before >= (long)(f->len / 1024) / 2); /* the control: it was resident */

    /* A writable private mapping of the same file, written: anonymous
     * copies now, which the trim must not throw away. */
    unsigned char *rw = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->fd, 0);
    assert_true(rw != MAP_FAILED);
    memset(rw, 0xAB, f->len);
    char *heap = malloc(100000);
    memset(heap, 0x5A, 100000);

    char err[256];
    int n = memtrim_now(err, sizeof(err));
    assert_true(n >= 1);
    if (!pageout_supported())
        skip(); /* a kernel before 5.4: nothing can be given back */
    long kb_after = rss_kb(f->ro);
    assert_true(kb_after < kb_before / 4);

    /* Contents intact: the pages come back from the file when read. */
    assert_int_equal(touch(f->ro, f->len), before);
    assert_int_equal(rss_kb(rw), (long)(f->len / 1024));
    for (size_t i = 0; i < f->len; i += 4096)
        assert_int_equal(rw[i], 0xAB);
    for (size_t i = 0; i < 100000; i += 1000)
        assert_int_equal(heap[i], 0x5A);
    free(heap);
    munmap(rw, f->len);
}

static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs LOOP with memtrim scheduled 50 ms ahead and a stop at 300 ms. */
static void run_scheduled(struct ev_loop *loop)
{
    ev_timer stop;
    ev_timer_init(&stop, stop_cb, 0.3, 0.);
    ev_timer_start(loop, &stop);
    memtrim_schedule(loop, 0.05);
    ev_run(loop, 0);
    ev_timer_stop(loop, &stop);
    memtrim_stop(loop);
}

/* Must run before the scheduled test: the timer is once per process, and
 * an "off" call does not use that one chance up. */
static void test_env_off_keeps_pages(void **state)
{
    struct fx *f = *state;
    touch(f->ro, f->len);
    long kb_before = rss_kb(f->ro);
    setenv("MESHREG_MEMTRIM", "0", 1);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    run_scheduled(loop);
    assert_int_equal(rss_kb(f->ro), kb_before);
    ev_loop_destroy(loop);
}

static void test_scheduled_on_the_loop(void **state)
{
    struct fx *f = *state;
    touch(f->ro, f->len);
    long kb_before = rss_kb(f->ro);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    run_scheduled(loop);
    long kb_after = rss_kb(f->ro);
    ev_loop_destroy(loop);
    if (!pageout_supported())
        skip();
    assert_true(kb_after < kb_before / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_only_file_pages_given_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_off_keeps_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_on_the_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
