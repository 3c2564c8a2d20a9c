#!/usr/bin/env bash
# meshreg-test: static-pass-only
# README "Deploying" (static binary): build/meshreg-static is fully static
# (no interpreter, no shared object mapped) and its OpenSSL is linked in
# (proto/tls.c built with MESHREG_TLS_STATIC): an https probe against a real
# TLS app (Python's ssl, throwaway certificate) works without libssl.so.3
# anywhere in the process.
. "$(dirname "$0")/lib.sh"

SPY=/usr/bin/python3
[ -x "$BIN" ] || skip_all "$BIN not built (make static)"
command -v openssl >/dev/null || skip_all "no openssl CLI (package openssl)"

check "no program interpreter" bash -c "! readelf -l '$BIN' | grep -q INTERP"
check "no NEEDED shared library" bash -c "! readelf -d '$BIN' 2>/dev/null | grep -q NEEDED"
check "--version runs" grep -q '^meshreg ' <<<"$("$BIN" --version)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1 ||
    { fail "make a test certificate" "openssl req failed"; finish; }
start_bg tlsapp "$SPY" "$ROOT/tests/fixtures/tls/https_server.py" "$T/cert.pem" "$T/key.pem" 0
wait_for 10 grep -q '^PORT ' "$BG_OUT" || { fail "TLS app starts" "no port"; show_log "$BG_ERR"; finish; }
APP_PORT=$(awk '/^PORT /{print $2}' "$BG_OUT")
printf 'main:\n  proxy_port: 20001\n  healthcheck_mode: https\n  healthcheck_uri: /ok\n  healthcheck_timeout_s: 1\n' \
    >"$T/smartstack.yaml"
start_meshreg run --smartstack "$T/smartstack.yaml" --service "$SVC" --instance main \
    --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0
wait_meshreg
check "https probe passes: /health 200" wait_http "$ADMIN_URL/health" 200 8
check "https probe passes: registered" wait_for 8 has_record
check "status says HTTP 200 over TLS" grep -q 'HTTP 200' <<<"$(http_get "$ADMIN_URL/status")"
check_eq "no shared object mapped (no libssl, no libc.so)" \
    "$(grep -c '\.so' "/proc/$MESHREG_PID/maps")" 0
stop_pid "$MESHREG_PID"
check_eq "meshreg exits 0" "$EXIT_CODE" 0
finish
