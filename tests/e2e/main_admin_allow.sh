#!/usr/bin/env bash
# README "Admin / health endpoint" access control from a real non-loopback peer: a client in a network
# namespace of our own (veth pair, 10.213.x.0/30) may read /health but gets
# 403 on POST /drain and nothing changes, until --admin-allow covers it.
. "$(dirname "$0")/lib.sh"

NS=meshreg-e2e-$$
need_netns "$NS"
NET=$NETNS_NET

# in_ns CURL ARGS...: curl from inside the namespace; prints the status code.
in_ns() {
    ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@"
}

# Admin on every address so the namespace can reach it.
start_sidecar --admin "0.0.0.0:$(free_port)"
port=${ADMIN##*:}
check "registered" has_record
check_eq "remote peer may read /health" "$(in_ns "http://$NET.1:$port/health")" 200
check_eq "remote peer may read /status" "$(in_ns "http://$NET.1:$port/status")" 200
check_eq "remote POST /drain is refused" "$(in_ns -X POST "http://$NET.1:$port/drain")" 403
check_eq "remote POST /undrain is refused" "$(in_ns -X POST "http://$NET.1:$port/undrain")" 403
# The refusal is logged once the request has been handled; only then is
# "nothing changed" a statement about a request that was processed.
check "the refusal is logged" wait_for 5 grep -q "admin: refused POST /drain from $NET.2" "$MESHREG_LOG"
check_eq "nothing changed: /status not drained" \
    "$(http_get "http://127.0.0.1:$port/status" | json_get - 'j["drain"]["draining"]')" false
check "nothing changed: still registered" has_record
check_eq "nothing changed: /health still 200" "$(http_code "http://127.0.0.1:$port/health")" 200
check_eq "loopback POST /drain is accepted" "$(http_code "http://127.0.0.1:$port/drain" -X POST)" 200
check "loopback drain deregistered" wait_for 5 no_record
stop_pid "$MESHREG_PID"

APP_PORT=
start_sidecar --admin "0.0.0.0:$(free_port)" --admin-allow "$NET.0/30"
port=${ADMIN##*:}
check "registered (allow list)" has_record
check_eq "allowed remote POST /drain is accepted" "$(in_ns -X POST "http://$NET.1:$port/drain")" 200
check "allowed remote drain deregistered" wait_for 5 no_record
check_eq "allowed remote POST /undrain is accepted" "$(in_ns -X POST "http://$NET.1:$port/undrain")" 200
check "re-registered" wait_for 5 has_record
stop_pid "$MESHREG_PID"
finish
