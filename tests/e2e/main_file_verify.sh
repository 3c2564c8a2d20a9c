#!/usr/bin/env bash
# README "Backends" (file:): every heartbeat verifies each record and writes
# again one that was deleted by hand or overwritten, so the directory agrees
# with /status.
. "$(dirname "$0")/lib.sh"

start_sidecar --ttl-seconds 1
check "registered" has_record
rec=$(record_path)
want=$(cat "$rec")
rm -f "$rec"
check "deleted by hand: written again within 3 s" wait_for 3 has_record
check_eq "deleted by hand: same content" "$(cat "$rec" 2>/dev/null)" "$want"
check "the log says so at warn" \
    grep -qE " warn +$SVC\.main: record $rec is gone or was changed by someone else" "$MESHREG_LOG"
echo '{"host":"10.9.9.9","port":1}' >"$rec"
check "overwritten: restored within 3 s" wait_for 3 eval '[ "$(cat "$rec")" = "$want" ]'
registered() { http_get "$ADMIN_URL/status" | grep -q '"registered":true'; }
check "/status: registered again" wait_for 3 registered

# A second sidecar with the same instance id and port on the same directory
# is refused (the record's lock), and never deletes the first one's record.
first_pid=$MESHREG_PID first_log=$MESHREG_LOG first_url=$ADMIN_URL
want=$(cat "$rec")
start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --instance main \
    --port "$APP_PORT" --host 127.0.0.2 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0 --ttl-seconds 1
wait_meshreg
check "second owner: refused, at error" wait_for 5 grep -qE \
    " error +$SVC\.main: register .* failed: owned by another running process" "$MESHREG_LOG"
sleep 1.5 # a heartbeat of each
check_eq "second owner: the first one's record untouched" "$(cat "$rec")" "$want"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "second owner: exits 0" "$EXIT_CODE" 0
check "second owner gone: the first one's record still there" has_record
check_eq "second owner gone: content unchanged" "$(cat "$rec")" "$want"
MESHREG_PID=$first_pid MESHREG_LOG=$first_log ADMIN_URL=$first_url
check "first owner: still registered" registered
finish
