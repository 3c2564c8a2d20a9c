#!/usr/bin/env bash
# README "Admin / health endpoint" `--agent-port` with a real HAProxy: `agent-check` (with an `agent-send`
# string, so the agent must close cleanly with unread input) beside a plain
# TCP check of the app. Healthy: UP; `meshreg drain`: DRAIN (agent);
# undrain: UP again (the "ready" word cancels the agent's DRAIN); the app
# unhealthy: DOWN (agent); SIGTERM: DRAIN at once (README "Drain sequence" step 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lb_lib.sh"
need_haproxy

# within 500 ms of the command: 100 ms agent interval + one check + the CLI and
# HAProxy itself on a saturated machine (five check intervals)
REACT_MS=${LB_REACT_MS:-500}
AGENT_PORT=$(free_port)
DRAIN_S=3 start_sidecar --agent-port "$AGENT_PORT"
FE_PORT=$(free_port)

line=$(timeout 2 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
d = b""
while True:
    b = s.recv(100)
    if not b:
        break
    d += b
sys.stdout.write(d.decode())' "$AGENT_PORT")
check_eq "agent port answers one line, then closes" "$line" "up ready 100%"
check "meshreg logs the agent listener" grep -q "agent-check on 127.0.0.1:$AGENT_PORT" "$MESHREG_LOG"

start_haproxy "
backend app
    server app 127.0.0.1:$APP_PORT check inter 100 fall 1 rise 1 agent-check agent-port $AGENT_PORT agent-inter 100ms agent-send \"app/app\\n\"
frontend fe
    bind 127.0.0.1:$FE_PORT
    default_backend app
"
out=$(hap_wait app app 'UP' 5)
check "HAProxy: server UP ($out)" [ $? = 0 ]
check "HAProxy: the agent answered (L7OK)" wait_for 8 hap_field_is app app agent_status L7OK
check_eq "traffic through HAProxy reaches the app" "$(fe_code "http://127.0.0.1:$FE_PORT/")" 200
hap_watch_start app app

# --- drain: DRAIN (agent)
t0=$(now_ms)
meshreg_cli drain --admin "$ADMIN" --reason lb-agent >"$T/cli.out" 2>&1
check_eq "meshreg drain exits 0" "$?" 0
check_hap_within "drain: HAProxy shows DRAIN" 'DRAIN.*' "$REACT_MS" "$t0"
check_eq "drain: weight unchanged, state is the agent's DRAIN" "$(hap_field app app status)" "DRAIN (agent)"

# --- undrain: UP (not stuck in DRAIN)
t0=$(now_ms)
meshreg_cli undrain --admin "$ADMIN" >"$T/cli.out" 2>&1
check_eq "meshreg undrain exits 0" "$?" 0
check_hap_within "undrain: HAProxy shows UP again" 'UP' "$REACT_MS" "$t0"
check_eq "undrain: traffic flows" "$(fe_code "http://127.0.0.1:$FE_PORT/")" 200

# --- the app fails its probe (the TCP check still passes): the agent says down
demo_ctl "$APP_PORT" unhealthy
out=$(hap_wait app app 'DOWN.*' 3)
check "app unhealthy: HAProxy shows DOWN from the agent ($out)" [ $? = 0 ]
check_eq "app unhealthy: no traffic through HAProxy" "$(fe_code "http://127.0.0.1:$FE_PORT/")" 503
demo_ctl "$APP_PORT" healthy
out=$(hap_wait app app 'UP' 3)
check "app healthy again: UP ($out)" [ $? = 0 ]

# --- SIGTERM: DRAIN at once, meshreg keeps answering through its window
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check_hap_within "SIGTERM: HAProxy shows DRAIN" 'DRAIN.*' "$REACT_MS" "$t0"
check "SIGTERM: meshreg still in its window" alive "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 5; then
    check_eq "meshreg exits 0 after the window" "$EXIT_CODE" 0
else
    fail "meshreg exits after the window" "still running"
fi
# Only after HAProxy's agent check has failed to reach the gone agent is
# "keeps the server out" a statement about an unreachable agent.
agent_unreachable() { case $(hap_field app app agent_status) in L4* | SOCKERR) return 0 ;; esac; return 1; }
check "after exit: HAProxy's agent check finds nobody" \
    wait_for 5 agent_unreachable
check_eq "after exit: HAProxy keeps the server out (agent unreachable is not 'up')" \
    "$(hap_status app app)" "DRAIN (agent)"
stop_haproxy
stop_pid "$DEMO_PID"
finish
