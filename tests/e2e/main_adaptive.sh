#!/usr/bin/env bash
# README "Drain sequence" --adaptive-drain: the window ends early once every load balancer that
# polls /health has been answered "draining" enough times; a poller that has
# not seen it yet holds the window; without the flag the window is served in full.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/poller_lib.sh"

DRAIN_S=20 start_sidecar --adaptive-drain
check "registered" has_record
start_poller
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check "record gone" wait_for 5 no_record
if wait_exit "$MESHREG_PID" 10; then
    dt=$(($(now_ms) - t0))
    check_between "window ended early once the poller saw 3 draining answers, not before (${dt} ms)" \
        "$dt" 200 5000
    check_eq "exit status 0" "$EXIT_CODE" 0
else
    fail "adaptive drain ends the window early" "still running 10 s into a 20 s window"
fi
grep -q "adaptive drain: all 1 polling load balancer" "$MESHREG_LOG" &&
    ok "log names the adaptive ending" || fail "log names the adaptive ending" "$(tail -3 "$MESHREG_LOG")"
stop_poller

# A recent poller that stops polling at SIGTERM has not seen the drain: full window.
APP_PORT=
DRAIN_S=2 start_sidecar --adaptive-drain
check "registered (2)" has_record
http_get "$ADMIN_URL/health" >/dev/null
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 5; then
    dt=$(($(now_ms) - t0))
    check "a poller that has not seen the drain holds the full window (${dt} ms >= 2000)" \
        [ "$dt" -ge 2000 ]
else
    fail "exits after the window" "still running"
fi

# Without the flag the window is always served in full, polled or not.
APP_PORT=
DRAIN_S=2 start_sidecar
check "registered (3)" has_record
start_poller
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 5; then
    dt=$(($(now_ms) - t0))
    check "without --adaptive-drain the full window is served (${dt} ms >= 2000)" [ "$dt" -ge 2000 ]
else
    fail "exits after the window" "still running"
fi
finish
