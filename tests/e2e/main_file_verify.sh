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
finish
