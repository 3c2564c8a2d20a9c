#!/usr/bin/env bash
# The demo app itself (the other e2e tests rely on its control routes).
. "$(dirname "$0")/lib.sh"

p=$(free_port)
start_demo "$p"
u=http://127.0.0.1:$p

check_eq "status 200 when healthy" "$(http_code "$u/status")" 200
check_eq "status body ok" "$(http_get "$u/status")" ok
check_eq "traffic path 200" "$(http_code "$u/anything")" 200

demo_ctl "$p" unhealthy
check_eq "status 503 when unhealthy" "$(http_code "$u/status")" 503
demo_ctl "$p" healthy
check_eq "status 200 again" "$(http_code "$u/status")" 200

kill -USR1 "$DEMO_PID"
check "SIGUSR1 makes it unhealthy" wait_http "$u/status" 503 8
kill -USR1 "$DEMO_PID"
check "SIGUSR1 again makes it healthy" wait_http "$u/status" 200 8

demo_ctl "$p" hang
t0=$(now_ms)
code=$(http_code "$u/status" --max-time 0.5)
t1=$(now_ms)
check_eq "hang: no answer" "$code" 000
check "hang: client waited its timeout" [ $((t1 - t0)) -ge 450 ]
# A request parked while hung is answered once healthy again.
curl -s -o "$T/parked" --max-time 5 "$u/status" &
cpid=$!
sleep 0.2
demo_ctl "$p" healthy
wait "$cpid"
check_eq "hang: parked request answered after healthy" "$(cat "$T/parked")" ok

demo_ctl "$p" garbage
out=$(curl -s --max-time 1 "$u/status" 2>&1; echo "rc=$?")
check "garbage: curl sees no valid HTTP" [ "${out##*rc=}" != 0 ]
demo_ctl "$p" close
check_eq "close: no answer" "$(http_code "$u/status")" 000
demo_ctl "$p" healthy

curl -s --max-time 1 -X POST "$u/control/slow?ms=300" >/dev/null
t0=$(now_ms)
code=$(http_code "$u/status")
t1=$(now_ms)
check_eq "slow: still 200" "$code" 200
check "slow: took >= 300 ms" [ $((t1 - t0)) -ge 290 ]
demo_ctl "$p" healthy

# Keep-alive: several requests on one connection.
n=$(curl -s --max-time 2 "$u/status" "$u/status" "$u/status")
check_eq "keep-alive: three answers" "$n" okokok
# HTTP/1.0 without Host, what haproxy's httpchk sends.
r=$(printf 'GET /status HTTP/1.0\r\n\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; cat >&3; cat <&3")
check "HTTP/1.0 without Host answered" grep -q '^HTTP/1.1 200' <<<"$r"

s=$(http_get "$u/control/stats")
check "stats is JSON with counters" json_true - 'j["requests"] > 10 and j["status_ok"] > 3' <<<"$s"
check_eq "stats mode" "$(json_get - 'j["mode"]' <<<"$s")" ok

kill -TERM "$DEMO_PID"
wait_exit "$DEMO_PID" 3
check_eq "SIGTERM: exit 0" "$EXIT_CODE" 0
finish
