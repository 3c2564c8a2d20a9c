#!/usr/bin/env bash
# README "Drain sequence" SIGHUP: re-reads every config file; unchanged registrations stay
# registered without a blip; a new config that fails validation, or whose
# checks cannot be built, is rejected as a whole and the running one stays.
#
# "Without a blip" is watched with inotify (tests/fixtures/e2e/inotify_watch.py)
# on the record's directory over exactly one reload: a delete or a rename away
# of the record is a blip however short; a rename over it (the file: backend's
# atomic rewrite) is not. A poller would miss a delete + rewrite between polls.
. "$(dirname "$0")/lib.sh"

# --- helpers (local to this test)
WATCH_PY=$FIXTURES/inotify_watch.py
WATCH=
WATCH_PID=
WATCH_CTL=
# watch_start PATH...: an inotify watcher on the PATHs' directories; returns
# once its watches are in place ($WATCH = its output).
watch_start() {
    WATCH_CTL=$(mktemp -d "$T/watchctl.XXXXXX")
    start_bg inotify "$PY" "$WATCH_PY" "$WATCH_CTL" "$@"
    WATCH=$BG_OUT
    WATCH_PID=$BG_PID
    if ! wait_for 10 grep -q ' ready$' "$WATCH"; then
        fail "inotify watcher ready" "$(cat "$BG_ERR")"
        return 1
    fi
}
# watch_stop: ends the window; every event that happened before this call is
# in $WATCH afterwards (the end marker travels on the same inotify queue).
watch_stop() {
    touch "$WATCH_CTL/end"
    wait_for 10 grep -q ' end$' "$WATCH" || fail "inotify watcher ended" "no end line in $WATCH"
    stop_pid "$WATCH_PID"
}
# blips PATH: how many times PATH vanished in the window (deleted, renamed
# away, its directory removed), or the kernel dropped events (overflow).
blips() {
    awk -v p="$1" -v d="$(dirname "$1")" '
        ($2 == "DELETE" || $2 == "MOVED_FROM") && $3 == p { n++ }
        ($2 == "DELETE_SELF" || $2 == "MOVE_SELF") && $3 == d { n++ }
        $2 == "OVERFLOW" { n++ }
        END { print n + 0 }' "$WATCH"
}
# events EVENT PATH: how many EVENT lines on PATH in the window.
events() {
    awk -v e="$1" -v p="$2" '$2 == e && $3 == p { n++ } END { print n + 0 }' "$WATCH"
}
log_count() {
    grep -c -F -- "$1" "$MESHREG_LOG" || true
}
# hup_and_wait N0 TEXT: SIGHUP, then waits until TEXT is logged more than N0
# times and one /health request has been answered after that (meshreg is
# single-threaded: the reload, with its backend writes, is then over).
hup_and_wait() {
    kill -HUP "$MESHREG_PID"
    wait_for_eval 5 "[ \$(log_count '$2') -gt $1 ]" || return 1
    http_code "$ADMIN_URL/health" >/dev/null
}

MAIN=
CANARY=
health_200() { [ "$(http_code "$ADMIN_URL/health")" = 200 ]; }

cp "$FIXTURES/smartstack.yaml" "$T/smartstack.yaml"
# A namespace whose record cannot be encoded: it advertises the `habitat`
# location, set below to bytes that are not UTF-8. Config validation does not
# look at locations from the environment, so a reload that adds it passes
# validation and fails later, while building the new checks.
cat >>"$T/smartstack.yaml" <<'EOF'
badenc:
  proxy_port: 20003
  healthcheck_uri: /status
  healthcheck_timeout_s: 1
  advertise: [habitat]
EOF
cp "$T/smartstack.yaml" "$T/good.yaml"
printf 'registrations: [%s.main]\n' "$SVC" >"$T/meshreg.yaml"
MESHREG_LOCATION_HABITAT=$'\xff' start_sidecar -c "$T/meshreg.yaml" --smartstack "$T/smartstack.yaml"
MAIN=$(record_path)
CANARY=$(record_path "$SVC.canary")
check "main registered" wait_for 3 has_record

# --- the watcher sees a blip: drain + undrain at once is a delete and a
# rewrite milliseconds apart (what a 5 ms poller may well miss).
watch_start "$MAIN"
http_post "$ADMIN_URL/drain" >/dev/null
check "calibration: drained, record gone" wait_for 3 no_record
http_post "$ADMIN_URL/undrain" >/dev/null
check "calibration: undrained, record back" wait_for 3 has_record
watch_stop
check "calibration: the watcher saw the delete" [ "$(blips "$MAIN")" -ge 1 ]
check "calibration: the watcher saw the rewrite" [ "$(events MOVED_TO "$MAIN")" -ge 1 ]

# --- unchanged reload: no blip
watch_start "$MAIN"
n=$(log_count "reloaded: 1 check(s) unchanged")
check "unchanged reload logged" hup_and_wait "$n" "reloaded: 1 check(s) unchanged"
watch_stop
check_eq "unchanged reload: main never vanished" "$(blips "$MAIN")" 0
check "unchanged reload: main registered" has_record

