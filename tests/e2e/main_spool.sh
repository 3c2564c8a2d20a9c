#!/usr/bin/env bash
# README "Drains": per-registration drains on a VM (hadown SERVICE), combined with the `all`
# drain like hacheck's spool files; expiry by --until; persistence across a restart with
# --state-dir (created at start, exit 2 when it cannot be); hastatus-style `meshreg status`
# lines and exit codes (0 all up, 1 not, 3 no sidecar); drain --wait without a sidecar.
. "$(dirname "$0")/lib.sh"

pa=$(free_port)
pb=$(free_port)
aport=$(free_port)
start_demo "$pa"
start_demo "$pb" --status-path /health-beta
sed -e "s#@REG@#$REG_DIR#" -e "s#@ADMIN_PORT@#$aport#" -e "s#@SOA@#$FIXTURES/soa#" \
    -e "s#@PORT_A@#$pa#" -e "s#@PORT_B@#$pb#" "$FIXTURES/vm.yaml.in" >"$T/vm.yaml"
ra=$REG_DIR/alpha.main/vm-host_$pa.json
rb=$REG_DIR/beta.main/vm-host_$pb.json
STATE=$T/state/deep
ADMIN=127.0.0.1:$aport
ADMIN_URL=http://$ADMIN
both() { [ -f "$ra" ] && [ -f "$rb" ]; }

# --state-dir that cannot be a directory: exit 2 before anything starts
touch "$T/plain"
timeout 10 "$BIN" run -c "$T/vm.yaml" --state-dir "$T/plain/sub" >"$T/bad.out" 2>&1
check_eq "--state-dir that cannot be created: exit 2" "$?" 2
check "... and says which" grep -q "state-dir" "$T/bad.out"

start_meshreg run -c "$T/vm.yaml" --state-dir "$STATE"
wait_meshreg
check "--state-dir created at start" test -d "$STATE"
check "both registered" wait_for 5 both
out=$(meshreg_cli status --admin "$ADMIN")
check_eq "status: all up exits 0" "$?" 0
check_eq "status: hastatus lines" "$out" "$(printf 'UP\talpha.main\nUP\tbeta.main')"

# --- one service: alpha leaves, beta stays
meshreg_cli drain alpha.main --reason "fix alpha" --admin "$ADMIN" >"$T/d1.out" 2>&1
check_eq "drain alpha.main exits 0" "$?" 0
check "alpha deregistered" wait_for 5 test ! -e "$ra"
check "beta stays registered" test -f "$rb"
check_eq "/health/alpha.main 503" "$(http_code "$ADMIN_URL/health/alpha.main")" 503
check_eq "/health/beta.main 200" "$(http_code "$ADMIN_URL/health/beta.main")" 200
check_eq "hacheck /spool/alpha.main 503" "$(http_code "$ADMIN_URL/spool/alpha.main/$pa/")" 503
check "hacheck body names the reason" \
    grep -qE "^Service alpha.main in down state since [0-9.]+: fix alpha$" \
    <<<"$(http_get "$ADMIN_URL/spool/alpha.main/$pa/")"
check_eq "hacheck /spool/beta.main 200" "$(http_code "$ADMIN_URL/spool/beta.main/$pb/")" 200
out=$(meshreg_cli status --admin "$ADMIN")
check_eq "status: one drained exits 1" "$?" 1
check_eq "status: DOWN line for alpha only" "$out" \
    "$(printf 'DOWN\tinf\talpha.main\tfix alpha\nUP\tbeta.main')"

# --- all on top: both out; lifting all leaves alpha's own drain
meshreg_cli drain all --reason maint --admin "$ADMIN" >/dev/null 2>&1
check "drain all: beta deregistered too" wait_for 5 test ! -e "$rb"
check "alpha reported under the all drain" \
    grep -qP '^DOWN\tinf\talpha.main\tmaint$' <<<"$(meshreg_cli status --admin "$ADMIN")"
