#!/usr/bin/env bash
# README "Probes" grpc probe through the real binary, against a real gRPC server
# (python3-grpcio): grpc.health.v1.Health/Check over h2c; only SERVING is
# up. healthcheck_uri names the service ("/svc.down" -> "svc.down"); no uri
# asks about the whole server.
. "$(dirname "$0")/lib.sh"

SPY=/usr/bin/python3
"$SPY" -c 'import grpc' 2>/dev/null || skip_all "no grpc for $SPY (python3-grpcio)"

start_bg grpcapp "$SPY" "$ROOT/tests/fixtures/grpc/health_server.py" 0
GRPC_PID=$BG_PID
wait_for 15 grep -q '^PORT ' "$BG_OUT" || { fail "gRPC app starts" "no port"; show_log "$BG_ERR"; finish; }
gport=$(awk '/^PORT /{print $2}' "$BG_OUT")

cat >"$T/smartstack.yaml" <<YAML
main:
  proxy_port: 20001
  healthcheck_mode: grpc
  healthcheck_timeout_s: 1
down:
  proxy_port: 20002
  healthcheck_mode: grpc
  healthcheck_uri: /svc.down
  healthcheck_timeout_s: 1
nosuch:
  proxy_port: 20003
  healthcheck_mode: grpc
  healthcheck_uri: /svc.nosuch
  healthcheck_timeout_s: 1
YAML
APP_PORT=$gport
start_meshreg run --smartstack "$T/smartstack.yaml" --service "$SVC" --instance main \
    --registration "$SVC.main" --registration "$SVC.down" --registration "$SVC.nosuch" \
    --port "$gport" --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0
wait_meshreg
check "grpc SERVING: /health/$SVC.main 200" wait_http "$ADMIN_URL/health/$SVC.main" 200 8
check "grpc SERVING: registered" wait_for 8 has_record "$SVC.main" "$gport"
check "grpc NOT_SERVING: /health/$SVC.down 503" wait_http "$ADMIN_URL/health/$SVC.down" 503 8
check "grpc unknown service: /health/$SVC.nosuch 503" \
    wait_http "$ADMIN_URL/health/$SVC.nosuch" 503 8
status_has() {
    curl -s --max-time 2 "$ADMIN_URL/status" | grep -qF "$1"
}
check "status says grpc NOT_SERVING" wait_for 8 status_has 'grpc NOT_SERVING'
check "status says grpc-status 5" \
    wait_for 8 status_has 'grpc-status 5 (NOT_FOUND): unknown service'
check "NOT_SERVING: not registered" no_record "$SVC.down" "$gport"

# The app going away fails the probe and deregisters.
stop_pid "$GRPC_PID"
check "app gone: /health/$SVC.main 503" wait_http "$ADMIN_URL/health/$SVC.main" 503 4
check "app gone: deregistered" wait_for 8 no_record "$SVC.main" "$gport"
stop_pid "$MESHREG_PID"
check_eq "grpc probes: meshreg exits 0 (clean under ASan too)" "$EXIT_CODE" 0
finish
