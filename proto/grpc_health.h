/* gRPC message framing and the two grpc.health.v1 messages, encoded and
 * decoded by hand: they are tiny, and a protobuf runtime plus generated
 * code would cost more than the whole probe.
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }
 *   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2;
 *                        SERVICE_UNKNOWN = 3; }
 *
 * A gRPC message on the wire is a 5-byte prefix (1 byte compressed flag,
 * 4 bytes big-endian length) and the protobuf bytes. No sockets, no policy:
 * what passes is the probe's business. */
#ifndef MESHREG_GRPC_HEALTH_H
#define MESHREG_GRPC_HEALTH_H

#include <stddef.h>

#define GRPC_HEALTH_PATH "/grpc.health.v1.Health/Check"
#define GRPC_FRAME_PREFIX 5

enum grpc_health_status {
    GRPC_HEALTH_UNKNOWN = 0,
    GRPC_HEALTH_SERVING = 1,
    GRPC_HEALTH_NOT_SERVING = 2,
    GRPC_HEALTH_SERVICE_UNKNOWN = 3,
};

/* Bytes grpc_health_encode_request() writes for `service` (NULL = ""). */
size_t grpc_health_request_len(const char *service);
/* Writes the framed HealthCheckRequest (prefix + protobuf; an empty service
 * is the empty message, as proto3 omits default values). Returns the bytes
 * written, or 0 when out is too small. */
size_t grpc_health_encode_request(const char *service, unsigned char *out, size_t outlen);

/* Decodes a whole unary response body: exactly one uncompressed framed
 * HealthCheckResponse, nothing after it. Unknown fields are skipped; a
 * missing status field is UNKNOWN (proto3 default). Returns 0 with *status
 * set, or -1 with the reason in err ("truncated message", ...). */
int grpc_health_decode_response(const unsigned char *buf, size_t len, int *status, char *err,
                                size_t errlen);

/* "SERVING", "NOT_SERVING", ...; NULL for a value outside the enum. */
const char *grpc_health_status_name(int status);
/* Canonical gRPC status code names ("OK", "NOT_FOUND", ...); NULL when
 * outside 0..16. */
const char *grpc_status_code_name(int code);

/* Percent-decodes a grpc-message header value into out (always
 * NUL-terminated, cut to fit); control characters become spaces, so the
 * result is safe in a one-line log detail. */
void grpc_message_decode(const char *in, char *out, size_t outlen);

#endif
