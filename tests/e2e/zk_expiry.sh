#!/usr/bin/env bash
# README "Backends" zk:// session expiry. (1) meshreg stalls longer than its session timeout
# (SIGSTOP, like a long GC pause or a frozen VM): ZooKeeper expires the
# session and drops the znode; once meshreg runs again it opens a new session
# and re-creates the znode by itself. (2) ZooKeeper down for longer than the
# session timeout: the znode is there once ZooKeeper is back, exactly once.
# (ZooKeeper restores sessions from its log with a fresh timeout on restart,
# so in (2) the old session usually survives; what is pinned is the result.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
TTL=2 start_zk_sidecar
check "registered" wait_for 5 zk_present
old=$(zk_node_field ephemeralOwner)
zk_watch_start

t0=$(now_ms)
kill -STOP "$MESHREG_PID"
if ms=$(zk_wait_event "$t0" deleted 6); then
    ok "stalled meshreg: ZooKeeper expired the session, znode deleted after ${ms} ms (timeout 2000 ms)"
else
    fail "stalled meshreg: session expired" "znode still there 6 s later"
fi
sleep 0.5
t0=$(now_ms)
kill -CONT "$MESHREG_PID"
if ms=$(zk_wait_event "$t0" created 5); then
    check "resumed meshreg re-created the znode in ${ms} ms (< 2000)" [ "$ms" -lt 2000 ]
else
    fail "resumed meshreg re-created the znode" "not back 5 s later"
fi
new=$(zk_node_field ephemeralOwner)
check "re-created under a new session ($old -> $new)" [ -n "$new" -a "$new" != "$old" ]
check "new session is the one /status shows" grep -q "session $new," <<<"$(backend_field detail)"
check_eq "exactly one znode" "$(zk_count)" 1
check "meshreg logged the expiry" grep -q "session $old expired" "$MESHREG_LOG"
check_eq "/status backend connected" "$(backend_field state)" connected

if [ -n "${ZK_DIR:-}" ]; then
    "$ROOT/scripts/zk-stop" "$ZK_DIR" >/dev/null
    sleep 3.5
    code=$(http_code "$ADMIN_URL/health" --max-time 1)
    check_eq "/health 200 with ZooKeeper down for 3.5 s" "$code" 200
    check_eq "/status backend disconnected" "$(backend_field state)" disconnected
    "$ROOT/scripts/zk-start" "$ZK_DIR" >/dev/null
    t0=$(now_ms)
    _settled() {
        [ "$(backend_field state)" = connected ] &&
            [ "$(http_get "$ADMIN_URL/status" | json_get - "j['backend']['pending']")" = 0 ]
    }
    if wait_for 5 _settled; then
        ok "ZooKeeper back after 3.5 s down: meshreg settled in $(($(now_ms) - t0)) ms"
    else
        fail "ZooKeeper back: meshreg settled" "$(backend_field detail)"
    fi
    check "znode present after the long outage" zk_present
    check_eq "exactly one znode after the long outage" "$(zk_count)" 1
    owner=$(zk_node_field ephemeralOwner)
    check "owned by meshreg's current session ($owner)" grep -q "session $owner," <<<"$(backend_field detail)"
else
    skip "ZooKeeper down longer than the session timeout" "shared ZooKeeper (ZK_ADDR)"
fi
finish
