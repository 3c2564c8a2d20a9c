#!/usr/bin/env bash
# README "hacheck compatibility": every hacheck route and status code, against a table taken from
# Yelp/hacheck's handlers (main.py's URL patterns, BaseServiceHandler.get, check_spool,
# check_http/check_tcp, SpoolServiceHandler.post, ListRecentHandler, ServiceCountHandler):
# answers from probe state for what meshreg probes, live checks of an unprobed port (with the
# result cache, Pragma: no-cache, X-Haproxy-Server-State's port, X-Nerve-Check-IP),
# --hacheck-live off, and the routes meshreg leaves out (/mysql/, /smtp/).
. "$(dirname "$0")/lib.sh"

start_sidecar
S=$SVC.main
P2=$(free_port)
start_demo "$P2" # another app on this host, which meshreg does not probe
demo2=$DEMO_PID
CLOSED=$(free_port)

# code URL [CURL ARGS...]: status code; body URL [ARGS...]: the body.
code() { http_code "$@"; }
body() { curl -s --max-time 8 "$@"; }
row() { # row NAME WANT_CODE URL [CURL ARGS...]
    local name=$1 want=$2
    shift 2
    check_eq "$name -> $want" "$(code "$@")" "$want"
}

# --- routes and patterns (main.py): service [.a-zA-Z0-9_-]+, port [0-9]+
row "GET /http/<svc>/<port>/<path> (probed)" 200 "$ADMIN_URL/http/$S/$APP_PORT/status"
check_eq "... answered from probe state" "$(body "$ADMIN_URL/http/$S/$APP_PORT/status")" "OK"
row "GET /spool/<svc>/<port>/<path>" 200 "$ADMIN_URL/spool/$S/$APP_PORT/status"
check_eq "... with hacheck's empty body" "$(body "$ADMIN_URL/spool/$S/$APP_PORT/status")" ""
row "GET /spool/<svc>/<port> (path optional)" 200 "$ADMIN_URL/spool/$S/$APP_PORT"
row "GET /tcp/<svc>/<port> (path optional; live connect)" 200 "$ADMIN_URL/tcp/$S/$APP_PORT"
check "... hacheck's tcp text" grep -qE '^Connected in [0-9]+\.[0-9]{2}s$' \
    <<<"$(body "$ADMIN_URL/tcp/$S/$APP_PORT")"
row "GET /http/<svc>/<port> without the slash: no route" 404 "$ADMIN_URL/http/$S/$APP_PORT"
row "GET /http/<svc>/<not a port>/x" 404 "$ADMIN_URL/http/$S/abc/status"
row "GET /http/<bad svc>/<port>/x" 404 "$ADMIN_URL/http/a%20b/$APP_PORT/status"
row "GET /mysql/ (out of scope)" 404 "$ADMIN_URL/mysql/$S/3306/"
row "GET /smtp/ (out of scope)" 404 "$ADMIN_URL/smtp/$S/25/"

# --- live checks of what meshreg does not probe (check_http, check_tcp)
row "live /http/ of another app's path" 200 "$ADMIN_URL/http/other/$P2/traffic"
check_eq "... its body passed through" "$(body "$ADMIN_URL/http/other/$P2/traffic")" "hello"
row "live /https/ of a closed port" 503 "$ADMIN_URL/https/other/$CLOSED/x"
row "live /http/ of a closed port" 503 "$ADMIN_URL/http/other/$CLOSED/x"
row "live /tcp/ of a closed port" 503 "$ADMIN_URL/tcp/other/$CLOSED"
check "... hacheck's tcp error text" grep -q "^Unexpected error" \
    <<<"$(body "$ADMIN_URL/tcp/other/$CLOSED")"
row "live /http/ of the app's status path" 200 "$ADMIN_URL/http/other/$P2/status"
demo_ctl "$P2" unhealthy
row "the result is cached (hacheck's 10 s cache)" 200 "$ADMIN_URL/http/other/$P2/status"
row "Pragma: no-cache checks again: the app's 503" 503 "$ADMIN_URL/http/other/$P2/status" \
    -H "Pragma: no-cache"
row "X-Haproxy-Server-State port= overrides the URL's port" 503 \
    "$ADMIN_URL/http/other/$CLOSED/status" -H "X-Haproxy-Server-State: UP 2/3; port=$P2; name=b/s" \
    -H "Pragma: no-cache"
row "X-Nerve-Check-IP of this host is used" 503 "$ADMIN_URL/http/other/$P2/status" \
    -H "X-Nerve-Check-IP: 127.0.0.1" -H "Pragma: no-cache"
row "X-Nerve-Check-IP of another host is refused" 400 "$ADMIN_URL/http/other/$P2/status" \
    -H "X-Nerve-Check-IP: 192.0.2.1"
demo_ctl "$P2" healthy

