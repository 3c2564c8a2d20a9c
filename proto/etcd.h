/* etcd v3 through its JSON gateway (grpc-gateway, served by etcd 3.4+ under
 * /v3/...): request bodies and reply decoding, no I/O and no policy.
 *
 * The gateway maps protobuf to JSON: bytes fields (key, value, range_end)
 * are base64, int64/uint64 fields (IDs, TTLs, revisions, counts) come back as
 * decimal strings and zero-valued fields are left out (a keepalive for an
 * unknown lease answers without "TTL"). Errors come back either as
 * {"error":"...","message":"...","code":N} (unary calls) or as
 * {"error":{"grpc_code":N,"http_code":H,"message":"..."}} (streams such as
 * keepalive), where N is a gRPC status code. Streaming replies wrap each
 * message in {"result":{...}}. */
#ifndef MESHREG_ETCD_H
#define MESHREG_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_PATH_LEASE_GRANT "/v3/lease/grant"
#define ETCD_PATH_LEASE_KEEPALIVE "/v3/lease/keepalive"
#define ETCD_PATH_LEASE_REVOKE "/v3/lease/revoke"
#define ETCD_PATH_LEASE_TTL "/v3/lease/timetolive"
#define ETCD_PATH_PUT "/v3/kv/put"
#define ETCD_PATH_DELETE "/v3/kv/deleterange"
#define ETCD_PATH_RANGE "/v3/kv/range"
#define ETCD_PATH_AUTHENTICATE "/v3/auth/authenticate"

/* gRPC status codes the gateway reports in "code". */
enum etcd_code {
    ETCD_OK = 0,
    ETCD_INVALID_ARGUMENT = 3,
    ETCD_DEADLINE_EXCEEDED = 4,
    ETCD_NOT_FOUND = 5,
    ETCD_FAILED_PRECONDITION = 9,
    ETCD_PERMISSION_DENIED = 7,
    ETCD_UNAVAILABLE = 14,
    ETCD_UNAUTHENTICATED = 16,
};

/* What an error reply says about authentication (etcd's rpctypes texts). */
enum etcd_auth_error {
    ETCD_AUTH_NONE,          /* not an auth error */
    ETCD_AUTH_BAD_PASSWORD,  /* "authentication failed, invalid user ID or password" */
    ETCD_AUTH_TOKEN,         /* the token expired, was revoked, or the auth store moved on:
                                authenticate again */
    ETCD_AUTH_NEEDED,        /* "user name is empty": auth is on and we sent no token */
    ETCD_AUTH_DENIED,        /* "permission denied": no role grants this */
    ETCD_AUTH_NOT_ENABLED,   /* authenticate on a cluster without auth */
};

/* Standard base64 with padding. Returns a malloc'd NUL-terminated string,
 * NULL on allocation failure. */
char *etcd_b64_encode(const void *data, size_t len);
/* Decodes standard base64 (padding optional, no whitespace). Returns a
 * malloc'd buffer of *outlen bytes plus a NUL (so text stays a C string), or
 * NULL when the input is not base64 or allocation fails. */
unsigned char *etcd_b64_decode(const char *s, size_t len, size_t *outlen);

/* Request bodies: malloc'd JSON text, NULL on allocation failure. IDs are
 * sent as decimal strings, as the gateway itself writes them. */
char *etcd_lease_grant_body(int64_t ttl_seconds);
char *etcd_lease_keepalive_body(int64_t id);
char *etcd_lease_revoke_body(int64_t id);
/* timetolive: remaining and granted TTL of a lease. */
char *etcd_lease_ttl_body(int64_t id);
/* Put value (value_len bytes) at key; lease 0 for none. */
char *etcd_put_body(const char *key, const void *value, size_t value_len, int64_t lease);
/* Delete / range over one key, or every key starting with key when prefix. */
char *etcd_delete_body(const char *key, bool prefix);
char *etcd_range_body(const char *key, bool prefix);
/* {"name":user,"password":password}; the caller wipes and frees it. */
char *etcd_auth_body(const char *user, const char *password);

struct etcd_kv {
    char *key; /* decoded, NUL-terminated */
    size_t key_len;
    char *value; /* decoded, NUL-terminated */
    size_t value_len;
    int64_t lease, create_revision, mod_revision, version;
};

/* One decoded reply. Fields the reply does not carry stay zero. */
struct etcd_resp {
    int code;          /* gRPC status: ETCD_OK, or the error's code */
    char message[192]; /* the error's text when code != ETCD_OK */
    uint64_t cluster_id, member_id;
    int64_t revision, raft_term;
    int64_t id;  /* lease grant / keepalive / timetolive: the lease ID */
    int64_t ttl; /* lease: remaining TTL in seconds; 0 or absent = lease gone */
    int64_t granted_ttl;
    int64_t deleted;     /* deleterange */
    int64_t count;       /* range */
    struct etcd_kv *kvs; /* range */
    size_t n_kvs;
    char *token; /* authenticate: the token to send as Authorization, malloc'd */
};

/* Classifies an error reply (code != ETCD_OK). */
enum etcd_auth_error etcd_resp_auth_error(const struct etcd_resp *r);

/* Decodes a reply body given the HTTP status. Returns 0 when the body is a
 * well-formed etcd reply, whether success or an etcd error (then r->code is
 * set and r->message holds the text); -1 with err set when it is not (not
 * JSON, wrong types, bad base64, a non-2xx status without an error object).
 * A streamed reply ({"result":...}, possibly followed by more messages) is
 * decoded from its first message. Call etcd_resp_clear() afterwards either
 * way. */
int etcd_resp_parse(struct etcd_resp *r, int http_status, const char *body, size_t len, char *err,
                    size_t errlen);
void etcd_resp_clear(struct etcd_resp *r);

/* The reply is etcd's "requested lease not found" error (from put, revoke
 * or timetolive): the lease was revoked, expired, or the cluster lost its
 * data. A keepalive reports the same thing differently: a success whose ttl
 * is not positive (see etcd_resp_keepalive_alive). */
bool etcd_resp_lease_not_found(const struct etcd_resp *r);
/* A keepalive reply that renewed the lease: success and ttl > 0. */
bool etcd_resp_keepalive_alive(const struct etcd_resp *r);

#endif
