#include "sidecar/hist.h"

const double hist_bounds[HIST_NBOUNDS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10};

void hist_add(struct hist *h, double seconds)
{
    size_t i = 0;
    if (seconds < 0)
        seconds = 0;
    while (i < HIST_NBOUNDS && seconds > hist_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += seconds;
}
