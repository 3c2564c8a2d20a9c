#!/usr/bin/env bash
# §6 access control from a real non-loopback peer: a client in a network
# namespace of our own (veth pair, 10.213.x.0/30) may read /health but gets
# 403 on POST /drain and nothing changes, until --admin-allow covers it.
. "$(dirname "$0")/lib.sh"

command -v ip >/dev/null || skip_all "iproute2 not installed"
NS=meshreg-e2e-$$
H=mrh$$ N=mrn$$
NET=10.213.$(( $$ % 200 + 20 ))
if ! ip netns add "$NS" 2>/dev/null; then
    skip_all "cannot create a network namespace here (not root?)"
fi
on_cleanup "ip netns del $NS 2>/dev/null; ip link del $H 2>/dev/null"
ip link add "$H" type veth peer name "$N" &&
    ip link set "$N" netns "$NS" &&
    ip addr add "$NET.1/30" dev "$H" && ip link set "$H" up &&
    ip -n "$NS" addr add "$NET.2/30" dev "$N" && ip -n "$NS" link set "$N" up &&
    ip -n "$NS" link set lo up || { fail "veth pair into $NS" "ip failed"; finish; }

# in_ns CURL ARGS...: curl from inside the namespace; prints the status code.
in_ns() {
    ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@"
}

# Admin on every address so the namespace can reach it.
start_sidecar --admin "0.0.0.0:$(free_port)"
port=${ADMIN##*:}
check "registered" wait_for 3 has_record
check_eq "remote peer may read /health" "$(in_ns "http://$NET.1:$port/health")" 200
check_eq "remote peer may read /status" "$(in_ns "http://$NET.1:$port/status")" 200
check_eq "remote POST /drain is refused" "$(in_ns -X POST "http://$NET.1:$port/drain")" 403
check_eq "remote POST /undrain is refused" "$(in_ns -X POST "http://$NET.1:$port/undrain")" 403
sleep 0.3
check "nothing changed: still registered" has_record
check_eq "nothing changed: /health still 200" "$(http_code "http://127.0.0.1:$port/health")" 200
grep -q "admin: refused POST /drain from $NET.2" "$MESHREG_LOG" && ok "the refusal is logged" ||
    fail "the refusal is logged" "$(tail -3 "$MESHREG_LOG")"
check_eq "loopback POST /drain is accepted" "$(http_code "http://127.0.0.1:$port/drain" -X POST)" 200
check "loopback drain deregistered" wait_for 2 no_record
stop_pid "$MESHREG_PID"

APP_PORT=
start_sidecar --admin "0.0.0.0:$(free_port)" --admin-allow "$NET.0/30"
port=${ADMIN##*:}
check "registered (allow list)" wait_for 3 has_record
check_eq "allowed remote POST /drain is accepted" "$(in_ns -X POST "http://$NET.1:$port/drain")" 200
check "allowed remote drain deregistered" wait_for 2 no_record
check_eq "allowed remote POST /undrain is accepted" "$(in_ns -X POST "http://$NET.1:$port/undrain")" 200
check "re-registered" wait_for 2 has_record
stop_pid "$MESHREG_PID"
finish
