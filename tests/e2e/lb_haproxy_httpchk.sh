#!/usr/bin/env bash
# README "Running it", "Admin / health endpoint", "Drain sequence" with a real HAProxy: `option httpchk GET /health` pointed at
# meshreg's admin port (HTTP/1.0 without Host, as HAProxy sends it). The
# server is UP while healthy, goes DOWN within ~500 ms (five 100 ms check intervals) of `meshreg drain`,
# UP again after undrain, DOWN again within ~500 ms (five 100 ms check intervals) of SIGTERM, and the
# frontend stops sending traffic to it while it is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lb_lib.sh"
need_haproxy

# How fast HAProxy must follow, counted from the command (100 ms check
# interval + one check + the command itself + slack for a loaded box).
REACT_MS=${LB_REACT_MS:-500}

DRAIN_S=3 start_sidecar
ADMIN_PORT=${ADMIN##*:}
FE_PORT=$(free_port)

# HAProxy's own request, byte for byte: HTTP/1.0, no Host header.
raw=$(printf 'GET /health HTTP/1.0\r\n\r\n' |
    timeout 2 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
d = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    d += b
print(d.split(b"\r\n")[0].decode())' "$ADMIN_PORT")
check_eq "HTTP/1.0 without Host is answered" "$raw" "HTTP/1.1 200 OK"

start_haproxy "
backend app
    option httpchk GET /health
    server app 127.0.0.1:$APP_PORT check port $ADMIN_PORT inter 100 fall 1 rise 1
frontend fe
    bind 127.0.0.1:$FE_PORT
    default_backend app
"
out=$(hap_wait app app 'UP' 5)
check "HAProxy: server UP from meshreg's /health ($out)" [ $? = 0 ]
check "HAProxy: its HTTP check got a 200" wait_for 8 hap_field_is app app check_code 200
check_eq "traffic through HAProxy reaches the app" "$(fe_code "http://127.0.0.1:$FE_PORT/")" 200
hap_watch_start app app

# --- meshreg drain: DOWN within ~500 ms (five 100 ms check intervals)
t0=$(now_ms)
meshreg_cli drain --admin "$ADMIN" --reason lb-e2e >"$T/cli.out" 2>&1
check_eq "meshreg drain exits 0" "$?" 0
check_hap_within "drain: HAProxy marks the server DOWN" 'DOWN|MAINT.*' "$REACT_MS" "$t0"
check "drain: HAProxy's check got a 503" wait_for 8 hap_field_is app app check_code 503
check_eq "drain: no traffic to the app through HAProxy (503 from HAProxy)" \
    "$(fe_code "http://127.0.0.1:$FE_PORT/")" 503

# --- undrain: UP again
t0=$(now_ms)
meshreg_cli undrain --admin "$ADMIN" >"$T/cli.out" 2>&1
check_eq "meshreg undrain exits 0" "$?" 0
check_hap_within "undrain: HAProxy marks the server UP" 'UP' "$REACT_MS" "$t0"
check_eq "undrain: traffic flows again" "$(fe_code "http://127.0.0.1:$FE_PORT/")" 200

# --- the app turns unhealthy: meshreg (not HAProxy) notices, HAProxy follows
demo_ctl "$APP_PORT" unhealthy
out=$(hap_wait app app 'DOWN' 3)
check "app unhealthy: HAProxy marks the server DOWN ($out)" [ $? = 0 ]
demo_ctl "$APP_PORT" healthy
out=$(hap_wait app app 'UP' 3)
check "app healthy again: UP ($out)" [ $? = 0 ]

# --- SIGTERM: DOWN at once (well before the record's window ends)
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check_hap_within "SIGTERM: HAProxy marks the server DOWN" 'DOWN|MAINT.*' "$REACT_MS" "$t0"
check "SIGTERM: meshreg still serving its drain window" alive "$MESHREG_PID"
check_eq "SIGTERM: no traffic to the app through HAProxy" \
    "$(fe_code "http://127.0.0.1:$FE_PORT/")" 503
if wait_exit "$MESHREG_PID" 5; then
    check_eq "meshreg exits 0 after the window" "$EXIT_CODE" 0
else
    fail "meshreg exits after the window" "still running"
fi
check "app untouched" alive "$DEMO_PID"
stop_haproxy
stop_pid "$DEMO_PID"
finish
