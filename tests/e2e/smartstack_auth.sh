#!/usr/bin/env bash
# meshreg-test: plain-pass-only
# README "Backend credentials" with the smartstack backend: one identity
# (--backend-user/--backend-password-file) serves every cluster, and --zk-acl protected
# protects the records in each: world-readable (kazoo without auth), neither deletable nor
# writable by another identity, our digest identity in the ACL (the same in both). Per
# cluster (README "Metrics"): a cluster down is "cannot connect" in its /status entry and
# in meshreg_backend_problem{cluster=...}, while the healthy cluster beside it shows no
# error and no problem series. A session expiry on one cluster (its server back with
# fresh data) authenticates the new session again: the re-created node is protected, the
# other cluster untouched. The password never shows in the log, /status, /metrics or
# `meshreg check`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"
. "$(dirname "$0")/smartstack_lib.sh"

ss_clusters
ss_layout
PW=s3cret-$$-pw
printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"
AUTH=(--backend-user meshreg --backend-password-file "$T/pw" --zk-acl protected)
pa=$(free_port)
pb=$(free_port)
aport=$(free_port)
start_demo "$pa"
start_demo "$pb"
cat >"$T/vm.yaml" <<YAML
backend: smartstack
etc_dir: $ETC
admin: 127.0.0.1:$aport
soa_dir: $SOA
host: 127.0.0.1
instance_id: vm-host
interval_ms: 200
drain_seconds: 1
ttl_seconds: 4
services:
  - {service: alpha, instance: main, port: $pa}
  - {service: beta, instance: main, port: $pb}
YAML

out=$(meshreg_cli check -c "$T/vm.yaml" "${AUTH[@]}" 2>&1)
check_eq "check exits 0" "$?" 0
check "check: no password in its output" eval '! grep -qF "$PW" <<<"$out"'

start_meshreg run -c "$T/vm.yaml" "${AUTH[@]}"
ADMIN=127.0.0.1:$aport
ADMIN_URL=http://$ADMIN
wait_meshreg
check "registered in both clusters" wait_up 15

