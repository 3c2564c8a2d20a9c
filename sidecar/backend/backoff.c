/* Capped exponential backoff with equal jitter; why this scheme: backoff.h. */
#include "sidecar/backend/backoff.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define GOLDEN 0x9e3779b97f4a7c15ULL

/* SplitMix64's output function: a bijection that spreads every input bit
 * over the whole word, so nearby seeds give unrelated streams. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits of the next SplitMix64 output. */
static double next01(struct backoff *b)
{
    b->rng += GOLDEN;
    return (double)(mix64(b->rng) >> 11) * 0x1.0p-53;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts = {0, 0};
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The kernel's randomness when it has some to give without blocking (early
 * boot may not); the pid and the clocks either way, so that identical
 * containers started together still differ. Made again after a fork, which
 * would otherwise hand the child the parent's sequence. */
static uint64_t process_seed(void)
{
    static uint64_t seed;
    static pid_t seeded_in;
    pid_t pid = getpid();
    if (seeded_in != pid) {
        uint64_t k = 0;
        if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k)
            k = 0;
        seed = k ^ mix64((uint64_t)pid) ^ mix64(clock_ns(CLOCK_MONOTONIC) + GOLDEN) ^
               clock_ns(CLOCK_REALTIME);
        seeded_in = pid;
    }
    return seed;
}

void backoff_init_seeded(struct backoff *b, double min, double max, uint64_t seed)
{
    b->min = min;
    b->max = max < min ? min : max;
    b->cur = 0;
    b->rng = mix64(seed);
}

void backoff_init(struct backoff *b, double min, double max)
{
    static uint64_t states;
    backoff_init_seeded(b, min, max, process_seed() ^ mix64(++states));
}

double backoff_next(struct backoff *b)
{
    double hi = b->cur > 0 ? 2 * b->cur : 2 * b->min;
    if (hi > b->max)
        hi = b->max;
    double lo = hi / 2 < b->min ? b->min : hi / 2;
    b->cur = hi;
    return lo + (hi - lo) * next01(b);
}

void backoff_reset(struct backoff *b)
{
    b->cur = 0;
}
