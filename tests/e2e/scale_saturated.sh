#!/usr/bin/env bash
# meshreg-test: plain-pass-only (1,000 registrations under a saturated CPU: timing is the point, the sanitizer pass would only measure ASan)
# README "Probes under load": one meshreg in VM mode with 1,000 registrations, each
# probed every second against one demo app (healthy all along), file: backend.
# All register; then two busy processes (one per core) saturate the CPU for 10 s:
# no record is dropped at any moment and no registration is declared unhealthy
# (every "now unhealthy" would be false), /health/<svc.ns> keeps answering, and
# start-up logged a bounded number of lines (a summary, not lines per registration).
. "$(dirname "$0")/lib.sh"

N=${SCALE_TEST_N:-1000}
SAT=${SCALE_TEST_SAT_S:-10}

app=$(free_port)
start_demo "$app" --quiet
aport=$(free_port)
soa=$T/soa
reg=$T/reg
{
    echo "backend: file:$reg"
    echo "admin: 127.0.0.1:$aport"
    echo "soa_dir: $soa"
    echo "host: 127.0.0.1"
    echo "instance_id: scale"
    echo "drain_seconds: 0"
    echo "interval_ms: 1000"
    echo "services:"
} >"$T/vm.yaml"
# One python3 run writes the N smartstack files and the services list (a shell
# loop forks twice per file).
"$PY" - "$soa" "$N" "$app" >>"$T/vm.yaml" <<'PYEOF'
import os, sys
soa, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(1, n + 1):
    s = "s%04d" % i
    os.makedirs(os.path.join(soa, s), exist_ok=True)
    with open(os.path.join(soa, s, "smartstack.yaml"), "w") as f:
        f.write("main:\n  proxy_port: %d\n  healthcheck_uri: /status\n"
                "  healthcheck_timeout_s: 1\n" % (19000 + i % 2000))
    print("  - {service: %s, instance: main, port: %d}" % (s, port))
PYEOF
records() {
    find "$reg" -name '*.json' 2>/dev/null | wc -l
}

start_meshreg run -c "$T/vm.yaml"
ADMIN=127.0.0.1:$aport
ADMIN_URL=http://$ADMIN
check "all $N registered" wait_for_eval 30 "[ \"\$(records)\" -ge $N ]"
# (the records can be on disk a moment before the line that counts them)
check "start-up logged 'all $N record(s) registered'" \
    wait_for 10 grep -q "all $N record(s) registered" "$MESHREG_LOG"
lines=$(wc -l <"$MESHREG_LOG")
check "start-up log bounded: $lines lines for $N registrations (< 50)" [ "$lines" -lt 50 ]

before=$(grep -c 'now unhealthy' "$MESHREG_LOG")
start_bg busy1 bash -c 'while :; do :; done'
b1=$BG_PID
start_bg busy2 bash -c 'while :; do :; done'
b2=$BG_PID
minrec=$N
slow=0
asked=0
end=$(($(now_ms) + SAT * 1000))
while [ "$(now_ms)" -lt "$end" ]; do
    r=$(records)
    [ "$r" -lt "$minrec" ] && minrec=$r
    code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$ADMIN_URL/health/s0001.main")
    asked=$((asked + 1))
    [ "$code" = 200 ] || slow=$((slow + 1))
    sleep 0.3
done
stop_pid "$b1"
stop_pid "$b2"
after=$(grep -c 'now unhealthy' "$MESHREG_LOG")
check_eq "saturated ${SAT} s: no record dropped (fewest seen)" "$minrec" "$N"
check_eq "saturated ${SAT} s: no false 'now unhealthy'" "$((after - before))" 0
check_eq "saturated ${SAT} s: /health/s0001.main answered 200 within 2 s ($asked asked)" "$slow" 0
lag=$(curl -s --max-time 5 "$ADMIN_URL/status" | json_get - 'j["probes"]["lag_max_ms"]')
check "the slip was measured (/status probes.lag_max_ms = $lag)" [ -n "$lag" ]

kill -TERM "$MESHREG_PID"
check "SIGTERM: every record deregistered" wait_for 20 bash -c "[ \"\$(find '$reg' -name '*.json' | wc -l)\" = 0 ]"
wait_exit "$MESHREG_PID" 20
check_eq "exit 0" "$EXIT_CODE" 0
finish
