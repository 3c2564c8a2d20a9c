#!/usr/bin/env bash
# README "Running it", "Probes", "Backends", "Admin / health endpoint": a healthy app is registered on the file: backend with the
# exact record; unhealthy -> deregistered within fall x interval; healthy ->
# back. /health, /health/<reg>, /status, `meshreg status`, `meshreg check`.
. "$(dirname "$0")/lib.sh"

start_sidecar --weight 7 --fall 2 --rise 1
rec=$(record_path)

check "record file appears" wait_for 8 has_record
check_eq "record path is DIR/<svc.ns>/<instance_id>_<port>.json" \
    "$(ls "$REG_DIR/$SVC.main" 2>/dev/null)" "${IID}_$APP_PORT.json"
if [ -f "$rec" ]; then
    check_eq "record host" "$(json_get "$rec" 'j["host"]')" 127.0.0.1
    check_eq "record port (integer)" "$(json_get "$rec" 'j["port"]')" "$APP_PORT"
    check_eq "record name" "$(json_get "$rec" 'j["name"]')" "$IID"
    check_eq "record weight (integer)" "$(json_get "$rec" 'j["weight"]')" 7
    check "record labels is an object of strings" json_true "$rec" \
        'isinstance(j["labels"], dict) and all(isinstance(v, str) for v in j["labels"].values())'
    check_eq "record keys, in nerve's order" "$(json_get "$rec" 'list(j)')" \
        '["host", "port", "name", "weight", "labels"]'
    check "record port/weight are JSON integers" grep -q "\"port\":$APP_PORT,.*\"weight\":7" "$rec"
else
    fail "record contents" "no record file"
fi
check "no temp files left beside records" \
    bash -c "[ \$(ls -A '$REG_DIR/$SVC.main' | wc -l) = 1 ]"

# The canary namespace is not asked for: only svc.main is registered.
check "only the asked-for registration" [ ! -e "$REG_DIR/$SVC.canary" ]

check_eq "GET /health 200 when up" "$(http_code "$ADMIN_URL/health")" 200
check "GET /health body is JSON" json_true - 'isinstance(j, (dict, list))' \
    <<<"$(http_get "$ADMIN_URL/health")"
check_eq "GET /health/<svc.ns> 200" "$(http_code "$ADMIN_URL/health/$SVC.main")" 200
check_eq "GET /health/<unknown> 404" "$(http_code "$ADMIN_URL/health/nope.main")" 404
check_eq "GET /health/<svc.ns>/ (trailing slash) 200" \
    "$(http_code "$ADMIN_URL/health/$SVC.main/")" 200
check_eq "GET /health/ 404" "$(http_code "$ADMIN_URL/health/")" 404
check "GET /health/ 404 is JSON" json_true - 'j["error"].startswith("no registration")' \
    <<<"$(http_get "$ADMIN_URL/health/")"
check "GET /nope 404 is JSON" json_true - 'j == {"error": "not found", "path": "/nope"}' \
    <<<"$(http_get "$ADMIN_URL/nope")"
check_eq "GET /status 200" "$(http_code "$ADMIN_URL/status")" 200
check "GET /status is JSON naming the registration" \
    grep -q "$SVC.main" <<<"$(http_get "$ADMIN_URL/status")"
check "GET /status is valid JSON" json_true - 'True' <<<"$(http_get "$ADMIN_URL/status")"
check "GET /metrics is Prometheus text" \
    grep -qE '^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$' <<<"$(http_get "$ADMIN_URL/metrics")"
