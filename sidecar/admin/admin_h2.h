/* h2c (HTTP/2 over cleartext, prior knowledge) on the admin port (README "Admin / health
 * endpoint"). admin.c owns the connection (socket, buffers, deadline, the connection limit); once a
 * client opened with the HTTP/2 connection preface it hands the bytes to one admin_h2 session and
 * writes what the session produces. Every request goes through the same admin_route() as HTTP/1.1,
 * so both protocols answer identically. No sockets here: bytes in, bytes out. */
#ifndef MESHREG_ADMIN_H2_H
#define MESHREG_ADMIN_H2_H

#include <stdbool.h>
#include <stddef.h>

struct admin_routes;
struct admin_h2;

/* Looks at the first bytes of a connection: 1 when they start with the
 * whole client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0 when they are
 * a shorter prefix of it (wait for more), -1 when this is not HTTP/2. */
int admin_h2_sniff(const char *buf, size_t len);

/* A server session answering through rt (not owned). trusted/peer as for
 * admin_route(); max_head and max_body are the HTTP/1.1 limits, applied
 * per stream (431, 413). */
struct admin_h2 *admin_h2_new(struct admin_routes *rt, bool trusted, const char *peer,
                              size_t max_head, size_t max_body);

/* Feeds bytes from the peer, starting with the preface. Returns how many
 * requests were answered (>= 0), or -1 when the session failed: stop
 * feeding, write what admin_h2_send() still yields (a GOAWAY), close. */
int admin_h2_recv(struct admin_h2 *h, const char *data, size_t len);

/* The next bytes to write: their length, 0 when there is nothing now, -1
 * on a fatal error (close at once). *data stays valid until the next call. */
long admin_h2_send(struct admin_h2 *h, const char **data);

/* False once the session is over (GOAWAY exchanged, a protocol error, a
 * failure): close after writing what is pending. */
bool admin_h2_alive(struct admin_h2 *h);

void admin_h2_free(struct admin_h2 *h);

#endif
