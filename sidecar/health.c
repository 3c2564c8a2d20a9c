/* Rise/fall hysteresis: a flapping app does not flap the mesh. */
#include "sidecar/health.h"

void health_init(struct health *h, int rise, int fall)
{
    h->rise = rise > 0 ? rise : 1;
    h->fall = fall > 0 ? fall : 1;
    h->passes_in_a_row = 0;
    h->failures_in_a_row = 0;
    h->up = false;
    h->probed = false;
    h->grace_until = 0;
}

void health_grace(struct health *h, double started, double grace_s)
{
    h->grace_until = grace_s > 0 ? started + grace_s : 0;
}

enum health_verdict health_result(struct health *h, bool pass, double now)
{
    /* An app still starting fails its first probes; only its first pass
     * (or the end of the grace) makes failures count. */
    if (!pass && !h->up && now < h->grace_until)
        return HEALTH_IN_GRACE;
    return health_feed(h, pass) ? HEALTH_FLIPPED : HEALTH_KEPT;
}

bool health_feed(struct health *h, bool pass)
{
    h->probed = true;
    if (h->up) {
        h->passes_in_a_row = 0;
        if (pass) {
            h->failures_in_a_row = 0;
            return false;
        }
        if (++h->failures_in_a_row < h->fall)
            return false;
        h->up = false;
        h->failures_in_a_row = 0;
        return true;
    }
    h->failures_in_a_row = 0;
    if (!pass) {
        h->passes_in_a_row = 0;
        return false;
    }
    if (++h->passes_in_a_row < h->rise)
        return false;
    h->up = true;
    h->passes_in_a_row = 0;
    return true;
}
