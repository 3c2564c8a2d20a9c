#!/usr/bin/env bash
# README "Backends" zk:// with ZooKeeper not running when meshreg starts: probes and the
# admin endpoint work at once, /status says it is connecting and why, and the
# znode is there within two seconds of ZooKeeper coming up (well under the
# 5 s backoff cap: meshreg does not wait out a long retry; a loaded CI host
# has measured 1.1 s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
[ -n "${ZK_DIR:-}" ] || skip_all "ZooKeeper shared via ZK_ADDR: cannot start it late"
"$ROOT/scripts/zk-stop" "$ZK_DIR" >/dev/null
START_WAIT=healthy TTL=10 start_zk_sidecar
check_eq "/health 200 with no ZooKeeper (app healthy)" "$(http_code "$ADMIN_URL/health")" 200
dt=$(http_ms "$ADMIN_URL/health")
check_between "/health answered in ${dt} ms (< 200)" "$dt" 0 199
check_eq "/status backend connecting" "$(backend_field state)" connecting
detail=$(backend_field detail)
echo "# /status detail: $detail"
check "/status says why (connection refused)" grep -q -i "refused" <<<"$detail"
check_eq "/status: not registered yet" \
    "$(http_get "$ADMIN_URL/status" | json_get - "j['checks'][0]['registered']")" false
sleep 1
# ZooKeeper accepts connections a little before it serves (and mishandles
# those it gets meanwhile); "up" is when it answers `srvr` with its mode.
start_bg zkstart "$ROOT/scripts/zk-start" "$ZK_DIR"
zk_port=${ZK_ADDR##*:}
wait_for 30 port_open "$zk_port"
t_open=$(now_ms)
_serving() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$zk_port" || exit 1
        printf srvr >&3
        timeout 1 cat <&3
    ) 2>/dev/null | grep -q '^Mode: '
}
wait_for 30 _serving
t_up=$(now_ms)
echo "# ZooKeeper's port opened, then it served $((t_up - t_open)) ms later"
if wait_for 30 zk_present; then
    reg_ms=$(python3 -c 'import sys, datetime
for line in open(sys.argv[1]):
    if " registered " in line and " in zk" in line:
        t = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
        print(int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) - int(sys.argv[2]))
        break' "$MESHREG_LOG" "$t_up")
    check "registered ${reg_ms:-?} ms after ZooKeeper began serving (< 2000)" \
        test "${reg_ms:-99999}" -lt 2000
else
    fail "registered once ZooKeeper is up" "no znode: $(backend_field detail)"
    show_log "$ZK_DIR/zk1.log" 40
fi
wait_exit "$BG_PID" 30
check_eq "/status backend connected" "$(backend_field state)" connected
check_eq "exactly one znode" "$(zk_count)" 1
finish
