#!/usr/bin/env bash
# README "Deploying": deploy/systemd/meshreg.service passes `systemd-analyze
# verify` (pointed at the binary under test) and its meshreg.yaml passes
# `meshreg check`; Type=notify works: with NOTIFY_SOCKET set (as systemd
# does) READY=1 arrives on a socket this test listens on only once the admin
# endpoint answers and the first probe has run, WATCHDOG=1 keep-alives
# follow WATCHDOG_USEC, and STOPPING=1 arrives at SIGTERM.
. "$(dirname "$0")/lib.sh"

UNIT=$ROOT/deploy/systemd/meshreg.service

# --- the unit file
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s|^ExecStart=/usr/local/bin/meshreg|ExecStart=$BIN|" "$UNIT" >"$T/meshreg.service"
    out=$(cd "$T" && systemd-analyze verify --man=no meshreg.service 2>&1)
    check_eq "systemd-analyze verify: exit 0" "$?" 0
    # It exits 0 on a line it ignores ("Failed to parse ..., ignoring"): any output is a defect.
    check_eq "systemd-analyze verify: no complaint" "$out" ""
    sed 's/^KillMode=mixed/KillMode=mixd/' "$T/meshreg.service" >"$T/bad.service"
    bad=$(cd "$T" && systemd-analyze verify --man=no bad.service 2>&1)
    check "systemd-analyze verify does complain about a typo (the check can fail)" \
        grep -q 'KillMode\|kill mode' <<<"$bad"
else
    skip "systemd-analyze verify" "systemd-analyze not installed (Debian package systemd)"
fi
for k in Type=notify KillMode=mixed 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
    StateDirectory=meshreg; do
    check "unit has $k" grep -qxF "$k" "$UNIT"
done
check "ExecStart passes --state-dir in the StateDirectory" \
    grep -q '^ExecStart=.* --state-dir %S/meshreg' "$UNIT"
stop_s=$(sed -n 's/^TimeoutStopSec=//p' "$UNIT")
check "TimeoutStopSec ($stop_s) > drain window 30 + grace 30" [ "${stop_s:-0}" -gt 60 ]

# --- its meshreg.yaml is a valid VM-mode config (soa_dir pointed at a fixture)
mkdir -p "$T/soa/web"
cp "$FIXTURES/smartstack.yaml" "$T/soa/web/smartstack.yaml"
out=$(meshreg_cli check -c "$ROOT/deploy/systemd/meshreg.yaml" --soa-dir "$T/soa" 2>&1)
check_eq "meshreg check -c deploy/systemd/meshreg.yaml: exit 0" "$?" 0
check "the shipped config registers web.main on an absolute file: path" \
    grep -q 'web.main: .* in file:/var/lib/meshreg/registry' <<<"$out"

# --- READY=1 / STOPPING=1 over a real datagram socket
APP_PORT=$(free_port)
admin=127.0.0.1:$(free_port)
sock=$T/notify
cat >"$T/notify.py" <<'PYEOF'
import json, socket, sys, urllib.request
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg = s.recv(4096).decode()
    print("got " + msg.replace("\n", " "), flush=True)
    if msg == "READY=1":
        # What a unit ordered After=meshreg.service would see right now.
        try:
            j = json.load(urllib.request.urlopen(sys.argv[2], timeout=2))
            probed = bool(j["checks"]) and all(c["last_ago_ms"] >= 0 for c in j["checks"])
            print("at-ready admin=up probed=%s" % probed, flush=True)
        except Exception as e:
            print("at-ready admin=down %s" % e, flush=True)
PYEOF
start_bg notify "$PY" "$T/notify.py" "$sock" "http://$admin/status"
NLOG=$BG_OUT
wait_for 5 grep -q listening "$NLOG"
start_demo "$APP_PORT"
# A slow first probe (1 s interval) leaves time to see READY wait for it.
NOTIFY_SOCKET=$sock WATCHDOG_USEC=200000 start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "$admin" --drain-seconds 1 --interval-ms 1000
check "READY=1 arrives" wait_for 10 grep -q '^got READY=1$' "$NLOG"
check "at READY=1 the admin endpoint answers and every check has a probe result" \
    wait_for 5 grep -q 'at-ready admin=up probed=True' "$NLOG"
check_eq "READY=1 is sent once" "$(grep -c '^got READY=1$' "$NLOG")" 1
# WATCHDOG_USEC=200000 (WatchdogSec=0.2): a keep-alive every 100 ms.
check "WATCHDOG=1 keep-alives arrive from the loop" \
    wait_for 5 eval '[ "$(grep -c "^got WATCHDOG=1$" "$NLOG")" -ge 5 ]'
stop_pid "$MESHREG_PID" TERM
check "STOPPING=1 arrives at SIGTERM" wait_for 5 grep -q '^got STOPPING=1' "$NLOG"
check "meshreg exits 0" wait_exit "$MESHREG_PID" 5
check "no notify warning in the log" bash -c "! grep -q 'systemd notify' '$MESHREG_LOG'"

# A NOTIFY_SOCKET nobody listens on is a warning, once, not a failure.
NOTIFY_SOCKET=$T/nobody WATCHDOG_USEC=100000 start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" \
    --service "$SVC" --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" \
    --backend "file:$REG_DIR" --admin "$admin" --drain-seconds 0 --interval-ms 200
check "dead NOTIFY_SOCKET: meshreg still serves" wait_http "http://$admin/health" 200 10
check "dead NOTIFY_SOCKET: warned" wait_for 5 grep -q 'systemd notify [A-Z]*=1: .*No such file' "$MESHREG_LOG"
# Three probes (600 ms) = six keep-alives and READY=1 attempted by now.
passes() { http_get "http://$admin/status" | json_get - 'j["checks"][0]["passes"]'; }
wait_for 5 eval '[ "$(passes)" -ge 3 ]'
check_eq "dead NOTIFY_SOCKET: warned once, not at every keep-alive" \
    "$(grep -c 'systemd notify' "$MESHREG_LOG")" 1
finish
