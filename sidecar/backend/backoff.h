/* Capped exponential backoff with jitter for every reconnect and retry of
 * the backends (README "Backends"): a fleet of sidecars that lost the same
 * ensemble at the same instant must not retry in lock-step.
 *
 * Equal jitter: the n-th delay since the last reset is drawn uniformly from
 * [c/2, c], where the ceiling c starts at 2*min and doubles up to max; the
 * floor is never below min. Every delay is thus in [min, max], each step's
 * range starts where the previous one ended (delays grow with the failures
 * until the cap), and at the cap the fleet is still spread over [max/2, max].
 * Why not full jitter ([0, c]): it can draw ~0, a retry at once, which is
 * the herd again for the unlucky share. Why not decorrelated jitter
 * (min(max, uniform(min, 3*prev))): once prev nears the cap most draws clip
 * to exactly max, and our caps are low (etcd's is half a second), so a fleet
 * that has been failing for a while would retry in lock-step at the cap.
 *
 * Each state has its own generator, seeded from the kernel's randomness, the
 * pid and both clocks, plus a per-process counter: sidecars started in the
 * same second (or as pid 1 in identical containers) draw different
 * sequences, and so do two states of one process. Single-threaded, as the
 * event loop is. */
#ifndef MESHREG_BACKOFF_H
#define MESHREG_BACKOFF_H

#include <stdint.h>

struct backoff {
    double min, max; /* bounds of every delay, seconds; 0 < min <= max */
    double cur;      /* ceiling of the last delay drawn; 0 = none since the reset */
    uint64_t rng;    /* generator state */
};

/* A fresh state (reset) with its own seed. */
void backoff_init(struct backoff *b, double min, double max);

/* The same with a given seed: the sequence of draws is a function of it
 * (tests). */
void backoff_init_seeded(struct backoff *b, double min, double max, uint64_t seed);

/* The delay before the next attempt, after a failure: in [min, max]. */
double backoff_next(struct backoff *b);

/* After a success: the next failure starts again from [min, 2*min]. */
void backoff_reset(struct backoff *b);

#endif
