#!/usr/bin/env bash
# valgrind: no leak and no memory error over a normal start, registration,
# SIGTERM drain and exit (and over `check`). Skipped for the sanitizer build,
# which checks the same things its own way.
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || { fail "valgrind installed" "scripts/install-deps installs it"; finish; }
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    skip_all "sanitizer build (ASan does the leak check there)"
fi
VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no"

APP_PORT=$(free_port)
start_demo "$APP_PORT"
BIN_REAL=$BIN
BIN=/bin/sh # start_meshreg runs "$BIN" ARGS: wrap the real binary in valgrind
start_meshreg -c "exec $VG --log-file=$T/vg.log \"\$@\"" valgrind-meshreg "$BIN_REAL" run \
    --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --instance main --port "$APP_PORT" \
    --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 1
BIN=$BIN_REAL
wait_meshreg 20
check "registered under valgrind" wait_for 10 has_record
for p in /health /status /metrics /health/$SVC.main; do http_get "$ADMIN_URL$p" >/dev/null; done
http_post "$ADMIN_URL/drain?reason=vg" >/dev/null
check "drained under valgrind" wait_for 5 no_record
http_post "$ADMIN_URL/undrain" >/dev/null
check "registered again" wait_for 5 has_record
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 20; then
    check_eq "clean exit under valgrind (99 = leak or memory error)" "$EXIT_CODE" 0
else
    fail "exits under valgrind" "still running"
fi
if [ -s "$T/vg.log" ]; then
    fail "valgrind report empty" "see below"
    show_log "$T/vg.log" 40
else
    ok "valgrind report empty"
fi

$VG --log-file="$T/vg-check.log" "$BIN" check --smartstack "$FIXTURES/smartstack.yaml" \
    --service "$SVC" --port 1 >/dev/null
check_eq "check: no leak" "$?" 0
$VG --log-file="$T/vg-bad.log" "$BIN" check --smartstack "$FIXTURES/bad_type.yaml" \
    --service "$SVC" --port 1 >/dev/null 2>&1
check_eq "check of a bad config: exit 2 and no leak" "$?" 2
finish
