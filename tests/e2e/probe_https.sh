#!/usr/bin/env bash
# README "Probes" https probe through the real binary: a real TLS app (Python's ssl,
# throwaway self-signed certificate) is probed and registered when it answers
# 2xx, not when it answers 503; OpenSSL is not linked into meshreg and is
# mapped only in a process that has an https probe.
. "$(dirname "$0")/lib.sh"

SPY=/usr/bin/python3
command -v openssl >/dev/null || skip_all "no openssl CLI (package openssl)"
[ -x "$SPY" ] || skip_all "no /usr/bin/python3"

check_eq "meshreg does not link libssl" "$(ldd "$BIN" | grep -c ssl)" 0

# An http-only sidecar never maps libssl.
DRAIN_S=0 start_sidecar
check "http probe: /health 200" wait_http "$ADMIN_URL/health" 200 8
sleep 0.5
check_eq "http probe only: no libssl mapped" "$(grep -c 'libssl' "/proc/$MESHREG_PID/maps")" 0
stop_pid "$MESHREG_PID"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1 ||
    { fail "make a test certificate" "openssl req failed"; finish; }
start_bg tlsapp "$SPY" "$ROOT/tests/fixtures/tls/https_server.py" "$T/cert.pem" "$T/key.pem" 0
wait_for 10 grep -q '^PORT ' "$BG_OUT" || { fail "TLS app starts" "no port"; show_log "$BG_ERR"; finish; }
tls_port=$(awk '/^PORT /{print $2}' "$BG_OUT")

cat >"$T/smartstack.yaml" <<YAML
main:
  proxy_port: 20001
  healthcheck_mode: https
  healthcheck_uri: /ok
  healthcheck_timeout_s: 1
down:
  proxy_port: 20002
  healthcheck_mode: https
  healthcheck_uri: /down
  healthcheck_timeout_s: 1
YAML
APP_PORT=$tls_port
start_meshreg run --smartstack "$T/smartstack.yaml" --service "$SVC" --instance main \
    --registration "$SVC.main" --registration "$SVC.down" --port "$tls_port" \
    --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0
wait_meshreg
check "https 200: /health/$SVC.main 200" wait_http "$ADMIN_URL/health/$SVC.main" 200 8
check "https 200: registered" wait_for 8 has_record "$SVC.main" "$tls_port"
check "https 503: /health/$SVC.down 503" wait_http "$ADMIN_URL/health/$SVC.down" 503 8
check "https 503: not registered" no_record "$SVC.down" "$tls_port"
status_has() {
    curl -s --max-time 2 "$ADMIN_URL/status" | grep -qF "$1"
}
check "https 503: status says HTTP 503" wait_for 8 status_has 'HTTP 503'

check "https probe: libssl mapped" grep -q 'libssl.so.3' "/proc/$MESHREG_PID/maps"
stop_pid "$MESHREG_PID"
check_eq "https probes: meshreg exits 0 (clean under ASan too)" "$EXIT_CODE" 0
finish
