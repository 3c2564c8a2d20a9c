#!/usr/bin/env bash
# README "Command line", "Admin / health endpoint", "Drain sequence": admin drain and undrain over HTTP and through the CLI
# (meshreg drain/undrain/status --admin), drain --expires, drain --wait.
. "$(dirname "$0")/lib.sh"

DRAIN_S=2 start_sidecar
check "registered" has_record

# --- over HTTP
check_eq "POST /drain 200" "$(http_code "$ADMIN_URL/drain?reason=e2e" -X POST)" 200
check "drain: record removed" wait_for 5 no_record
check_eq "drain: /health 503" "$(http_code "$ADMIN_URL/health")" 503
check "drain: /status says drained" grep -qi drain <<<"$(http_get "$ADMIN_URL/status")"
# Drained means drained while probes keep passing: two more passing probes,
# and still no record (without the drain each would re-register it).
passes() { http_get "$ADMIN_URL/status" | json_get - 'j["checks"][0]["passes"]'; }
p0=$(passes)
check "drain: probes keep running" wait_for 5 eval '[ "$(passes)" -ge $((p0 + 2)) ]'
check "drain: stays drained while the app is healthy" no_record
check_eq "POST /undrain 200" "$(http_code "$ADMIN_URL/undrain" -X POST)" 200
check "undrain: record back" wait_for 5 has_record
check_eq "undrain: /health 200" "$(http_code "$ADMIN_URL/health")" 200

# --- through the CLI
meshreg_cli drain --admin "$ADMIN" --reason "e2e cli" >"$T/cli.out" 2>&1
check_eq "meshreg drain exits 0" "$?" 0
check "meshreg drain: record removed" wait_for 5 no_record
out=$(meshreg_cli status --admin "$ADMIN" 2>&1)
check_eq "meshreg status exits 1 while drained (hastatus)" "$?" 1
check "meshreg status shows the drain as hastatus does" \
    grep -qP "^DOWN\tinf\t$SVC\.main\te2e cli\$" <<<"$out"
meshreg_cli undrain --admin "$ADMIN" >"$T/cli.out" 2>&1
check_eq "meshreg undrain exits 0" "$?" 0
check "meshreg undrain: record back" wait_for 5 has_record

# --- --expires: the drain ends by itself
# The drain starts between t0 and t1, so it ends no earlier than t0 + 2 s
# and (one 200 ms probe later) not much after t1 + 2 s.
t0=$(now_ms)
meshreg_cli drain --admin "$ADMIN" --expires 2 >"$T/cli.out" 2>&1
check_eq "meshreg drain --expires exits 0" "$?" 0
t1=$(now_ms)
check "drain --expires: record removed" wait_for 5 no_record
if wait_for 5 has_record; then
    dt=$(($(now_ms) - t0)) dt1=$(($(now_ms) - t1))
    check_between "drain --expires 2: back no earlier than 2 s (${dt} ms)" "$dt" 2000 100000
    check_between "drain --expires 2: back within 1.5 s after that (${dt1} ms)" "$dt1" 0 3500
else
    fail "drain --expires 2 ends by itself" "no record 5 s after the drain"
fi
# expires over HTTP too
check_eq "POST /drain?expires=1 200" "$(http_code "$ADMIN_URL/drain?expires=1" -X POST)" 200
check "drain?expires=1: record removed" wait_for 5 no_record
check "drain?expires=1: back by itself" wait_for 5 has_record

# --- --wait: returns once the window (--drain-seconds 2) has passed
t0=$(now_ms)
meshreg_cli drain --wait --admin "$ADMIN" >"$T/cli.out" 2>&1
rc=$?
dt=$(($(now_ms) - t0))
check_eq "meshreg drain --wait exits 0" "$rc" 0
check_between "drain --wait blocked for the 2 s window, then returned (${dt} ms)" "$dt" 2000 3000
check "drain --wait: record gone" no_record
check "drain --wait: meshreg still running (an admin drain is no shutdown)" alive "$MESHREG_PID"
meshreg_cli undrain --admin "$ADMIN" >/dev/null 2>&1
check "undrain after --wait: record back" wait_for 5 has_record

# --- the CLI against nothing: a clear error, non-zero
dead=127.0.0.1:$(free_port)
meshreg_cli drain --admin "$dead" >"$T/cli.out" 2>&1
rc=$?
check "meshreg drain with no meshreg listening fails" [ "$rc" != 0 ]
check "... and says why on stderr/stdout" [ -s "$T/cli.out" ]

kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "exit status 0" "$EXIT_CODE" 0
finish