# on HOSTS ARGS...: zkwatch against one cluster; node HOSTS SVC.NS: the record's znode there.
on() { local h=$1; shift; ZK_ADDR=$h zkw "$@"; }
node() { on "$1" nodes "/smartstack/global/$2" --prefix vm-host_ | json_get - "j[0]['path'] if len(j) == 1 else ''"; }
# The digest id in a node's ACL, read with our identity (ZooKeeper shows others "x" for the
# hash), and the one "meshreg:$PW" makes.
digest_of() { on "$1" --auth "meshreg:$PW" acl "$(node "$1" "$2")" | grep -oE '"digest:meshreg:[^"]+:rwcda"'; }
WANT_ID=$("$ZK_PY" -c 'import base64, hashlib, sys
print("\"digest:meshreg:%s:rwcda\"" % base64.b64encode(hashlib.sha1(("meshreg:" + sys.argv[1]).encode()).digest()).decode())' "$PW")
protected() { # NAME HOSTS SVC.NS
    local name=$1 h=$2 path acl data
    path=$(node "$h" "$3")
    check "$name: one record node ($path)" [ -n "$path" ]
    acl=$(on "$h" acl "$path")
    check "$name: world may read" grep -q '"world:anyone:r"' <<<"$acl"
    check "$name: only our digest identity may write" grep -Eq '"digest:meshreg:[^"]+:rwcda"' <<<"$acl"
    check_eq "$name: nothing else in its ACL" "$(json_get - 'len(j)' <<<"$acl")" 2
    data=$(on "$h" get "$path" | json_get - "j['data']")
    check "$name: anyone reads it (kazoo, no identity)" grep -q "\"port\"" <<<"$data"
    check_eq "$name: no identity: delete refused" "$(on "$h" delete "$path")" NoAuthError
    check_eq "$name: another identity: delete refused" "$(on "$h" --auth intruder:nope delete "$path")" NoAuthError
    check_eq "$name: another identity: set refused" "$(on "$h" --auth intruder:nope set "$path" hijacked)" NoAuthError
    check_eq "$name: record untouched" "$(on "$h" get "$path" | json_get - "j['data']")" "$data"
}
protected "norcal-prod alpha" "$ZK_A" alpha.main
protected "norcal-prod beta" "$ZK_A" beta.main
protected "nova-prod alpha" "$ZK_B" alpha.main
check_eq "one identity serves both clusters: norcal-prod's node is ours" "$(digest_of "$ZK_A" alpha.main)" "$WANT_ID"
check_eq "one identity serves both clusters: nova-prod's node is ours" "$(digest_of "$ZK_B" alpha.main)" "$WANT_ID"

# cl NAME FIELD: /status backend.clusters[NAME].FIELD
cl() { http_get "$ADMIN_URL/status" | json_get - "[c['$2'] for c in j['backend']['clusters'] if c['name'] == '$1'][0]"; }
check_eq "/status: norcal-prod no problem" "$(cl norcal-prod problem)" null
check_eq "/status: nova-prod no problem" "$(cl nova-prod problem)" null
check "/metrics: no problem series while both are up" eval '! http_get "$ADMIN_URL/metrics" | grep -q "^meshreg_backend_problem"'

# ---- nova-prod down: named for nova-prod only, per cluster
b_port=${ZK_B##*:}
a_port=${ZK_A##*:}
"$ROOT/scripts/zk-stop" "$ZK_B_DIR" >/dev/null
nova_down() { [ "$(cl nova-prod problem)" = "cannot connect" ]; }
check "/status: nova-prod cannot connect" wait_for 8 nova_down
m=$(http_get "$ADMIN_URL/metrics")
check "/metrics: nova-prod's problem" grep -qx 'meshreg_backend_problem{cluster="nova-prod",problem="cannot connect"} 1' <<<"$m"
check "/metrics: no problem series for norcal-prod" eval '! grep -q "^meshreg_backend_problem{cluster=\"norcal-prod\"" <<<"$m"'
check "/metrics: the scrape parses (prometheus_client)" "$ZK_PY" -c 'import sys
from prometheus_client.parser import text_string_to_metric_families as p
fams = {f.name: f for f in p(sys.stdin.read())}
s = [x for x in fams["meshreg_backend_problem"].samples if x.value == 1]
sys.exit(0 if [x.labels for x in s] == [{"cluster": "nova-prod", "problem": "cannot connect"}] else 1)' <<<"$m"
# Sampled for 2 s while nova-prod's client keeps failing: norcal-prod shows no error, and
# nova-prod's detail names only its own server.
crosstalk=$("$ZK_PY" - "$ADMIN_URL/status" "$a_port" "$b_port" 2>&1 <<'PY'
import json, re, sys, time, urllib.request
url, a_port, b_port = sys.argv[1:]
end = time.time() + 2
while time.time() < end:
    cl = {c["name"]: c for c in json.load(urllib.request.urlopen(url, timeout=2))["backend"]["clusters"]}
    a, b = cl["norcal-prod"], cl["nova-prod"]
    ok_a = (a["state"] == "connected" and a["last_error"] == "" and a["problem"] is None and
            re.fullmatch(r"127\.0\.0\.1:%s, session 0x[0-9a-f]+, timeout \d+ ms" % a_port, a["detail"]))
    if not ok_a:
        sys.exit("norcal-prod: %r" % a)
    if ":" + a_port in b["detail"] or ":" + b_port not in b["detail"]:
        sys.exit("nova-prod: %r" % b["detail"])
    time.sleep(0.02)
PY
)
check_eq "2 s of /status: norcal-prod healthy, no error; nova-prod's detail its own" "$?${crosstalk}" 0
echo "# nova-prod while down: $(cl nova-prod detail)"

# ---- nova-prod back with fresh data (its session is gone): a new session, authenticated
# again, the record re-created protected; norcal-prod untouched.
a_czxid=$(on "$ZK_A" get "$(node "$ZK_A" alpha.main)" | json_get - "j['czxid']")
rm -rf "$ZK_B_DIR"/data1/version-2
"$ROOT/scripts/zk-start" "$ZK_B_DIR" >/dev/null
b_back() { [ -n "$(node "$ZK_B" alpha.main)" ]; }
check "nova-prod back: alpha re-created" wait_for 15 b_back
check "log: nova-prod's session expired, named with its cluster" grep -q "warn  zk cluster nova-prod: session 0x[0-9a-f]* expired" "$MESHREG_LOG"
protected "nova-prod after the expiry" "$ZK_B" alpha.main
check_eq "nova-prod after the expiry: our identity" "$(digest_of "$ZK_B" alpha.main)" "$WANT_ID"
check_eq "norcal-prod untouched (same czxid)" "$(on "$ZK_A" get "$(node "$ZK_A" alpha.main)" | json_get - "j['czxid']")" "$a_czxid"
nova_ok() { [ "$(cl nova-prod problem)" = null ]; }
check "/status: nova-prod's problem gone" wait_for 5 nova_ok
check "/metrics: no problem series" eval '! http_get "$ADMIN_URL/metrics" | grep -q "^meshreg_backend_problem"'

st=$(http_get "$ADMIN_URL/status")
check "the password is not in /status" eval '! grep -qF "$PW" <<<"$st"'
check "the password is not in /metrics" eval '! http_get "$ADMIN_URL/metrics" | grep -qF "$PW"'
kill -TERM "$MESHREG_PID"
empty() { [ "$(ss_count "$ZK_A" alpha.main)$(ss_count "$ZK_A" beta.main)$(ss_count "$ZK_B" alpha.main)" = 000 ]; }
check "SIGTERM: both clusters empty (our identity deletes)" wait_for 5 empty
wait_exit "$MESHREG_PID" 10
check_eq "exit 0" "$EXIT_CODE" 0
check "the password is not in the log" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'
finish