meshreg_cli undrain --admin "$ADMIN" >/dev/null 2>&1
check "undrain all: beta back" wait_for 5 test -f "$rb"
check "undrain all: alpha still drained (its own drain)" test ! -e "$ra"

# --- a new drain of the same scope replaces the old one, and says so
out=$(meshreg_cli drain alpha.main --reason again --admin "$ADMIN" 2>&1)
check "the answer names what it replaced" \
    json_true - 'j["replaced"]["reason"] == "fix alpha" and j["reason"] == "again"' <<<"$out"
check "the log line names it too" grep -q "drain of alpha.main (reason: again), replacing the drain since" "$MESHREG_LOG"

# --- persistence: both drains survive a restart
meshreg_cli drain beta.main --reason "beta maint" --admin "$ADMIN" >/dev/null 2>&1
check "beta drained" wait_for 5 test ! -e "$rb"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "first run exits 0" "$EXIT_CODE" 0
start_meshreg run -c "$T/vm.yaml" --state-dir "$STATE"
wait_meshreg
check "after restart: still drained (probes pass, nothing registered)" \
    wait_for 5 eval '[ "$(http_get "$ADMIN_URL/status" | json_get - "min(c[\"passes\"] for c in j[\"checks\"])")" -ge 2 ]'
check "after restart: neither registered" bash -c "[ ! -e '$ra' ] && [ ! -e '$rb' ]"
out=$(meshreg_cli status --admin "$ADMIN")
check_eq "after restart: reasons kept" "$out" \
    "$(printf 'DOWN\tinf\talpha.main\tagain\nDOWN\tinf\tbeta.main\tbeta maint')"
meshreg_cli undrain alpha.main --admin "$ADMIN" >/dev/null 2>&1
meshreg_cli undrain beta.main --admin "$ADMIN" >/dev/null 2>&1
check "undrained: both back" wait_for 5 both
check "no drain left: state file removed" test ! -e "$STATE/drain.json"

# --- --until (Unix time): ends by itself (4 s ahead: at least 3 s of drain
# after `date`'s truncation, room for a slow sanitizer build)
until=$(($(date +%s) + 4))
meshreg_cli drain beta.main --until "$until" --admin "$ADMIN" >"$T/u.out" 2>&1
check_eq "drain --until exits 0" "$?" 0
check "drain --until: beta out" wait_for 3 test ! -e "$rb"
check "drain --until: DOWN line carries the until" \
    grep -qP "^DOWN\t$until\.0+\tbeta.main\t" <<<"$(meshreg_cli status --admin "$ADMIN")"
check "the answer carries the drain's own end" json_true - "j['until'] == $until" <"$T/u.out"
check "drain --until: back by itself" wait_for 8 test -f "$rb"
check "drain --until: not back before the until" bash -c "[ \$(date +%s) -ge $until ]"
check "expiry logged" grep -q "drain of beta.main expired" "$MESHREG_LOG"

# --- a probe failing: FAIL line, exit 1
demo_ctl "$pa" unhealthy
check "alpha unhealthy" wait_http "$ADMIN_URL/health/alpha.main" 503 5
out=$(meshreg_cli status --admin "$ADMIN")
check_eq "status: failing probe exits 1" "$?" 1
check "status: FAIL line for alpha" grep -qP '^FAIL\talpha.main\t' <<<"$out"
demo_ctl "$pa" healthy

kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5

# --- no sidecar: status 3, drain 1, drain --wait 0 (preStop)
meshreg_cli status --admin "$ADMIN" >/dev/null 2>&1
check_eq "status without a sidecar exits 3" "$?" 3
meshreg_cli drain alpha.main --admin "$ADMIN" >"$T/n.out" 2>&1
check_eq "drain without a sidecar exits 1" "$?" 1
check "... saying so" grep -q "no sidecar answers" "$T/n.out"
meshreg_cli drain --wait --admin "$ADMIN" >"$T/n.out" 2>&1
check_eq "drain --wait without a sidecar exits 0" "$?" 0
check "... saying why" grep -q "nothing to wait for" "$T/n.out"
finish
