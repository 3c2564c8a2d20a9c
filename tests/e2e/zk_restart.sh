#!/usr/bin/env bash
# README "Backends" zk://: ZooKeeper restarted within the session timeout. A connection loss
# is not a deregistration: the same znode (same czxid, same owner) is there
# afterwards, a kazoo watcher sees no delete or re-create, and /health and
# /status keep answering at once while ZooKeeper is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
[ -n "${ZK_DIR:-}" ] || skip_all "ZooKeeper shared via ZK_ADDR: cannot restart it"
TTL=10 start_zk_sidecar
check "registered" wait_for 5 zk_present
czxid=$(zk_node_field czxid)
owner=$(zk_node_field ephemeralOwner)
zk_watch_start

"$ROOT/scripts/zk-stop" "$ZK_DIR" >/dev/null
t_down=$(now_ms)
_backend_down() { [ "$(backend_field state)" = disconnected ]; }
check "/status: backend disconnected while ZooKeeper is down" wait_for 8 _backend_down
check_eq "/health still 200 while ZooKeeper is down" "$(http_code "$ADMIN_URL/health")" 200
dt=$(http_ms "$ADMIN_URL/health")
check_between "/health answered in ${dt} ms (< 200)" "$dt" 0 199
check "/status says it reconnects" grep -q "reconnecting" <<<"$(backend_field detail)"
registered=$(http_get "$ADMIN_URL/status" | json_get - "j['checks'][0]['registered']")
check_eq "/status: still counted registered during the blip" "$registered" true
sleep 1
"$ROOT/scripts/zk-start" "$ZK_DIR" >/dev/null
echo "# ZooKeeper was down $(($(now_ms) - t_down)) ms (session timeout 10000 ms)"
_backend_up() { [ "$(backend_field state)" = connected ]; }
check "/status: backend connected again" wait_for 5 _backend_up
check "znode present" zk_present
check_eq "same znode (czxid)" "$(zk_node_field czxid)" "$czxid"
check_eq "same owner (session kept)" "$(zk_node_field ephemeralOwner)" "$owner"
check_eq "exactly one znode" "$(zk_count)" 1
sleep 0.5
check_eq "watcher saw no delete" "$(zk_events deleted)" 0
check_eq "watcher saw no re-create" "$(( $(zk_events created) + $(zk_events recreated) ))" 0
check "meshreg resumed its session" grep -q "session $owner resumed" "$MESHREG_LOG"
finish
