#!/usr/bin/env bash
# §2/§6/§7: admin drain and undrain over HTTP and through the CLI
# (meshreg drain/undrain/status --admin), drain --expires, drain --wait.
. "$(dirname "$0")/lib.sh"

DRAIN_S=2 start_sidecar
check "registered" wait_for 3 has_record

# --- over HTTP
check_eq "POST /drain 200" "$(http_code "$ADMIN_URL/drain?reason=e2e" -X POST)" 200
check "drain: record removed" wait_for 1 no_record
check_eq "drain: /health 503" "$(http_code "$ADMIN_URL/health")" 503
check "drain: /status says drained" grep -qi drain <<<"$(http_get "$ADMIN_URL/status")"
check "drain: stays drained while the app is healthy" \
    bash -c "sleep 0.6; [ ! -e '$(record_path)' ]"
check_eq "POST /undrain 200" "$(http_code "$ADMIN_URL/undrain" -X POST)" 200
check "undrain: record back" wait_for 1.5 has_record
check_eq "undrain: /health 200" "$(http_code "$ADMIN_URL/health")" 200

# --- through the CLI
meshreg_cli drain --admin "$ADMIN" --reason "e2e cli" >"$T/cli.out" 2>&1
check_eq "meshreg drain exits 0" "$?" 0
check "meshreg drain: record removed" wait_for 1 no_record
out=$(meshreg_cli status --admin "$ADMIN" 2>&1)
check_eq "meshreg status exits 0 while drained" "$?" 0
check "meshreg status shows the drain" grep -qi drain <<<"$out"
meshreg_cli undrain --admin "$ADMIN" >"$T/cli.out" 2>&1
check_eq "meshreg undrain exits 0" "$?" 0
check "meshreg undrain: record back" wait_for 1.5 has_record

# --- --expires: the drain ends by itself
meshreg_cli drain --admin "$ADMIN" --expires 2 >"$T/cli.out" 2>&1
check_eq "meshreg drain --expires exits 0" "$?" 0
t0=$(now_ms)
check "drain --expires: record removed" wait_for 1 no_record
sleep 1.2
check "drain --expires: still drained after 1.2 s" no_record
if wait_for 3 has_record; then
    dt=$(($(now_ms) - t0))
    check "drain --expires 2: back after 2 s (${dt} ms)" [ "$dt" -ge 1900 ] && [ "$dt" -lt 3500 ]
else
    fail "drain --expires 2 ends by itself" "no record 5 s after the drain"
fi
# expires over HTTP too
check_eq "POST /drain?expires=1 200" "$(http_code "$ADMIN_URL/drain?expires=1" -X POST)" 200
check "drain?expires=1: record removed" wait_for 1 no_record
check "drain?expires=1: back by itself" wait_for 3 has_record

# --- --wait: returns once the window (--drain-seconds 2) has passed
t0=$(now_ms)
meshreg_cli drain --wait --admin "$ADMIN" >"$T/cli.out" 2>&1
rc=$?
dt=$(($(now_ms) - t0))
check_eq "meshreg drain --wait exits 0" "$rc" 0
check "drain --wait blocked >= the 2 s window (${dt} ms)" [ "$dt" -ge 2000 ]
check "drain --wait returned < window + 1 s (${dt} ms)" [ "$dt" -lt 3000 ]
check "drain --wait: record gone" no_record
check "drain --wait: meshreg still running (an admin drain is no shutdown)" alive "$MESHREG_PID"
meshreg_cli undrain --admin "$ADMIN" >/dev/null 2>&1
check "undrain after --wait: record back" wait_for 1.5 has_record

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
