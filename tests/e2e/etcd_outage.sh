#!/usr/bin/env bash
# README "Backends" etcd outages: etcd down at start -> probes and the admin endpoint work,
# /status says disconnected, and the key is registered within a second of
# etcd coming up; etcd restarted with its data -> the key stays (one copy);
# etcd wiped and restarted -> the key is back (one copy); a hung etcd
# (SIGSTOP) never stalls the admin endpoint and everything converges after.
. "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
ETCD_BASE_PORT=$(free_port_block 13) || skip_all "no free port block"
export ETCD_BASE_PORT
ETCD_ADDR=127.0.0.1:$ETCD_BASE_PORT
ETCD_DIR=$(_server_dir etcd)
on_cleanup "'$ROOT/scripts/etcd-stop' '$ETCD_DIR' >/dev/null 2>&1; rm -rf '$ETCD_DIR'"
PREFIX=/e2e-outage-$$
ctl() { etcdctl --endpoints="$ETCD_ADDR" --dial-timeout=1s --command-timeout=2s "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)" 2>/dev/null)" ]; }
no_key() { ! has_key; }
count() { ctl get --prefix --keys-only "$PREFIX/" | grep -c .; }
status_has() { grep -q "$1" <<<"$(http_get "$ADMIN_URL/status")"; }

# --- etcd down at start
START_WAIT=healthy DRAIN_S=1 start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 3
check_eq "etcd down: /health 200 once the app is healthy" "$(http_code "$ADMIN_URL/health")" 200
check "etcd down: /status says disconnected" status_has disconnected
check "etcd down: /status says why" status_has "refused"
if ! "$ROOT/scripts/etcd-start" "$ETCD_DIR" >"$T/etcd-start.out" 2>&1; then
    show_log "$T/etcd-start.out"
    skip_all "etcd did not start"
fi
# reg_etcd retries its lease at most every 0.5 s (RETRY_MAX), then one grant
# and one put; the rest of the 1.5 s is etcdctl's own start-up per poll.
t0=$(now_ms)
if wait_for 5 has_key; then
    dt=$(($(now_ms) - t0))
    check_between "registered soon after etcd answers (${dt} ms)" "$dt" 0 1500
else
    fail "registered once etcd is up" "no key 5 s later"
fi
check "/status says connected" wait_for 8 status_has '"connected'

# --- restart with the data kept: lease and key survive
"$ROOT/scripts/etcd-stop" --member 0 "$ETCD_DIR"
# Only once meshreg has noticed is "/health still 200" a statement.
check "etcd killed: /status disconnected" wait_for 5 status_has disconnected
check_eq "etcd killed: /health still 200" "$(http_code "$ADMIN_URL/health")" 200
"$ROOT/scripts/etcd-start" --member 0 "$ETCD_DIR" >/dev/null 2>&1
check "etcd back (data kept): key present" wait_for 8 has_key
check "etcd back (data kept): connected again" wait_for 8 status_has '"connected'
check_eq "etcd back (data kept): one copy" "$(count)" 1

# --- wiped: new cluster, new lease, key back once
"$ROOT/scripts/etcd-stop" "$ETCD_DIR"
"$ROOT/scripts/etcd-start" "$ETCD_DIR" >/dev/null 2>&1
t0=$(now_ms)
if wait_for 8 has_key; then
    dt=$(($(now_ms) - t0))
    check "etcd wiped: key back (${dt} ms, keepalive every TTL/3 = 1 s)" [ "$dt" -lt 2500 ]
else
    fail "etcd wiped: key back" "no key 4 s later"
fi
check_eq "etcd wiped: one copy" "$(count)" 1
check "log says the lease was re-granted" grep -q "lease .* gone" "$MESHREG_LOG"

# --- hung etcd: nothing waits on it
pid=$(cat "$ETCD_DIR/member0.pid")
kill -STOP "$pid"
on_cleanup "kill -CONT $pid 2>/dev/null"
demo_ctl "$APP_PORT" unhealthy # a delete that cannot complete
# A request to etcd waits at least 300 ms for its deadline: an endpoint that
# waited on one would show it. curl's own clock leaves its start-up out.
slow=0 worst=0
for i in $(seq 1 30); do
    ms=$(curl -s -o /dev/null -w '%{time_total}' --max-time 1 "$ADMIN_URL/health" |
        awk '{ printf "%d", $1 * 1000 }')
    [ "${ms:-1000}" -gt 250 ] && slow=$((slow + 1))
    [ "${ms:-1000}" -gt "$worst" ] && worst=${ms:-1000}
    sleep 0.1
done
check_eq "hung etcd: /health always answered within 250 ms (worst ${worst} ms)" "$slow" 0
check "hung etcd: /status disconnected (request deadline)" wait_for 8 status_has disconnected
check_eq "hung etcd: /health 503 (app unhealthy)" "$(http_code "$ADMIN_URL/health")" 503
kill -CONT "$pid"
check "etcd resumed: key deleted" wait_for 6 no_key
demo_ctl "$APP_PORT" healthy
check "healthy again: key back" wait_for 6 has_key
check_eq "one copy" "$(count)" 1
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 4
check_eq "exit status 0" "$EXIT_CODE" 0
check "SIGTERM: key gone" no_key
finish