check_eq "HTTP/1.0 without Host answered" \
    "$(printf 'GET /health HTTP/1.0\r\n\r\n' | timeout 2 bash -c \
        "exec 3<>/dev/tcp/${ADMIN%:*}/${ADMIN##*:}; cat >&3; head -c 12 <&3")" "HTTP/1.1 200"

out=$(meshreg_cli status --admin "$ADMIN" 2>&1)
rc=$?
check_eq "meshreg status exits 0" "$rc" 0
check "meshreg status names the registration" grep -q "$SVC.main" <<<"$out"

# Unhealthy: fall (2) x interval (200 ms) plus jitter and one probe; the
# bounds leave a busy machine room but catch a rise/fall that is off by
# a count (each extra probe is 200 ms).
demo_ctl "$APP_PORT" unhealthy
t0=$(now_ms)
if wait_for 8 no_record; then
    dt=$(($(now_ms) - t0))
    check "record removed within fall x interval + slack (${dt} ms)" [ "$dt" -lt 1500 ]
else
    fail "record removed when unhealthy" "still there after 8 s"
fi
check_eq "GET /health 503 when down" "$(http_code "$ADMIN_URL/health")" 503
check_eq "GET /health/<svc.ns> 503 when down" "$(http_code "$ADMIN_URL/health/$SVC.main")" 503
# An operator filtering on warn sees the registration leave the mesh.
check "log: probe failed at warn" grep -qE " warn +$SVC\.main: probe failed: " "$MESHREG_LOG"
check "log: now unhealthy at warn" grep -qE " warn +$SVC\.main: now unhealthy " "$MESHREG_LOG"

demo_ctl "$APP_PORT" healthy
t0=$(now_ms)
if wait_for 8 has_record; then
    dt=$(($(now_ms) - t0))
    check "re-registered within rise x interval + slack (${dt} ms)" [ "$dt" -lt 1500 ]
else
    fail "re-registered when healthy" "no record after 8 s"
fi
check_eq "GET /health 200 again" "$(http_code "$ADMIN_URL/health")" 200
check "log: recovery stays at info" grep -qE " info +$SVC\.main: now healthy " "$MESHREG_LOG"

# meshreg check: same options, prints the registrations, starts nothing.
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --instance main --port 4321 --host 127.0.0.1 --instance-id "$IID" \
    --backend "file:$T/check-registry" --admin 127.0.0.1:1 2>&1)
rc=$?
check_eq "meshreg check exits 0" "$rc" 0
check "meshreg check prints the registration" grep -q "$SVC.main" <<<"$out"
check "meshreg check prints the port" grep -q 4321 <<<"$out"
check "meshreg check creates no registry" [ ! -e "$T/check-registry" ]
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --registration "$SVC.main" --registration "$SVC.canary" --port 4321 2>&1)
check "meshreg check prints repeated --registration" \
    bash -c 'grep -q "$1.main" <<<"$2" && grep -q "$1.canary" <<<"$2"' _ "$SVC" "$out"

# Labels: advertise locations (from the config file's `locations:`),
# extra_advertise whose source matches, deploy_group, paasta_instance.
cat >"$T/meshreg.yaml" <<YAML
locations:
  region: uswest1-prod
  superregion: usnorth1
YAML
main_pid=$MESHREG_PID
main_admin=$ADMIN
PAASTA_DEPLOY_GROUP=prod.canary start_meshreg run -c "$T/meshreg.yaml" \
    --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --instance canary \
    --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0
wait_meshreg
crec=$(record_path "$SVC.canary")
check "canary (instance with its own entry) registered" wait_for 8 test -f "$crec"
if [ -f "$crec" ]; then
    echo "# canary record: $(cat "$crec")"
    check "canary record labels: advertise, extra_advertise, deploy_group, paasta_instance" \
        json_true "$crec" "j == {'host': '127.0.0.1', 'port': $APP_PORT, 'name': '$IID', 'weight': 10, 'labels': {'region:uswest1-prod': '', 'superregion:usnorth1': '', 'region:uswest2-prod': '', 'deploy_group': 'prod.canary', 'paasta_instance': 'canary'}}"
fi
check "main record untouched by the other meshreg" has_record
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 3
check_eq "canary meshreg: exit 0 (window 0)" "$EXIT_CODE" 0
check "canary record gone" test ! -e "$crec"
MESHREG_PID=$main_pid
ADMIN=$main_admin

check "meshreg still running" alive "$MESHREG_PID"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "exit status 0 after SIGTERM" "$EXIT_CODE" 0
check "record gone after exit" no_record
finish
