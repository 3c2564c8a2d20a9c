/* A fixed-bucket latency histogram (seconds) for /metrics: the buckets
 * Prometheus client libraries use by default, 1 ms to 10 s. */
#ifndef MESHREG_HIST_H
#define MESHREG_HIST_H

#include <stddef.h>

#define HIST_NBOUNDS 13

extern const double hist_bounds[HIST_NBOUNDS];

struct hist {
    unsigned long counts[HIST_NBOUNDS + 1]; /* per bucket, not cumulative; last: above */
    unsigned long count;
    double sum;
};

/* Adds one observation (negative counts as 0). */
void hist_add(struct hist *h, double seconds);

#endif
