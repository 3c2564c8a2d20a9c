#!/usr/bin/env bash
# README "Drain sequence" --min-drain-seconds: with a discovery backend (zk://) an adaptive
# drain never ends before the floor, even when the one polling load balancer has seen
# the drain long before (synapse-style readers follow the znode, not /health); with the
# file: backend, whose readers are local, the same drain ends as soon as the poller has
# seen it. A floor above the window is capped by it, with a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"
. "$(dirname "$0")/poller_lib.sh"

# SIGTERM; dt = the ms until meshreg exited (empty if it did not within $1 s).
term_and_time() {
    local t0
    t0=$(now_ms)
    dt=
    kill -TERM "$MESHREG_PID"
    if wait_exit "$MESHREG_PID" "$1"; then
        dt=$(($(now_ms) - t0))
    fi
}

zk_setup

# zk://, floor 2 s, window 20 s: the poller has seen the drain after ~0.3 s, the
# window still lasts until the floor, then ends (long before the window).
DRAIN_S=20 start_zk_sidecar --adaptive-drain --min-drain-seconds 2
check "zk: registered" wait_for 5 zk_present
start_poller
term_and_time 10
if [ -n "$dt" ]; then
    check_between "zk: the adaptive end waits for the 2 s floor, then comes (${dt} ms)" \
        "$dt" 2000 5000
    check_eq "zk: exit status 0" "$EXIT_CODE" 0
else
    fail "zk: adaptive drain ends at the floor" "still running 10 s into a 20 s window"
fi
check "zk: znode gone" zk_absent
d=$(grep -c 503 "$POLL_LOG")
check "zk: the poller saw the drain (${d} draining answers) before the floor" [ "$d" -ge 3 ]
grep -q "adaptive drain: all 1 polling load balancer.*(2\.[0-9] s after the signal)" \
    "$MESHREG_LOG" && ok "zk: log names the adaptive ending at the floor" ||
    fail "zk: log names the adaptive ending at the floor" "$(grep -i drain "$MESHREG_LOG" | tail -4)"
stop_poller

# zk://, a floor above the window: capped by it (warning), the window is served.
APP_PORT=
DRAIN_S=1 start_zk_sidecar --adaptive-drain --min-drain-seconds 5
check "zk (capped): registered" wait_for 5 zk_present
check "zk (capped): warns that the window caps the floor" \
    grep -q "min_drain_seconds 5 is above drain_seconds 1" "$MESHREG_LOG"
start_poller
term_and_time 6
if [ -n "$dt" ]; then
    check_between "zk (capped): ends with the 1 s window, not the 5 s floor (${dt} ms)" \
        "$dt" 1000 3000
else
    fail "zk (capped): exits" "still running 6 s later"
fi
stop_poller

# file:, the same floor: no floor applies, the window ends once the poller saw it.
APP_PORT=
DRAIN_S=20 start_sidecar --adaptive-drain --min-drain-seconds 2
check "file: registered" has_record
start_poller
term_and_time 10
if [ -n "$dt" ]; then
    check_between "file: the adaptive end comes before the 2 s floor (${dt} ms)" "$dt" 200 1900
else
    fail "file: adaptive drain ends early" "still running 10 s into a 20 s window"
fi
check "file: no floor warning" bash -c "! grep -q min_drain_seconds '$MESHREG_LOG'"
stop_poller
finish