# --- a failing probe: 503, and not the spool's text
demo_ctl "$APP_PORT" unhealthy
check "probe failing -> /http/ 503" wait_http "$ADMIN_URL/http/$S/$APP_PORT/status" 503 5
check "... saying the health check fails" grep -q "^Service $S failing its health check" \
    <<<"$(body "$ADMIN_URL/http/$S/$APP_PORT/status")"
row "... /spool/ only looks at the spool: 200" 200 "$ADMIN_URL/spool/$S/$APP_PORT/status"
demo_ctl "$APP_PORT" healthy
check "probe passing again -> 200" wait_http "$ADMIN_URL/http/$S/$APP_PORT/status" 200 5

# --- POST /spool/ (SpoolServiceHandler.post): loopback here, so allowed
post() { curl -s -o "$T/post.body" -w '%{http_code}' --max-time 5 -X POST "$@"; }
check_eq "POST without status -> 400" "$(post "$ADMIN_URL/spool/$S/0/status")" 400
check_eq "POST status=sideways -> 400" "$(post "$ADMIN_URL/spool/$S/0/status" -d status=sideways)" 400
check_eq "... 'status must be up or down'" "$(cat "$T/post.body")" "status must be up or down"
check_eq "POST status=down without reason -> 400" "$(post "$ADMIN_URL/spool/$S/0/status" -d status=down)" 400
until=$(($(date +%s) + 600))
check_eq "POST status=down&reason=..&expiration=.. -> 200" \
    "$(post "$ADMIN_URL/spool/$S/0/status" -d status=down -d reason=maint -d expiration=$until)" 200
check "drained: record gone" wait_for 5 no_record
row "drained: /spool/ 503" 503 "$ADMIN_URL/spool/$S/$APP_PORT/status"
row "drained: /http/ 503" 503 "$ADMIN_URL/http/$S/$APP_PORT/status"
row "drained: /tcp/ 503" 503 "$ADMIN_URL/tcp/$S/$APP_PORT"
check "check_spool's text: since, until, reason" \
    grep -qE "^Service $S in down state since [0-9]+\.[0-9]{6} until $until\.0{6}: maint$" \
    <<<"$(body "$ADMIN_URL/spool/$S/$APP_PORT/status")"
row "another service is not drained" 200 "$ADMIN_URL/spool/other/$P2/"
check_eq "POST status=up -> 200" "$(post "$ADMIN_URL/spool/$S/0/status" -d status=up)" 200
check "undrained: record back" wait_for 5 has_record
row "undrained: /spool/ 200" 200 "$ADMIN_URL/spool/$S/$APP_PORT/status"
# the `all` spool covers every service, known or not
check_eq "POST /spool/all/0/ status=down -> 200" \
    "$(post "$ADMIN_URL/spool/all/0/status" -d status=down -d reason=everything)" 200
row "all down: an unknown service too" 503 "$ADMIN_URL/spool/other/$P2/"
check_eq "POST /spool/all/0/ status=up -> 200" "$(post "$ADMIN_URL/spool/all/0/status" -d status=up)" 200
row "all up again" 200 "$ADMIN_URL/spool/other/$P2/"
check_eq "POST for a port the registration does not use -> 400" \
    "$(post "$ADMIN_URL/spool/$S/$CLOSED/status" -d status=up)" 400
check_eq "POST /http/ -> 405" "$(post "$ADMIN_URL/http/$S/$APP_PORT/status")" 405

# --- /recent and /status/count
r=$(body "$ADMIN_URL/recent")
check "/recent lists what was asked for, with the last answer" json_true - \
    "j['threshold_seconds'] == 600 and any(s == '$S' and last['code'] in (200, 503) and last['remote_ip'] == '127.0.0.1' for s, last in j['seen_services'])" <<<"$r"
check "/recent is sorted" json_true - \
    "[s for s, _ in j['seen_services']] == sorted(s for s, _ in j['seen_services'])" <<<"$r"
check "/recent?threshold=0 lists nothing older" json_true - "j['threshold_seconds'] == 0" \
    <<<"$(sleep 1; body "$ADMIN_URL/recent?threshold=0")"
check "/status/count counts per client" json_true - \
    "j['service_access_counts']['$S']['127.0.0.1'] >= 10" <<<"$(body "$ADMIN_URL/status/count")"
check "meshreg's own /status is still meshreg's" json_true - "'checks' in j" \
    <<<"$(body "$ADMIN_URL/status")"

kill -TERM "$MESHREG_PID"
row "shutting down: /http/ 503" 503 "$ADMIN_URL/http/$S/$APP_PORT/status"
wait_exit "$MESHREG_PID" 5

# --- --hacheck-live off: unprobed routes are not checked
APP_PORT=$(free_port)
start_sidecar --hacheck-live off
row "--hacheck-live off: unprobed port 503" 503 "$ADMIN_URL/http/other/$P2/traffic"
check "... saying why" grep -q "live checks are off" <<<"$(body "$ADMIN_URL/http/other/$P2/traffic")"
row "--hacheck-live off: probed route still answered" 200 "$ADMIN_URL/http/$S/$APP_PORT/status"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
stop_pid "$demo2"
finish
