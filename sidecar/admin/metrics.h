/* GET /metrics: the Prometheus text exposition format (version 0.0.4), from the sidecar's view
 * only. Label values are escaped as the format says (backslash, double quote, newline), so no
 * registration name can break a scrape. Per-registration series are counters and gauges;
 * histograms are per probe kind and per backend operation (README "Metrics"). */
#ifndef MESHREG_METRICS_H
#define MESHREG_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "sidecar/admin/admin_view.h"

/* The whole body; returns 200, or 500 when out of memory (*body NULL). */
int metrics_render(const struct admin_view *v, char **body, size_t *len);

/* Writes s as a label value's content: \ -> \\, " -> \", newline -> \n. */
void metrics_label_escape(FILE *f, const char *s);

#endif
