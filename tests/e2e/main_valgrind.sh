#!/usr/bin/env bash
# valgrind: no leak and no memory error over a normal start, registration,
# SIGTERM drain and exit (and over `check`). Skipped for the sanitizer build,
# which checks the same things its own way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/valgrind_lib.sh"

vg_start_meshreg --backend "file:$REG_DIR" --admin "127.0.0.1:$(free_port)" --interval-ms 200 \
    --drain-seconds 1
check "registered under valgrind" wait_for 10 has_record
for p in /health /status /metrics /health/$SVC.main; do http_get "$ADMIN_URL$p" >/dev/null; done
http_post "$ADMIN_URL/drain?reason=vg" >/dev/null
check "drained under valgrind" wait_for 5 no_record
http_post "$ADMIN_URL/undrain" >/dev/null
check "registered again" wait_for 5 has_record
vg_exit 20
vg_report_empty

$VG --log-file="$T/vg-check.log" "$BIN" check --smartstack "$FIXTURES/smartstack.yaml" \
    --service "$SVC" --port 1 >/dev/null
check_eq "check: no leak" "$?" 0
$VG --log-file="$T/vg-bad.log" "$BIN" check --smartstack "$FIXTURES/bad_type.yaml" \
    --service "$SVC" --port 1 >/dev/null 2>&1
check_eq "check of a bad config: exit 2 and no leak" "$?" 2
finish