# --- a registration added: it appears, main has no blip
printf 'registrations: [%s.main, %s.canary]\n' "$SVC" "$SVC" >"$T/meshreg.yaml"
watch_start "$MAIN"
n=$(log_count "reloaded:")
check "added registration: reload logged" hup_and_wait "$n" "reloaded:"
check "added registration appears after SIGHUP" wait_for 3 has_record "$SVC.canary"
watch_stop
check_eq "added registration: main never vanished" "$(blips "$MAIN")" 0
check "main still registered" has_record
cp "$MAIN" "$T/main.before"
cp "$CANARY" "$T/canary.before"

# rejected_reload WHAT REJECTION_TEXT: SIGHUP with the config files as they
# are now; the running configuration must stay, with no blip of either
# record, /health 200, records byte for byte as before, nothing new.
rejected_reload() {
    local what=$1 text=$2 n
    watch_start "$MAIN" "$CANARY"
    n=$(log_count "$text")
    check "$what: rejection logged ($text)" hup_and_wait "$n" "$text"
    watch_stop
    check_eq "$what: main never vanished" "$(blips "$MAIN")" 0
    check_eq "$what: canary never vanished" "$(blips "$CANARY")" 0
    check_eq "$what: main record never rewritten" "$(events MOVED_TO "$MAIN")" 0
    check "$what: nothing registered for the new config" no_record "$SVC.badenc"
    check "$what: main record as before" cmp -s "$MAIN" "$T/main.before"
    check "$what: canary record as before" cmp -s "$CANARY" "$T/canary.before"
    check "$what: /health 200" health_200
}

# --- checks that cannot be built: rollback. main and canary are carried
# across unchanged (their probes are re-pointed at the new checks, then back).
printf 'registrations: [%s.main, %s.canary, %s.badenc]\n' "$SVC" "$SVC" "$SVC" >"$T/meshreg.yaml"
rejected_reload "check build fails (carried checks)" \
    "reload rejected: $SVC.badenc: cannot encode the record; the running configuration stays"
# The running checks still own their probes: an unhealthy app is still
# noticed and deregistered, a healthy one registered again.
demo_ctl "$APP_PORT" unhealthy
check "after the rollback, probes still deregister an unhealthy app" \
    wait_for_eval 5 'no_record && no_record "$SVC.canary"'
demo_ctl "$APP_PORT" healthy
check "after the rollback, probes register it again" \
    wait_for_eval 5 'has_record && has_record "$SVC.canary"'

# --- checks that cannot be built, after others were built anew (a weight
# change makes main and canary new checks; badenc, last, fails): rollback.
printf 'registrations: [%s.main, %s.canary, %s.badenc]\nweight: 20\n' "$SVC" "$SVC" "$SVC" \
    >"$T/meshreg.yaml"
rejected_reload "check build fails (new checks)" \
    "reload rejected: $SVC.badenc: cannot encode the record; the running configuration stays"
check "the weight stays 10 (the old config)" json_true "$MAIN" "j['weight'] == 10"

# --- a smartstack.yaml that fails validation
printf 'registrations: [%s.main, %s.canary]\n' "$SVC" "$SVC" >"$T/meshreg.yaml"
printf 'main:\n  proxy_port: 99999\n' >"$T/smartstack.yaml"
rejected_reload "invalid smartstack.yaml" "reload rejected: the running configuration stays"
check "rejection names FILE:LINE" grep -q "reload: .*smartstack.yaml:2:" "$MESHREG_LOG"
cp "$T/good.yaml" "$T/smartstack.yaml"

# --- a meshreg.yaml (-c) that fails validation
printf 'registrations: [%s.main]\ndrain_seconds: soon\n' "$SVC" >"$T/meshreg.yaml"
rejected_reload "invalid meshreg.yaml" "reload rejected: the running configuration stays"
check "rejection names meshreg.yaml:LINE" grep -q "reload: .*meshreg.yaml:2:" "$MESHREG_LOG"

# --- a registration removed: deregistered, main has no blip
printf 'registrations: [%s.main]\n' "$SVC" >"$T/meshreg.yaml"
watch_start "$MAIN"
n=$(log_count "reloaded:")
check "removed registration: reload logged" hup_and_wait "$n" "reloaded:"
check "removed registration deregistered after SIGHUP" wait_for 3 no_record "$SVC.canary"
watch_stop
check_eq "removed registration: main never vanished" "$(blips "$MAIN")" 0

# --- a restart-only setting changed (the settings table's reload column):
# logged as such, exactly that one, and the running registration stays.
printf 'registrations: [%s.main]\nttl_seconds: 20\n' "$SVC" >"$T/meshreg.yaml"
n=$(log_count "reloaded:")
check "restart-only change: reload logged" hup_and_wait "$n" "reloaded:"
check "restart-only change: ttl_seconds logged as needing a restart" \
    grep -q "reload: ttl_seconds changed; it takes effect at the next restart" "$MESHREG_LOG"
check_eq "restart-only change: no other setting logged as needing a restart" \
    "$(grep -c "takes effect at the next restart" "$MESHREG_LOG")" 1
check "restart-only change: main still registered" has_record
check "/health 200 after the reloads" health_200
stop_pid "$MESHREG_PID"
finish
