#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; the sanitizer pass runs the single-server tests)
# README "Drain sequence" "a bounce under load loses zero requests", with a real HAProxy polling
# meshreg's /health (`option httpchk GET /health`, inter 100 ms, fall 1,
# rise 1, `retries 0`, no redispatch) in front of two instances a and b, each
# `meshreg run --drain-seconds 2 ... -- demoapp` (wrapper mode, file:
# backend). A load generator (2 keep-alive + 2 connection-per-request
# clients) runs through HAProxy while a, b and a again are bounced: SIGTERM
# to meshreg, HAProxy takes the server out, the app gets no new request for
# the rest of the window, meshreg stops it after the window, a new instance
# on the same ports comes back UP and serves. Zero non-2xx, zero connection
# errors, and the apps' own counters add up to exactly the 2xx answers.
#
# Negative control: the same bounce with --drain-seconds 0 (meshreg
# deregisters and stops the app at once, before HAProxy's next check) must
# lose requests, so this test can fail.
E2E_TIMEOUT=${E2E_TIMEOUT:-100}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lb_lib.sh"
. "$(dirname "$0")/bounce_lib.sh"
need_haproxy

DRAIN=${BOUNCE_DRAIN_S:-2}

# _hap_errs NAME: HAProxy's count of requests it failed to connect for, or
# whose response failed, on server NAME.
_hap_errs() {
    echo $(($(hap_field app "$1" econ) + $(hap_field app "$1" eresp)))
}

bounce_init httpchk
inst_start a "$DRAIN"
inst_start b "$DRAIN"
bounce_haproxy_start

# --- with the drain: a, b, then a again with --adaptive-drain and a long
# window (it must end once HAProxy has seen the drain, still losing nothing);
# the last new a has no window: the control's
load_start
check "before: a serves traffic" wait_for 5 _traffic_gt a 0
check "before: b serves traffic" wait_for 5 _traffic_gt b 0
bounce a 10 --adaptive-drain
bounce b "$DRAIN"
bounce a 0
sleep 0.5
load_stop
echo "# drained bounces: $LOAD_total requests ($LOAD_rate/s), p99 ${LOAD_p99_ms} ms," \
    "during bounces $LOAD_btotal requests, p99 ${LOAD_bp99_ms} ms; by server: $LOAD_servers"
check "load: enough requests to mean something ($LOAD_total >= 300)" [ "$LOAD_total" -ge 300 ]
check "load: requests during the bounce windows ($LOAD_btotal >= 150)" [ "$LOAD_btotal" -ge 150 ]
check_eq "drained bounces: zero non-2xx answers (${LOAD_codes:-none})" "$LOAD_non2xx" 0
check_eq "drained bounces: zero connection errors (${LOAD_errs:-none})" "$LOAD_errors" 0
[ "$LOAD_non2xx$LOAD_errors" != 00 ] && echo "# failures: $LOAD_fails"
served=$(served_total)
check_eq "no request sent after HAProxy took a server out reached it (${LOAD_leaks:-none})" \
    "$LOAD_leaked" 0
check_eq "the apps served exactly the 2xx answers (none lost, none twice)" "$served" "$LOAD_ok"

# --- negative control: no drain window. HAProxy still sends a's share to
# the dead port until its next check (up to 100 ms): those are lost.
# Each bounce loses a's requests of the 0-100 ms until HAProxy's next check;
# when the check comes first (it happens: the app dies within ~1 ms of the
# signal), that bounce loses nothing, so bounce again (at most 6 in all).
load_start
check "control: a serves traffic" wait_for 5 _traffic_gt a 0
e0=$(_hap_errs a)
for i in 1 2 3 4 5 6; do
    bounce a 0
    [ "$(_hap_errs a)" -gt "$e0" ] && break
done
echo "# control: $i bounce(s); HAProxy counted $(($(_hap_errs a) - e0)) failed request(s) on a"
sleep 0.3
load_stop
echo "# control: $LOAD_total requests, $LOAD_non2xx non-2xx (${LOAD_codes:-none})," \
    "$LOAD_errors errors (${LOAD_errs:-none}), failed on: ${LOAD_fail_servers:-none}; $LOAD_fails"
check "control (no drain): requests are lost ($((LOAD_non2xx + LOAD_errors)) > 0)" \
    [ $((LOAD_non2xx + LOAD_errors)) -gt 0 ]
# (a keep-alive client may instead see its connection closed unanswered,
# server "-": HAProxy does that when a reused server connection dies)
check "control: no failure on the server that stayed up (${LOAD_fail_servers:-none})" \
    [ -z "$(tr ' ' '\n' <<<"$LOAD_fail_servers" | grep '^b:')" ]

bounce_stop_all
finish
