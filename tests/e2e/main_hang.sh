#!/usr/bin/env bash
# README "Probes", "Running it": a hung, garbage-talking, closing or slow app fails its probe at the
# deadline (healthcheck_timeout_s: 1) and is deregistered, while /health keeps
# answering fast from memory.
. "$(dirname "$0")/lib.sh"

DRAIN_S=1 start_sidecar --fall 2 --rise 1
check "registered" has_record

# A /health that waited on a probe would take up to the probe deadline (1 s);
# answered from memory it takes a few ms, whatever the machine is doing.
FAST_MS=250

# health_fast_until CMD TIMEOUT_S: polls /health until CMD succeeds; every
# call must answer (any code) in < 100 ms. Sets SLOWEST (ms) and CALLS.
health_fast_until() {
    local cond=$1 deadline=$(($(now_ms) + $2 * 1000)) t code ms
    SLOWEST=0
    CALLS=0
    BAD=0
    while [ "$(now_ms)" -lt "$deadline" ]; do
        t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 1 "$ADMIN_URL/health")
        code=${t%% *}
        ms=$(awk -v s="${t#* }" 'BEGIN { printf "%d", s * 1000 }')
        CALLS=$((CALLS + 1))
        [ "$ms" -gt "$SLOWEST" ] && SLOWEST=$ms
        [ "$code" = 000 ] && BAD=$((BAD + 1))
        $cond && return 0
        sleep 0.02
    done
    return 1
}

# A hang: probe attempts time out after 1 s; fall 2 -> down within ~2 x (1 s + 0.2 s).
demo_ctl "$APP_PORT" hang
t0=$(now_ms)
if health_fast_until no_record 6; then
    dt=$(($(now_ms) - t0))
    ok "hang: deregistered (${dt} ms)"
    check_between "hang: not before the 1 s deadline, within fall x (timeout + interval) + slack (${dt} ms)" \
        "$dt" 1000 5000
else
    fail "hang: deregistered" "record still there after 6 s"
fi
check "hang: every /health call answered (${CALLS} calls)" [ "$BAD" = 0 ]
check "hang: every /health call < $FAST_MS ms (slowest ${SLOWEST} ms)" [ "$SLOWEST" -lt "$FAST_MS" ]
health_fast_until false 1
check "hang: /health stays fast while probes hang (slowest ${SLOWEST} ms)" [ "$SLOWEST" -lt "$FAST_MS" ]
check_eq "hang: /health 503" "$(http_code "$ADMIN_URL/health")" 503
st=$(http_get "$ADMIN_URL/status")
check "hang: /status reports a timeout" grep -qiE 'timeout|timed out|deadline' <<<"$st"
demo_ctl "$APP_PORT" healthy
check "hang over: re-registered" wait_for 5 has_record

# Garbage and closed connections fail fast (well before the deadline).
for mode in garbage close; do
    demo_ctl "$APP_PORT" "$mode"
    t0=$(now_ms)
    if health_fast_until no_record 4; then
        dt=$(($(now_ms) - t0))
        # fall 2 x 200 ms: far below the two 1 s deadlines a timeout would need
        check_between "$mode: deregistered before any deadline could pass (${dt} ms)" "$dt" 0 1900
    else
        fail "$mode: deregistered" "record still there after 4 s"
    fi
    check "$mode: /health fast (slowest ${SLOWEST} ms)" [ "$SLOWEST" -lt "$FAST_MS" ]
    demo_ctl "$APP_PORT" healthy
    check "$mode over: re-registered" wait_for 5 has_record
done

# Slow: answers after 1.5 s, past the 1 s deadline -> failure.
curl -s --max-time 1 "http://127.0.0.1:$APP_PORT/control/slow?ms=1500" >/dev/null
if health_fast_until no_record 6; then ok "slow past the deadline: deregistered"; else
    fail "slow past the deadline: deregistered" "record still there after 6 s"; fi
check "slow: /health fast (slowest ${SLOWEST} ms)" [ "$SLOWEST" -lt "$FAST_MS" ]
# Slow but within the deadline: passes.
curl -s --max-time 1 "http://127.0.0.1:$APP_PORT/control/slow?ms=300" >/dev/null
check "slow within the deadline: registered again" wait_for 5 has_record
demo_ctl "$APP_PORT" healthy

# The app gone entirely: connection refused.
stop_pid "$DEMO_PID"
check "app down: deregistered" wait_for 5 no_record
check_eq "app down: /health 503" "$(http_code "$ADMIN_URL/health")" 503

# A hung app must not slow the shutdown either.
start_demo "$APP_PORT"
check "app back: re-registered" wait_for 5 has_record
demo_ctl "$APP_PORT" hang
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check "SIGTERM with a hung probe in flight: record gone" wait_for 5 no_record
if wait_exit "$MESHREG_PID" 3; then
    dt=$(($(now_ms) - t0))
    check_between "SIGTERM with a hung probe: exits after the 1 s window (${dt} ms)" "$dt" 1000 2500
    check_eq "SIGTERM with a hung probe: exit 0" "$EXIT_CODE" 0
else
    fail "SIGTERM with a hung probe: exits" "still running 3 s later"
fi
finish
