/* The probe kinds meshreg runs (README "Probes"), named once: the names a
 * config may give (healthcheck_mode), the kind each selects, and the name
 * logs, /status and `meshreg check` print for a kind. */
#ifndef MESHREG_PROBE_KIND_H
#define MESHREG_PROBE_KIND_H

#include <stdbool.h>

enum probe_kind { PROBE_HTTP, PROBE_HTTPS, PROBE_TCP, PROBE_CMD, PROBE_GRPC };

/* The names of the kinds, NULL-terminated, for a schema's enum (an
 * instance config's or a VM service's healthcheck_mode). smartstack.yaml
 * has its own list: PaaSTA's modes (http2 among them) plus cmd and grpc. */
extern const char *const probe_kind_names[];

/* "http", "https", "tcp", "cmd", "grpc"; "?" for a value out of range. */
const char *probe_kind_name(enum probe_kind k);

/* The kind a healthcheck_mode selects: a kind's name, or PaaSTA's "http2",
 * which is probed as plain http (README "Probes"). False for anything else. */
bool probe_kind_parse(const char *mode, enum probe_kind *out);

#endif
