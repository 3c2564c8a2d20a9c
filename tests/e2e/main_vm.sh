#!/usr/bin/env bash
# README "Running it": standalone on a VM: one meshreg, a `services:` list, each service's
# smartstack.yaml read from <soa_dir>/<service>/smartstack.yaml.
. "$(dirname "$0")/lib.sh"

pa=$(free_port)
pb=$(free_port)
aport=$(free_port)
start_demo "$pa"
demo_a=$DEMO_PID
start_demo "$pb" --status-path /health-beta
sed -e "s#@REG@#$REG_DIR#" -e "s#@ADMIN_PORT@#$aport#" -e "s#@SOA@#$FIXTURES/soa#" \
    -e "s#@PORT_A@#$pa#" -e "s#@PORT_B@#$pb#" "$FIXTURES/vm.yaml.in" >"$T/vm.yaml"
IID=vm-host
ra=$REG_DIR/alpha.main/vm-host_$pa.json
rb=$REG_DIR/beta.main/vm-host_$pb.json

out=$(meshreg_cli check -c "$T/vm.yaml" 2>&1)
check_eq "vm: meshreg check exits 0" "$?" 0
check "vm: meshreg check lists both" \
    bash -c 'grep -q alpha.main <<<"$1" && grep -q beta.main <<<"$1"' _ "$out"

start_meshreg run -c "$T/vm.yaml"
ADMIN=127.0.0.1:$aport
ADMIN_URL=http://$ADMIN
wait_meshreg
check "vm: alpha registered" wait_for 5 test -f "$ra"
check "vm: beta registered (probed on its own healthcheck_uri)" wait_for 5 test -f "$rb"
[ -f "$ra" ] && check_eq "vm: alpha record port" "$(json_get "$ra" 'j["port"]')" "$pa"
[ -f "$rb" ] && check_eq "vm: beta record port" "$(json_get "$rb" 'j["port"]')" "$pb"
[ -f "$rb" ] && check_eq "vm: beta record name" "$(json_get "$rb" 'j["name"]')" vm-host
check "vm: /health 200" wait_http "$ADMIN_URL/health" 200 5

demo_ctl "$pa" unhealthy
check "vm: alpha unhealthy -> alpha deregistered" wait_for 5 test ! -e "$ra"
check "vm: beta unaffected" test -f "$rb"
check_eq "vm: /health 503 (one registration down)" "$(http_code "$ADMIN_URL/health")" 503
check_eq "vm: /health/beta.main 200" "$(http_code "$ADMIN_URL/health/beta.main")" 200
check_eq "vm: /health/alpha.main 503" "$(http_code "$ADMIN_URL/health/alpha.main")" 503
demo_ctl "$pa" healthy
check "vm: alpha back" wait_for 5 test -f "$ra"

# beta's probe uses beta's healthcheck_uri (/health-beta): failing it there
# deregisters beta (the demo app's other paths keep answering 200).
demo_ctl "$pb" unhealthy
check "vm: beta failing /health-beta -> beta deregistered" wait_for 5 test ! -e "$rb"
check "vm: alpha unaffected" test -f "$ra"
demo_ctl "$pb" healthy
check "vm: beta back" wait_for 5 test -f "$rb"

kill -TERM "$MESHREG_PID"
check "vm: SIGTERM -> both deregistered" wait_for 5 bash -c "[ ! -e '$ra' ] && [ ! -e '$rb' ]"
wait_exit "$MESHREG_PID" 5
check_eq "vm: exit 0" "$EXIT_CODE" 0
stop_pid "$demo_a"
finish
