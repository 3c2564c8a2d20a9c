#!/usr/bin/env bash
# README "Backends" zk://, no duplicates: meshreg reaches ZooKeeper through a proxy
# (tests/zkproxy.py) that lets the registration's create through, drops its reply and
# cuts the connection, so meshreg cannot know whether its node exists. After the
# reconnect it finds its node (same session, listed by prefix and ephemeralOwner) instead
# of creating a second one: synapse would otherwise see the instance twice. SIGTERM
# then deletes that node, the one it never got a reply for.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
pport=$(free_port)
start_bg zkproxy "$ZK_PY" "$ROOT/tests/zkproxy.py" --listen "$pport" --to "$ZK_ADDR" \
    --lose-create-of "/$SVC.main/${IID}_"
PROXY_OUT=$BG_OUT
wait_for 10 grep -q ready "$PROXY_OUT" || fail "proxy started" "$(cat "$BG_ERR")"
# meshreg's only way to ZooKeeper is the proxy; kazoo talks to ZooKeeper directly.
START_WAIT=healthy start_sidecar --backend "zk://127.0.0.1:$pport" --ttl-seconds 10
check "the proxy lost the reply of meshreg's create" wait_for 10 grep -q "^lost " "$PROXY_OUT"
echo "# $(head -2 "$PROXY_OUT" | tail -1)"
check "meshreg saw the create fail" wait_for 5 grep -q "register ${IID}_$APP_PORT in zk failed" \
    "$MESHREG_LOG"
_registered() {
    [ "$(http_get "$ADMIN_URL/status" | json_get - "j['checks'][0]['registered']")" = true ]
}
check "registered after the reconnect" wait_for 10 _registered
check "meshreg found its node instead of creating another" grep -q "found our node" "$MESHREG_LOG"
sleep 0.5
check_eq "exactly one znode" "$(zk_count)" 1
owner=$(zk_node_field ephemeralOwner)
check "owned by meshreg's session ($owner)" grep -q "session $owner," <<<"$(backend_field detail)"
check "the lost create's node: version 0, never re-made" [ "$(zk_node_field version)" = 0 ]

kill -TERM "$MESHREG_PID"
check "SIGTERM: the node is gone" wait_for 3 zk_absent
wait_exit "$MESHREG_PID" 10
check_eq "exit status 0" "${EXIT_CODE:-}" 0
finish
