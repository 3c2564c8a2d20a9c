/* Rise/fall hysteresis: a flapping app does not flap the mesh. */
#include "sidecar/health.h"

void health_init(struct health *h, int rise, int fall)
{
    h->rise = rise > 0 ? rise : 1;
    h->fall = fall > 0 ? fall : 1;
    h->passes = 0;
    h->failures = 0;
    h->up = false;
    h->probed = false;
}

bool health_feed(struct health *h, bool pass)
{
    h->probed = true;
    if (h->up) {
        h->passes = 0;
        if (pass) {
            h->failures = 0;
            return false;
        }
        if (++h->failures < h->fall)
            return false;
        h->up = false;
        h->failures = 0;
        return true;
    }
    h->failures = 0;
    if (!pass) {
        h->passes = 0;
        return false;
    }
    if (++h->passes < h->rise)
        return false;
    h->up = true;
    h->passes = 0;
    return true;
}
