#!/usr/bin/env bash
# README "Backends" zk:// after SIGKILL: the znode outlives the process for the session
# timeout (--ttl-seconds 3), then vanishes by itself. A new meshreg started
# within that timeout deletes the dead session's node at once, even before
# its app is healthy, and registers its own (one node, owned by the new
# session) once it is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
TTL=3 start_zk_sidecar
check "registered" wait_for 5 zk_present
zk_watch_start
t0=$(now_ms)
kill -KILL "$MESHREG_PID"
wait_exit "$MESHREG_PID" 2
# ZooKeeper counts the timeout from the session's last contact, and the
# client pings every timeout/3: expiry lands 2-3 s (plus a tick) after the kill.
# The watcher's event time is the proof that the node outlived the process
# (a kazoo query "1 s later" could itself start after the expiry on a
# loaded host: it did at load 160).
if ms=$(zk_wait_event "$t0" deleted 8); then
    check "SIGKILL: znode outlived the process (session alive), gone by itself after ${ms} ms (session timeout 3000 ms)" \
        [ "$ms" -ge 1800 -a "$ms" -le 6000 ]
else
    fail "SIGKILL: znode gone after the session timeout" "still there 8 s later"
fi

# Again, but a new meshreg comes up before the old session expires.
TTL=10 start_zk_meshreg
check "registered (2)" wait_for 5 zk_present
old=$(zk_node_field ephemeralOwner)
kill -KILL "$MESHREG_PID"
wait_exit "$MESHREG_PID" 2
check "killed: the old node is still there" zk_present
# The app is down when meshreg comes back: the dead run's node must not keep
# advertising it until its session expires.
demo_ctl "$APP_PORT" unhealthy
t0=$(now_ms)
TTL=10 start_zk_meshreg
if wait_for 3 zk_absent; then
    ok "restarted meshreg, app unhealthy: the old run's node deleted after $(($(now_ms) - t0)) ms"
else
    fail "restarted meshreg deletes the old run's node" "still there: $(zk_node_field ephemeralOwner)"
fi
demo_ctl "$APP_PORT" healthy
_new_owner() {
    local o
    o=$(zk_node_field ephemeralOwner) && [ -n "$o" ] && [ "$o" != "$old" ]
}
if wait_for 5 _new_owner; then
    ok "restarted meshreg owns the node after $(($(now_ms) - t0)) ms (old session $old not yet expired)"
else
    fail "restarted meshreg owns the node" "owner still $(zk_node_field ephemeralOwner)"
fi
check_eq "exactly one znode" "$(zk_count)" 1
new=$(zk_node_field ephemeralOwner)
check "new owner is the session /status shows" grep -q "session $new," <<<"$(backend_field detail)"
finish
