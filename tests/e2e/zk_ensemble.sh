#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; the sanitizer pass runs the single-server tests)
# README "Backends" zk:// on a 3-member ensemble with every member in the URI. The leader
# crashes (SIGKILL): the znode stays, one copy, same session. Then the member
# meshreg is connected to crashes: the client moves the session to another
# member, the znode stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup --ensemble
[ -n "${ZK_DIR:-}" ] || skip_all "ZooKeeper shared via ZK_ADDR: cannot kill members"
TTL=10 start_zk_sidecar
check "registered" wait_for 5 zk_present
czxid=$(zk_node_field czxid)
owner=$(zk_node_field ephemeralOwner)
zk_watch_start

_connected() { [ "$(backend_field state)" = connected ]; }
_settled() {
    _connected && [ "$(http_get "$ADMIN_URL/status" | json_get - "j['backend']['pending']")" = 0 ]
}

leader=$("$ROOT/scripts/zk-stop" --kill --member leader "$ZK_DIR")
echo "# killed the leader, member $leader"
sleep 0.5
if wait_for 10 _settled; then ok "meshreg connected again after the leader died"; else
    fail "meshreg connected again after the leader died" "$(backend_field detail)"
fi
check "znode still there" zk_present
check_eq "same znode (czxid)" "$(zk_node_field czxid)" "$czxid"
check_eq "same session" "$(zk_node_field ephemeralOwner)" "$owner"
check_eq "one copy" "$(zk_count)" 1
"$ROOT/scripts/zk-start" --member "$leader" "$ZK_DIR" >/dev/null

# The member meshreg talks to: /status detail starts with "127.0.0.1:PORT,".
server=$(backend_field detail | cut -d, -f1)
port=${server##*:}
member=$((port - ZK_BASE_PORT + 1))
"$ROOT/scripts/zk-stop" --kill --member "$member" "$ZK_DIR" >/dev/null
echo "# killed member $member ($server), the one meshreg was connected to"
_moved() { _settled && [ "$(backend_field detail | cut -d, -f1)" != "$server" ]; }
if wait_for 10 _moved; then
    ok "session moved from $server to $(backend_field detail | cut -d, -f1)"
else
    fail "session moved to another member" "$(backend_field detail)"
fi
check "znode still there (2)" zk_present
check_eq "same znode (czxid) (2)" "$(zk_node_field czxid)" "$czxid"
check_eq "same session (2)" "$(zk_node_field ephemeralOwner)" "$owner"
check_eq "one copy (2)" "$(zk_count)" 1
sleep 0.5
check_eq "watcher saw no delete" "$(zk_events deleted)" 0
# No identity configured: a reconnect is never "authenticating as digest user (null)".
check "no 'authenticating' line without an identity" bash -c "! grep 'authenticating as' '$MESHREG_LOG'"
check_eq "watcher saw no re-create" "$(( $(zk_events created) + $(zk_events recreated) ))" 0
finish
