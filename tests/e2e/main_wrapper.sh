#!/usr/bin/env bash
# README "Running it" wrapper mode: `meshreg run ... -- APP`: registers the child once healthy;
# SIGTERM drains first and stops the app only after the window; exits with the
# app's status; an app that exits on its own is deregistered at once;
# SIGUSR1 and SIGUSR2 are forwarded, SIGHUP is not; an app that ignores SIGTERM
# is killed after the grace.
. "$(dirname "$0")/lib.sh"

# run_wrapped ARGS... -- APP...: meshreg in wrapper mode on the file: backend.
run_wrapped() {
    start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
        --instance main --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" \
        --backend "file:$REG_DIR" --admin "127.0.0.1:$(free_port)" --interval-ms 200 "$@"
    wait_meshreg
}

app_pid() { # the wrapped demo app: meshreg's child
    pgrep -P "$MESHREG_PID" -f demoapp | head -1
}

# app_lived NAME PID T0 MIN_MS: the app must outlive the drain window: waits
# for it to stop, then checks it stopped no earlier than T0 + MIN_MS (a
# statement that holds however slow the machine is, unlike "alive after a sleep").
app_lived() {
    local dt
    if wait_for 10 eval "! alive ${2:-0}"; then
        dt=$(($(now_ms) - $3))
        check_between "$1 (app stopped ${dt} ms after SIGTERM)" "$dt" "$4" 100000
    else
        fail "$1" "app still running 10 s later"
    fi
}

# --- SIGTERM: drain first, then SIGTERM the app, exit with its status
APP_PORT=$(free_port)
run_wrapped --drain-seconds 1 -- "$DEMO" --port "$APP_PORT" --quiet
check "wrapped app registered once healthy" wait_for 5 has_record
child=$(app_pid)
check "the app runs as meshreg's child" [ -n "$child" ]
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
check "SIGTERM: record gone" wait_for 8 no_record
app_lived "app still running during the drain window" "${child:-0}" "$t0" 1000
if wait_exit "$MESHREG_PID" 5; then
    dt=$(($(now_ms) - t0))
    check "exits only after the window (${dt} ms >= 1000)" [ "$dt" -ge 1000 ]
    check_eq "exit status is the app's (0 after SIGTERM)" "$EXIT_CODE" 0
else
    fail "exits after the window" "still running"
fi
check "app stopped after the window" bash -c "! kill -0 ${child:-0} 2>/dev/null"
check "log says the app got SIGTERM" grep -q "sending SIGTERM to the app" "$MESHREG_LOG"

# --- a SIGTERM to meshreg's whole process group (Ctrl-C, kill -- -PGID) still
# drains first: the app has its own group and hears only what meshreg forwards.
APP_PORT=$(free_port)
run_wrapped --drain-seconds 1 -- "$DEMO" --port "$APP_PORT" --quiet
check "registered (group signal case)" wait_for 5 has_record
child=$(app_pid)
t0=$(now_ms)
kill -TERM -- "-$MESHREG_PID"
check "group SIGTERM: record gone" wait_for 8 no_record
app_lived "group SIGTERM: app still running inside the window" "${child:-0}" "$t0" 1000
if wait_exit "$MESHREG_PID" 5; then
    check_eq "group SIGTERM: exit status 0 after the window" "$EXIT_CODE" 0
else
    fail "group SIGTERM: exits after the window" "still running"
fi

# --- SIGUSR1 is forwarded (the demo app toggles unhealthy on SIGUSR1)
APP_PORT=$(free_port)
run_wrapped --drain-seconds 0 -- "$DEMO" --port "$APP_PORT" --quiet
check "registered (usr1 case)" wait_for 5 has_record
kill -USR1 "$MESHREG_PID"
check "SIGUSR1 reached the app: it turned unhealthy, record removed" wait_for 3 no_record
check "meshreg still running after SIGUSR1" alive "$MESHREG_PID"
stop_pid "$MESHREG_PID"

