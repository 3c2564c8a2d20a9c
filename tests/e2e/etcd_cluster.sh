#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; the sanitizer pass runs the single-server tests)
# README "Backends" etcd, 3-member cluster on loopback: the leader killed -> the key is
# still there and meshreg keeps working; the member meshreg talks to killed
# -> it fails over to another endpoint in the URI.
. "$(dirname "$0")/lib.sh"
need_etcd --cluster
export ETCDCTL_API=3
PREFIX=/e2e-cluster-$$
base=$(cat "$ETCD_DIR/base")
alive_eps() { # endpoints of the members still running
    local i eps=
    for i in 0 1 2; do
        [ -f "$ETCD_DIR/member$i.pid" ] && eps="${eps:+$eps,}127.0.0.1:$((base + i))"
    done
    echo "$eps"
}
ctl() { etcdctl --endpoints="$(alive_eps)" --dial-timeout=1s --command-timeout=3s "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)" 2>/dev/null)" ]; }
no_key() { ! has_key; }
count() { ctl get --prefix --keys-only "$PREFIX/" | grep -c .; }
status_has() { grep -q "$1" <<<"$(http_get "$ADMIN_URL/status")"; }

DRAIN_S=1 start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 3
check "registered in the cluster" has_key
# Any member: sidecars sharing a URI spread their start over its endpoints.
check "/status: connected to one of the cluster's endpoints" \
    status_has "127\.0\.0\.1:\($base\|$((base + 1))\|$((base + 2))\) lease"

# --- the leader dies
leader=$("$ROOT/scripts/etcd-stop" --leader "$ETCD_DIR")
echo "# killed the leader, member $leader"
check "leader killed: key still there" has_key
sleep 1.5 # a keepalive or two through the election
check "leader killed: key still there after keepalives" has_key
check "leader killed: connected" wait_for 5 status_has '"connected'
demo_ctl "$APP_PORT" unhealthy
check "leader killed: delete works" wait_for 8 no_key
demo_ctl "$APP_PORT" healthy
check "leader killed: put works" wait_for 8 has_key
check_eq "leader killed: one copy" "$(count)" 1
"$ROOT/scripts/etcd-start" --member "$leader" "$ETCD_DIR" >/dev/null 2>&1
check "old leader back" wait_for 5 bash -c "ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$((base + leader)) endpoint health"

# --- the member meshreg talks to dies: fail over
used=$(http_get "$ADMIN_URL/status" | grep -o "127\.0\.0\.1:[0-9]* lease" | head -n 1 | cut -d' ' -f1)
idx=$((${used##*:} - base))
echo "# meshreg talks to $used (member $idx); killing it"
"$ROOT/scripts/etcd-stop" --member "$idx" "$ETCD_DIR"
t0=$(now_ms)
demo_ctl "$APP_PORT" unhealthy
if wait_for 8 no_key; then
    check "endpoint killed: delete done through another member ($(($(now_ms) - t0)) ms)" true
else
    fail "endpoint killed: fails over" "key still there 4 s later"
fi
check "endpoint killed: /status names another endpoint" \
    bash -c "! grep -q '$used lease' <<<\"\$(curl -s --max-time 2 '$ADMIN_URL/status')\""
check "endpoint killed: connected" wait_for 5 status_has '"connected'
demo_ctl "$APP_PORT" healthy
check "endpoint killed: put works" wait_for 8 has_key
check "log says it failed over" grep -q "trying 127.0.0.1:" "$MESHREG_LOG"
sleep 1.5
check_eq "one copy after all that" "$(count)" 1
kill -TERM "$MESHREG_PID"
check "SIGTERM: key gone" wait_for 5 no_key
wait_exit "$MESHREG_PID" 4
check_eq "exit status 0" "$EXIT_CODE" 0
finish
