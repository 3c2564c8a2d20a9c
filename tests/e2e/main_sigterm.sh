#!/usr/bin/env bash
# README "Drain sequence": SIGTERM -> 503 at once, record gone before exit, /health served through
# the window, exit 0; a second SIGTERM ends the window early but never skips
# deregistration.
. "$(dirname "$0")/lib.sh"

# --- one SIGTERM, 2 s window
DRAIN_S=2 start_sidecar
check "registered" has_record
check_eq "/health 200 before" "$(http_code "$ADMIN_URL/health")" 200

# "At once" (README "Drain sequence" step 1), measured so a busy machine cannot fake a pass or a
# failure: every /health request *sent* more than 100 ms after the signal
# must already see 503 (a slow curl start only makes the polling coarser).
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
first503= late200=
while :; do
    sent=$(now_ms)
    code=$(http_code "$ADMIN_URL/health" --max-time 0.5)
    now=$(now_ms)
    if [ "$code" = 503 ]; then first503=$((now - t0)); break; fi
    [ "$code" = 200 ] && [ $((sent - t0)) -gt 100 ] && late200=$((sent - t0))
    [ $((now - t0)) -gt 2000 ] && break
done
if [ -n "$first503" ]; then
    check_eq "SIGTERM: no 200 for a request sent > 100 ms after the signal (first 503 seen at ${first503} ms)" \
        "${late200:-none}" none
else
    fail "SIGTERM: /health 503" "last answer $code after 2 s"
fi
# The record must vanish while meshreg is still alive.
gone_alive=0
deadline=$(($(now_ms) + 2500))
while alive "$MESHREG_PID" && [ "$(now_ms)" -lt "$deadline" ]; do
    if [ ! -e "$(record_path)" ] && alive "$MESHREG_PID"; then gone_alive=1; break; fi
    sleep 0.01
done
check "record file gone before the process exits" [ "$gone_alive" = 1 ]
# Still answering (503) late in the window.
sleep_until=$((t0 + 1500))
while [ "$(now_ms)" -lt "$sleep_until" ]; do sleep 0.05; done
check_eq "still answering /health (503) 1.5 s into the 2 s window" \
    "$(http_code "$ADMIN_URL/health" --max-time 0.4)" 503
check "still alive 1.5 s into the window" alive "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 3; then
    dt=$(($(now_ms) - t0))
    check_between "exits after the full window, promptly (${dt} ms)" "$dt" 2000 3000
    check_eq "exit status 0" "$EXIT_CODE" 0
else
    fail "exits after the window" "still running 4.5 s after SIGTERM"
fi
check "record still gone after exit" no_record
check "admin port closed after exit" bash -c "! (exec 3<>/dev/tcp/${ADMIN%:*}/${ADMIN##*:}) 2>/dev/null"
check "app untouched (sidecar mode does not stop the app)" alive "$DEMO_PID"
stop_pid "$DEMO_PID"

# --- second SIGTERM during a long window: exits promptly, record gone
APP_PORT=
DRAIN_S=20 start_sidecar
check "registered (2)" has_record
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check "first SIGTERM: record gone" wait_for 5 no_record
check "first SIGTERM: still in the window" alive "$MESHREG_PID"
t1=$(now_ms)
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 3; then
    dt=$(($(now_ms) - t1))
    check "second SIGTERM: exits promptly (${dt} ms < 1000)" [ "$dt" -lt 1000 ]
    check_eq "second SIGTERM: exit status 0" "$EXIT_CODE" 0
else
    fail "second SIGTERM ends the window" "still running 3 s later"
fi
check "second SIGTERM: record gone" no_record
stop_pid "$DEMO_PID"

# --- two signals back to back (SIGTERM then SIGINT): deregistration is never skipped
APP_PORT=
DRAIN_S=20 start_sidecar
check "registered (3)" has_record
kill -TERM "$MESHREG_PID"
kill -INT "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 3; then
    check_eq "SIGTERM+SIGINT: exit status 0" "$EXIT_CODE" 0
else
    fail "SIGTERM+SIGINT: exits promptly" "still running 3 s later"
fi
check "SIGTERM+SIGINT: record gone (step 2 never skipped)" no_record
stop_pid "$DEMO_PID"

# --- SIGINT alone is treated like SIGTERM
APP_PORT=
DRAIN_S=1 start_sidecar
check "registered (4)" has_record
kill -INT "$MESHREG_PID"
check "SIGINT: /health 503" wait_http "$ADMIN_URL/health" 503 2
check "SIGINT: record gone" wait_for 5 no_record
wait_exit "$MESHREG_PID" 3
check_eq "SIGINT: exit status 0 after the window" "$EXIT_CODE" 0
finish
