/* The running sidecar as the admin side sees it: struct admin_view
 * (sidecar/admin/admin_view.h) over a struct sidecar. Reading goes straight
 * to the checks, the drain machine and the registry; requests go to
 * sidecar.c's sidecar_request_*(). */
#ifndef MESHREG_VIEW_H
#define MESHREG_VIEW_H

#include "sidecar/admin/admin_view.h"
#include "sidecar/sidecar.h"

/* A view of sc, good for as long as sc runs. */
struct admin_view view_of(struct sidecar *sc);

#endif
