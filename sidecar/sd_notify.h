/* systemd's service readiness protocol (sd_notify(3)), written by hand.
 *
 * Under Type=notify systemd passes the path of a unix datagram socket in
 * $NOTIFY_SOCKET (a file path, or "@name" for the abstract namespace); the
 * service sends newline-separated VAR=VALUE assignments to it, one datagram
 * each: READY=1 once it serves, STOPPING=1 when it begins to stop. That is
 * all meshreg needs, so it does not link libsystemd: Debian ships no static
 * libsystemd (no libsystemd.a in libsystemd-dev) and `make static` must work,
 * and the datagram is a documented, stable wire format. Without
 * $NOTIFY_SOCKET (not under systemd, or another Type=) every call is a no-op.
 * README "Deploying" shows the unit (deploy/systemd/meshreg.service). */
#ifndef MESHREG_SD_NOTIFY_H
#define MESHREG_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

struct sidecar;

/* Sends STATE (e.g. "READY=1") to $NOTIFY_SOCKET. Returns 1 when sent, 0
 * when $NOTIFY_SOCKET is unset or empty (nothing to do), -1 on an error with
 * the reason in err (an unusable address, a socket that refuses). */
int sd_notify_send(const char *state, char *err, size_t errlen);

/* READY=1, sent once per process, as soon as the admin endpoint listens
 * (sidecar_run opens it before any probe starts) and every check has a
 * first probe result: a unit ordered After=meshreg.service then finds
 * /health answering from real probe state. Call after each probe result.
 * Returns true on the call that found the process ready (start-up over). */
bool sd_notify_ready_if_probed(const struct sidecar *sc);

/* STOPPING=1 at the start of the drain (SIGTERM/SIGINT): systemctl shows
 * the unit "deactivating" for the whole drain window. */
void sd_notify_stopping(void);

/* WATCHDOG=1 keep-alives under WatchdogSec=: when $WATCHDOG_USEC is set
 * (and $WATCHDOG_PID, if set, is this process), a timer on the loop sends
 * one every half period, so a stuck event loop gets the unit restarted.
 * Returns 1 when started, 0 when no watchdog is asked for, -1 with err for
 * a bad $WATCHDOG_USEC. One per process, like $NOTIFY_SOCKET itself. */
struct ev_loop;
int sd_notify_watchdog_start(struct ev_loop *loop, char *err, size_t errlen);
void sd_notify_watchdog_stop(struct ev_loop *loop);

/* For tests: forget that READY=1 was sent. */
void sd_notify_reset(void);

#endif