# --- SIGUSR2 is forwarded, SIGHUP is not (meshreg reloads instead). The app
# is a shell that records every USR2 and HUP it gets, so it can tell.
APP_PORT=$(free_port)
cat >"$T/sigapp.sh" <<'EOF'
out=$1
trap 'echo USR2 >>"$out"' USR2
trap 'echo HUP >>"$out"' HUP
echo ready >>"$out"
while :; do sleep 0.1 & wait $!; done
EOF
sigs=$T/sigapp.out
run_wrapped --drain-seconds 0 --grace-seconds 2 -- bash "$T/sigapp.sh" "$sigs"
check "signal app started, its traps set" wait_for 5 grep -qx ready "$sigs"
child=$(pgrep -P "$MESHREG_PID" -x bash | head -1)
check "signal app runs as meshreg's child" [ -n "$child" ]
count_of() { grep -cx "$1" "$sigs" || true; }
kill -USR2 "$MESHREG_PID"
check "SIGUSR2 reached the app" wait_for 3 grep -qx USR2 "$sigs"
check "meshreg still running after SIGUSR2" alive "$MESHREG_PID"
kill -HUP "$MESHREG_PID"
check "SIGHUP: meshreg reloaded" wait_for 3 grep -q "reloaded: " "$MESHREG_LOG"
# A SIGHUP meshreg forwarded would have been sent before the reload log line,
# so before this second USR2: once the app has recorded that one, it has
# recorded any HUP too.
kill -USR2 "$MESHREG_PID"
check "second SIGUSR2 reached the app" wait_for_eval 3 '[ "$(count_of USR2)" -ge 2 ]'
check_eq "SIGHUP not forwarded: the app saw no HUP" "$(count_of HUP)" 0
check "the app is still running after SIGHUP" alive "${child:-0}"
# The app would have recorded a HUP: shown by sending it one directly.
kill -HUP "${child:-0}"
check "the app records a HUP it does get" wait_for 3 grep -qx HUP "$sigs"
stop_pid "$MESHREG_PID"

# --- the app exits on its own: deregister at once, exit with its status, no window
APP_PORT=$(free_port)
run_wrapped --drain-seconds 30 -- "$DEMO" --port "$APP_PORT" --quiet
check "registered (app-exit case)" wait_for 5 has_record
child=$(app_pid)
t0=$(now_ms)
kill -KILL "${child:-0}"
if wait_exit "$MESHREG_PID" 5; then
    dt=$(($(now_ms) - t0))
    check "exits without waiting out the 30 s window (${dt} ms)" [ "$dt" -lt 3000 ]
    check_eq "exit status 128+9 for a SIGKILLed app" "$EXIT_CODE" 137
else
    fail "exits when the app dies" "still running 5 s later"
fi
check "record removed when the app died" no_record
check "app gone: logged as such, not as a drain window" \
    grep -q "no drain window: the app exited on its own" "$MESHREG_LOG"
check "app gone: no 'drain window over'" bash -c '! grep -q "drain window over" "$1"' _ "$MESHREG_LOG"

# --- an app that ignores SIGTERM is SIGKILLed after --grace-seconds
APP_PORT=$(free_port)
# A tiny HTTP app that ignores SIGTERM (the demo app would honour it).
run_wrapped --drain-seconds 0 --grace-seconds 1 -- python3 -c '
import http.server as h, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class H(h.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
h.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$APP_PORT"
check "registered (stubborn app)" wait_for 5 has_record
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 6; then
    dt=$(($(now_ms) - t0))
    check "SIGKILL after the 1 s grace (${dt} ms in 1000..3000)" \
        test "$dt" -ge 1000 -a "$dt" -lt 3000
    check_eq "exit status 137 (app SIGKILLed)" "$EXIT_CODE" 137
else
    fail "stubborn app killed after grace" "meshreg still running"
fi

# --- an app that cannot be started
APP_PORT=$(free_port)
start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --port "$APP_PORT" \
    --backend "file:$REG_DIR" --admin "127.0.0.1:$(free_port)" --drain-seconds 0 \
    --log-format json -- /nonexistent/app
if wait_exit "$MESHREG_PID" 5; then
    check_eq "missing app: exit status 127 (as a shell: command not found)" "$EXIT_CODE" 127
else
    fail "missing app: meshreg exits" "still running"
fi
check "missing app: one error naming it" grep -q \
    '"level":"error".*cannot start the app: cannot run /nonexistent/app: No such file or directory' \
    "$MESHREG_LOG"
check "missing app: never said it started" bash -c '! grep -q "started app" "$1"' _ "$MESHREG_LOG"
check "missing app: every line on stdout and stderr is JSON" \
    "$PY" -c 'import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        json.loads(line)' "$MESHREG_LOG" "$MESHREG_ERR"

# --- `--` with nothing after it: a usage error, not a silent plain sidecar
out=$(timeout 5 "$BIN" run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --port "$APP_PORT" --admin "127.0.0.1:$(free_port)" --backend "file:$REG_DIR" -- 2>&1)
check_eq "'--' alone: exit 2" "$?" 2
check "'--' alone: says what is missing" grep -q -- "--: no app after it" <<<"$out"
finish
