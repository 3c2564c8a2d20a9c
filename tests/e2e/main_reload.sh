#!/usr/bin/env bash
# §7 SIGHUP: re-reads every config file; unchanged registrations stay
# registered without a blip; a new config that fails validation is rejected
# as a whole and the running one stays.
. "$(dirname "$0")/lib.sh"

cp "$FIXTURES/smartstack.yaml" "$T/smartstack.yaml"
printf 'registrations: [%s.main]\n' "$SVC" > "$T/meshreg.yaml"
start_sidecar -c "$T/meshreg.yaml" --smartstack "$T/smartstack.yaml"
check "main registered" wait_for 3 has_record

# watch_blip: polls the main record every 5 ms in the background, writes
# "blip" to $T/blip if it ever vanishes.
rm -f "$T/blip"
( end=$(( $(now_ms) + 6000 )); while [ "$(now_ms)" -lt "$end" ]; do
    [ -e "$(record_path)" ] || echo blip >>"$T/blip"; sleep 0.005; done ) &
watcher=$!

kill -HUP "$MESHREG_PID"
check "unchanged reload logged" wait_for 2 grep -q "reloaded: 1 check(s) unchanged" "$MESHREG_LOG"

printf 'registrations: [%s.main, %s.canary]\n' "$SVC" "$SVC" > "$T/meshreg.yaml"
kill -HUP "$MESHREG_PID"
check "added registration appears after SIGHUP" wait_for 3 has_record "$SVC.canary"
check "main still registered" has_record

cp "$T/smartstack.yaml" "$T/good.yaml"
printf 'main:\n  proxy_port: 99999\n' > "$T/smartstack.yaml"
kill -HUP "$MESHREG_PID"
check "invalid config rejected as a whole" wait_for 2 grep -q "reload rejected" "$MESHREG_LOG"
grep -q "smartstack.yaml:2:" "$MESHREG_LOG" && ok "rejection names FILE:LINE" ||
    fail "rejection names FILE:LINE" "$(grep reload "$MESHREG_LOG" | tail -3)"
sleep 0.5
check "both registrations kept after a rejected reload" \
    bash -c "[ -e '$(record_path)' ] && [ -e '$(record_path "$SVC.canary")' ]"

cp "$T/good.yaml" "$T/smartstack.yaml"
printf 'registrations: [%s.main]\n' "$SVC" > "$T/meshreg.yaml"
kill -HUP "$MESHREG_PID"
check "removed registration deregistered after SIGHUP" wait_for 3 no_record "$SVC.canary"
wait "$watcher"
check "main never vanished across four reloads" [ ! -e "$T/blip" ]
check_eq "/health 200 after reloads" "$(http_code "$ADMIN_URL/health")" 200
stop_pid "$MESHREG_PID"
finish
