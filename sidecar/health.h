/* Rise/fall hysteresis of one check, as a pure counter (haproxy's
 * check->health): no I/O, no clock. A check starts down and needs `rise`
 * consecutive passes to go up, then `fall` consecutive failures to go down. */
#ifndef MESHREG_HEALTH_H
#define MESHREG_HEALTH_H

#include <stdbool.h>

struct health {
    int rise, fall;
    int passes_in_a_row;   /* while down */
    int failures_in_a_row; /* while up */
    bool up;
    bool probed;        /* at least one result seen */
    double grace_until; /* start-up grace end, on the caller's clock (0 = none) */
};

void health_init(struct health *h, int rise, int fall);

/* Feeds one probe result. Returns true when the state flipped. */
bool health_feed(struct health *h, bool pass);

/* Start-up grace (a worker's healthcheck_grace_period_seconds): for
 * grace_s seconds from `started` (the process start, on the caller's clock:
 * a reload does not restart it), failures of a check that is not up yet are
 * not counted. 0 = none. */
void health_grace(struct health *h, double started, double grace_s);

enum health_verdict {
    HEALTH_KEPT,     /* counted; the state did not flip */
    HEALTH_FLIPPED,  /* counted; up <-> down */
    HEALTH_IN_GRACE, /* a failure the start-up grace swallowed: not counted */
};
/* One probe result at `now`: the grace first, then health_feed(). */
enum health_verdict health_result(struct health *h, bool pass, double now);

#endif
