#!/usr/bin/env bash
# README "Backends" zk://: one ephemeral sequential znode per up registration, named as
# nerve names it (<instance_id>_ + 10-digit sequence), with the record JSON byte for byte,
# owned by meshreg's session; unhealthy, drain and SIGTERM delete it (latency measured by a
# kazoo watcher), healthy/undrain put it back as a new node (a new sequence).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
DRAIN_S=3 start_zk_sidecar
check "registered in ZooKeeper" wait_for 5 zk_present
want="{\"host\":\"127.0.0.1\",\"port\":$APP_PORT,\"name\":\"$IID\",\"weight\":10,\"labels\":{\"paasta_instance\":\"main\"}}"
check_eq "znode data is the record, byte for byte" "$(zk_node_field data)" "$want"
owner=$(zk_node_field ephemeralOwner)
check "znode is ephemeral (owner $owner)" [ -n "$owner" -a "$owner" != 0x0 ]
detail=$(backend_field detail)
check "owned by the session /status shows ($owner)" grep -q "session $owner," <<<"$detail"
check_eq "/status backend connected" "$(backend_field state)" connected
check_eq "exactly one znode" "$(zk_count)" 1
name0=$(zk_node_field name)
check "named <instance_id>_ + 10-digit sequence ($name0)" grep -q -E "^${IID}_[0-9]{10}\$" <<<"$name0"
zk_watch_start

# Unhealthy: the probe fails (fall 2 at 200 ms), the node goes.
t0=$(now_ms)
demo_ctl "$APP_PORT" unhealthy
if ms=$(zk_wait_event "$t0" deleted 5); then
    ok "unhealthy app: znode deleted ${ms} ms after the app turned unhealthy"
else
    fail "unhealthy app: znode deleted" "no delete seen in 5 s"
fi
check "unhealthy: kazoo sees no znode" zk_absent
t0=$(now_ms)
demo_ctl "$APP_PORT" healthy
if ms=$(zk_wait_event "$t0" created 5); then
    ok "healthy again: znode re-created after ${ms} ms"
else
    fail "healthy again: znode re-created" "no create seen in 5 s"
fi

# Drain over the admin endpoint: deregistration without a probe in between.
t0=$(now_ms)
http_post "$ADMIN_URL/drain" >/dev/null
if ms=$(zk_wait_event "$t0" deleted 3); then
    check "drain: znode deleted in ${ms} ms (< 500)" [ "$ms" -lt 500 ]
else
    fail "drain: znode deleted" "no delete seen in 3 s"
fi
t0=$(now_ms)
http_post "$ADMIN_URL/undrain" >/dev/null
if ms=$(zk_wait_event "$t0" created 3); then
    check "undrain: znode back in ${ms} ms (< 500)" [ "$ms" -lt 500 ]
else
    fail "undrain: znode back" "no create seen in 3 s"
fi
check_eq "exactly one znode after the flips" "$(zk_count)" 1
name1=$(zk_node_field name)
check "re-created as a new node with a higher sequence ($name0 -> $name1)" \
    [ "${name1#"${IID}"_}" -gt "${name0#"${IID}"_}" ] 2>/dev/null
check_eq "same data after the flips" "$(zk_node_field data)" "$want"

# SIGTERM: deleted first, while meshreg still serves its drain window.
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
if ms=$(zk_wait_event "$t0" deleted 3); then
    check "SIGTERM: znode deleted in ${ms} ms (< 500)" [ "$ms" -lt 500 ]
else
    fail "SIGTERM: znode deleted" "no delete seen in 3 s"
fi
check "SIGTERM: meshreg still in its drain window when the node is gone" alive "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 5; then
    check_eq "SIGTERM: exit status 0" "$EXIT_CODE" 0
else
    fail "SIGTERM: exits after the window" "still running"
fi
check "after exit: no znode" zk_absent
check_eq "after exit: parent empty" "$(zk_count)" 0
check "meshreg logged the deregistration" grep -q "deregistered ${IID}_$APP_PORT in zk" "$MESHREG_LOG"
finish
