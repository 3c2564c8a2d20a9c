#!/usr/bin/env bash
# README "Admin / health endpoint" "HTTP/1.1 and h2c on one port": curl --http2-prior-knowledge against the
# running binary: /health, /status, POST /drain and /undrain answer over
# HTTP/2 exactly as over HTTP/1.1, on the same port, at the same time.
. "$(dirname "$0")/lib.sh"

curl --version | grep -qi 'HTTP2' || skip_all "this curl has no HTTP/2 support"

DRAIN_S=2 start_sidecar
check "registered" wait_for 8 has_record

# h2 URL [CURL ARGS]: "CODE VERSION" of one request over h2c (one URL per
# curl run: curl 7.88 fails the second request of a reused prior-knowledge
# connection against any h2c server, HAProxy's included).
h2() {
    local url=$1
    shift
    curl -s --http2-prior-knowledge --max-time 2 -o "$T/h2.body" -w '%{http_code} %{http_version}' \
        "$@" "$url" 2>"$T/h2.err"
}

check_eq "GET /health over h2c" "$(h2 "$ADMIN_URL/health")" "200 2"
h1_body=$(http_get "$ADMIN_URL/health")
check_eq "/health: same body over h2c and HTTP/1.1" "$(cat "$T/h2.body")" "$h1_body"
check_eq "GET /health/<svc.ns> over h2c" "$(h2 "$ADMIN_URL/health/$SVC.main")" "200 2"
check_eq "GET /health/unknown over h2c" "$(h2 "$ADMIN_URL/health/nope.main")" "404 2"
check_eq "GET /status over h2c" "$(h2 "$ADMIN_URL/status")" "200 2"
check "/status over h2c is JSON with the registration" \
    json_true "$T/h2.body" "'$SVC.main' in json.dumps(j)"
check_eq "GET /metrics over h2c" "$(h2 "$ADMIN_URL/metrics")" "200 2"
check_eq "HEAD /health over h2c" "$(h2 "$ADMIN_URL/health" -I)" "200 2"
check_eq "hacheck route over h2c" "$(h2 "$ADMIN_URL/http/$SVC.main/$APP_PORT/status")" "200 2"
check_eq "GET /drain over h2c: 405" "$(h2 "$ADMIN_URL/drain")" "405 2"

# --- POST /drain and /undrain over h2c
check_eq "POST /drain over h2c" "$(h2 "$ADMIN_URL/drain?reason=h2c" -X POST)" "200 2"
check "drain over h2c: answer says draining" json_true "$T/h2.body" "j['draining'] is True"
check "drain over h2c: record removed" wait_for 5 no_record
check_eq "drain: /health 503 over h2c" "$(h2 "$ADMIN_URL/health")" "503 2"
check_eq "drain: /health 503 over HTTP/1.1 too" "$(http_code "$ADMIN_URL/health")" 503
check "drain: /status shows the reason" grep -q '"reason":"h2c"' <<<"$(http_get "$ADMIN_URL/status")"
check_eq "POST /undrain over h2c" "$(h2 "$ADMIN_URL/undrain" -X POST)" "200 2"
check "undrain over h2c: record back" wait_for 8 has_record
check_eq "undrain: /health 200 over h2c" "$(h2 "$ADMIN_URL/health")" "200 2"
check_eq "POST /drain with a form body (curl -d) over h2c" \
    "$(h2 "$ADMIN_URL/drain" -d 'reason=form+body&expires=1')" "200 2"
check "form drain: reason taken from the body" \
    grep -q '"reason":"form body"' <<<"$(http_get "$ADMIN_URL/status")"
check "form drain: expires by itself" wait_for 8 has_record

# --- limits as over HTTP/1.1
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
check_eq "body over 64 KiB over h2c: 413" \
    "$(h2 "$ADMIN_URL/drain" --data-binary "@$T/big")" "413 2"
check_eq "head over 16 KiB over h2c: 431" \
    "$(h2 "$ADMIN_URL/health" -H "X-Big: $(head -c 17000 "$T/big")")" "431 2"
check "413 changed nothing" has_record

# --- garbage after the preface: closed, and everyone else still served
printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nthis is not a frame at all, not even close\r\n' |
    timeout 3 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.settimeout(2)
n = 0
while True:
    b = s.recv(4096)
    if not b:
        break
    n += len(b)
print(n)' "${ADMIN##*:}" >"$T/garbage.out" 2>&1
check_eq "garbage after the preface: the connection is closed (EOF within 2 s)" "$?" 0
check_eq "after garbage: h2c still served" "$(h2 "$ADMIN_URL/health")" "200 2"
check_eq "after garbage: HTTP/1.1 still served" "$(http_code "$ADMIN_URL/health")" 200

# --- both protocols at once, many clients
pids=()
for i in $(seq 1 20); do
    if [ $((i % 2)) = 0 ]; then
        curl -s --http2-prior-knowledge --max-time 3 -o /dev/null -w '%{http_code}\n' \
            "$ADMIN_URL/health" >"$T/par.$i" 2>&1 &
    else
        curl -s --max-time 3 -o /dev/null -w '%{http_code}\n' "$ADMIN_URL/health" >"$T/par.$i" 2>&1 &
    fi
    pids+=($!)
done
wait "${pids[@]}"
check_eq "20 concurrent clients (h2c and HTTP/1.1): all 200" \
    "$(cat "$T"/par.* | sort | uniq -c | awk '{print $1" "$2}')" "20 200"
check "meshreg still alive" alive "$MESHREG_PID"
stop_pid "$MESHREG_PID"
stop_pid "$DEMO_PID"
finish
