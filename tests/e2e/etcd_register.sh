#!/usr/bin/env bash
# README "Backends" etcd: the record is at PREFIX/<svc.ns>/<instance_id>_<port> with the
# exact record JSON, attached to a lease of --ttl-seconds (checked with
# etcdctl, not our client); unhealthy / drain / SIGTERM delete the key
# (latency reported); after SIGTERM the lease is revoked; SIGKILL -> the key
# is gone once the lease TTL ran out.
. "$(dirname "$0")/lib.sh"
need_etcd
export ETCDCTL_API=3
PREFIX=/e2e-$$
ctl() { etcdctl --endpoints="$ETCD_ADDR" --dial-timeout=1s --command-timeout=2s "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
value() { ctl get --print-value-only "$(key)"; }
has_key() { [ -n "$(value)" ]; }
no_key() { [ -z "$(value)" ]; }
lease_of() { ctl get -w fields "$(key)" | sed -n 's/^"Lease" : //p'; }
# ms until CMD succeeds (polling every 2 ms, up to 3 s), or "timeout"
latency() {
    local t0=$1 deadline
    shift
    deadline=$((t0 + 3000))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -ge "$deadline" ] && { echo timeout; return 1; }
        sleep 0.002
    done
    echo $(($(now_ms) - t0))
}

DRAIN_S=3 start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 3 --weight 7
check "key appears" has_key
v=$(value)
# Byte for byte what nerve writes (README "Backends"), as the file: backend would hold it.
check_eq "value is the exact record JSON" "$v" \
    "{\"host\":\"127.0.0.1\",\"port\":$APP_PORT,\"name\":\"$IID\",\"weight\":7,\"labels\":{\"paasta_instance\":\"main\"}}"
lease=$(lease_of)
check_between "key is attached to a lease ($lease)" "${lease:-0}" 1 9223372036854775807
hex=$(printf '%x' "${lease:-0}")
check "lease TTL is --ttl-seconds (3 s)" grep -q 'granted with TTL(3s)' <<<"$(ctl lease timetolive "$hex")"
check_eq "exactly one key under the prefix" "$(ctl get --prefix --keys-only "$PREFIX/" | grep -c .)" 1
st=$(http_get "$ADMIN_URL/status")
check "/status shows the etcd backend connected" grep -q connected <<<"$st"
check "/status names the lease" grep -qi "lease" <<<"$st"
sleep 4 # longer than the TTL: only the keepalive keeps the key
check "key survives past the TTL (keepalive)" has_key
check_eq "same lease after the TTL" "$(lease_of)" "$lease"

# Unhealthy deletes the key (fall 2 x 200 ms), healthy puts it back.
demo_ctl "$APP_PORT" unhealthy
t0=$(now_ms)
dt=$(latency "$t0" no_key)
check "unhealthy: key deleted (${dt} ms after the app turned unhealthy)" [ "$dt" != timeout ]
check_eq "unhealthy: /health 503" "$(http_code "$ADMIN_URL/health")" 503
demo_ctl "$APP_PORT" healthy
check "healthy again: key back" wait_for 8 has_key

# Drain deletes it; undrain puts it back.
t0=$(now_ms)
http_post "$ADMIN_URL/drain" >/dev/null
dt=$(latency "$t0" no_key)
check_between "drain: key deleted (${dt} ms after POST /drain)" "$dt" 0 500
http_post "$ADMIN_URL/undrain" >/dev/null
check "undrain: key back" wait_for 8 has_key
lease=$(lease_of)
hex=$(printf '%x' "${lease:-0}")

# SIGTERM: key gone at once, lease revoked once meshreg exits.
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
dt=$(latency "$t0" no_key)
check_between "SIGTERM: key deleted (${dt} ms)" "$dt" 0 500
check "SIGTERM: meshreg still in its drain window" alive "$MESHREG_PID"
wait_exit "$MESHREG_PID" 8
check_eq "SIGTERM: exit status 0" "$EXIT_CODE" 0
check "SIGTERM: lease revoked at exit" grep -q 'already expired' <<<"$(ctl lease timetolive "$hex")"
check "log says the lease was granted" grep -q "etcd lease .* granted" "$MESHREG_LOG"
stop_pid "$DEMO_PID"

# SIGKILL: nobody deletes anything; the lease expires after the TTL.
APP_PORT=
DRAIN_S=1 start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 2
check "registered again" wait_for 8 has_key
kill -KILL "$MESHREG_PID"
t0=$(now_ms)
check "SIGKILL: key still there at first" has_key
deadline=$((t0 + 5000))
while has_key && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
dt=$(($(now_ms) - t0))
check "SIGKILL: key gone after the lease TTL (${dt} ms, TTL 2 s)" no_key
check "SIGKILL: not before ~the TTL (${dt} ms >= 1000)" [ "$dt" -ge 1000 ]
stop_pid "$DEMO_PID"
finish
