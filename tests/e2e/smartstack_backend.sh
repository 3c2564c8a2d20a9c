#!/usr/bin/env bash
# meshreg-test: plain-pass-only
# README "Backends" smartstack: two standalone ZooKeepers stand in for two
# superregions' clusters (norcal-prod, nova-prod) of a PaaSTA host layout in
# a temp dir. One meshreg in VM mode with --backend smartstack registers
# alpha (extra_advertise into nova-prod's region useast1-prod) in both
# clusters and beta in its own only. A consumer applying synapse's rules
# (child name -> numeric id, base64 prefix or get, host/port required) and
# synapse-tools' label filter ("region:<its region>" == "") finds each
# backend exactly where nerve-tools would have put it. One cluster down
# never blocks the other; /health follows the probes, not the backends; the
# cluster's records come back when it does; SIGTERM empties both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"
. "$(dirname "$0")/smartstack_lib.sh"

ss_clusters
ss_layout
pa=$(free_port)
pb=$(free_port)
aport=$(free_port)
start_demo "$pa"
start_demo "$pb"
cat >"$T/vm.yaml" <<YAML
backend: smartstack
etc_dir: $ETC
labels_dir: $T/labels.d
admin: 127.0.0.1:$aport
soa_dir: $SOA
host: 127.0.0.1
instance_id: vm-host
interval_ms: 200
drain_seconds: 1
ttl_seconds: 10
services:
  - {service: alpha, instance: main, port: $pa}
  - {service: beta, instance: main, port: $pb}
YAML

# synapse HOSTS SVC.NS REGION: what a synapse reading cluster HOSTS sees of
# SVC.NS with synapse-tools' filter region:REGION == "" (synapse's rules:
# tests/fixtures/e2e/synapse_view.py): one JSON line per backend.
synapse() {
    timeout -k 1 20 "$ZK_PY" "$FIXTURES/synapse_view.py" --hosts "$1" \
        --path "/smartstack/global/$2" --discover-type region --location "$3" 2>>"$T/synapse.err"
}
# seen HOSTS SVC.NS REGION: "host:port" of every backend that synapse sees.
seen() {
    synapse "$@" | json_get - '"%s:%s" % (j["host"], j["port"])' 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
# count HOSTS SVC.NS: every child, no filter.
count() { ss_count "$@"; }

# ---- meshreg check shows both placements of alpha
out=$(meshreg_cli check -c "$T/vm.yaml" 2>&1)
check_eq "check exits 0" "$?" 0
check "check: alpha placed in norcal-prod" grep -q "norcal-prod" <<<"$out"
check "check: alpha placed in nova-prod" grep -q "nova-prod" <<<"$out"

start_meshreg run -c "$T/vm.yaml"
ADMIN=127.0.0.1:$aport
ADMIN_URL=http://$ADMIN
wait_meshreg
check "registered everywhere" wait_up 15

# ---- each backend exactly where nerve-tools puts it
a_seen() { [ "$(seen "$1" alpha.main "$2")" = "127.0.0.1:$pa" ]; }
check "norcal synapse (region uswest1-prod) sees alpha" wait_for 5 a_seen "$ZK_A" uswest1-prod
check "nova synapse (region useast1-prod) sees alpha" wait_for 5 a_seen "$ZK_B" useast1-prod
check_eq "norcal: one alpha record" "$(count "$ZK_A" alpha.main)" 1
check_eq "nova: one alpha record" "$(count "$ZK_B" alpha.main)" 1
check_eq "norcal: alpha not advertised to useast1-prod there" "$(seen "$ZK_A" alpha.main useast1-prod)" ""
check_eq "nova: alpha's record advertises only useast1-prod" "$(seen "$ZK_B" alpha.main uswest1-prod)" ""
check_eq "other norcal region (uswest2-prod) does not see alpha" "$(seen "$ZK_A" alpha.main uswest2-prod)" ""
check_eq "norcal synapse sees beta" "$(seen "$ZK_A" beta.main uswest1-prod)" "127.0.0.1:$pb"
check_eq "nova holds nothing of beta" "$(count "$ZK_B" beta.main)" 0
rec=$(synapse "$ZK_B" alpha.main useast1-prod)
check_eq "nova record's labels" "$(json_get - '",".join(sorted(j["labels"]))' <<<"$rec")" \
    "paasta_instance,region:useast1-prod"
check_eq "record name is the instance id" "$(json_get - 'j["name"]' <<<"$rec")" vm-host
child=$(json_get - 'j["child"]' <<<"$rec")
check "child name $child is nerve's <instance_id>_<sequence>" grep -qE '^vm-host_[0-9]{10}$' <<<"$child"
check_eq "synapse reads a numeric id" "$(json_get - 'type(j["id"]).__name__' <<<"$rec")" int

# ---- SIGHUP: unchanged registrations stay in both clusters, same znodes
# (child name + czxid: a re-create would change both)
znodes() {
    local h c
    for h in "$ZK_A" "$ZK_B"; do
        for c in $(ZK_ADDR=$h zkw children /smartstack/global/alpha.main | json_get - '" ".join(j)'); do
            echo "$c $(ZK_ADDR=$h zkw get "/smartstack/global/alpha.main/$c" | json_get - 'j["czxid"]')"
        done
    done
}
before=$(znodes)
kill -HUP "$MESHREG_PID"
check "SIGHUP: reloaded" wait_for 5 grep -q "reloaded: 2 check(s) unchanged" "$MESHREG_LOG"
sleep 0.5
check_eq "SIGHUP: the same znodes in both clusters" "$(znodes | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$before")"
check_eq "SIGHUP: two znodes (one per cluster)" "$(wc -l <<<"$before")" 2

st=$(http_get "$ADMIN_URL/status")
echo "$st" >"$T/status1.json"
cl() { json_get - "[c['$2'] for c in j['backend']['clusters'] if c['name'] == '$1'][0]" <<<"$st"; }
check_eq "/status: norcal-prod connected" "$(cl norcal-prod state)" connected
check_eq "/status: nova-prod connected" "$(cl nova-prod state)" connected
check_eq "/status: alpha is registered in both clusters" \
    "$(json_get - "[c['clusters'] for c in j['checks'] if c['name'] == 'alpha.main'][0]" <<<"$st")" \
    '{"norcal-prod": true, "nova-prod": true}'
check_eq "/status: beta in norcal-prod only" \
    "$(json_get - "[c['clusters'] for c in j['checks'] if c['name'] == 'beta.main'][0]" <<<"$st")" \
    '{"norcal-prod": true}'
m=$(http_get "$ADMIN_URL/metrics")
check "/metrics: per-cluster connection" grep -q 'meshreg_backend_connected{cluster="nova-prod"} 1' <<<"$m"

# ---- nova-prod's cluster down: norcal-prod carries on on its own
"$ROOT/scripts/zk-stop" "$ZK_B_DIR" >/dev/null
nova_down() { [ "$(http_get "$ADMIN_URL/status" | json_get - "[c['state'] for c in j['backend']['clusters'] if c['name'] == 'nova-prod'][0]")" = disconnected ]; }
check "/status: nova-prod disconnected" wait_for 8 nova_down
check_eq "/health still 200 (the probes pass)" "$(http_code "$ADMIN_URL/health")" 200
check_eq "norcal keeps alpha" "$(seen "$ZK_A" alpha.main uswest1-prod)" "127.0.0.1:$pa"
t0=$(now_ms)
demo_ctl "$pb" unhealthy
b_gone() { [ "$(count "$ZK_A" beta.main)" = 0 ]; }
check "beta unhealthy: gone from norcal while nova is down" wait_for 5 b_gone
echo "# beta deregistered from norcal-prod in $(($(now_ms) - t0)) ms with nova-prod down"
demo_ctl "$pb" healthy
b_back() { [ "$(seen "$ZK_A" beta.main uswest1-prod)" = "127.0.0.1:$pb" ]; }
check "beta healthy: back in norcal while nova is down" wait_for 5 b_back
demo_ctl "$pa" unhealthy
a_gone_a() { [ "$(count "$ZK_A" alpha.main)" = 0 ]; }
check "alpha unhealthy: gone from norcal while nova is down" wait_for 5 a_gone_a
pend=$(http_get "$ADMIN_URL/status" | json_get - "[c['pending'] for c in j['backend']['clusters'] if c['name'] == 'nova-prod'][0]")
check_eq "/status: nova-prod has alpha's delete pending" "$pend" 1
demo_ctl "$pa" healthy
check "alpha healthy: back in norcal" wait_for 5 a_seen "$ZK_A" uswest1-prod

# ---- nova-prod back (a fresh server: its data is gone): the record comes back
rm -rf "$ZK_B_DIR"/data1/version-2
"$ROOT/scripts/zk-start" "$ZK_B_DIR" >/dev/null
check "nova back: alpha's record is there again" wait_for 15 a_seen "$ZK_B" useast1-prod
check_eq "nova: exactly one alpha record" "$(count "$ZK_B" alpha.main)" 1
check_eq "nova: still nothing of beta" "$(count "$ZK_B" beta.main)" 0

# ---- a blip of norcal-prod's server (back within the 10 s session): nothing
# is re-created there (same child, same czxid) and nova-prod is not touched
before=$(znodes)
expiries=$(grep -c 'expired: its nodes are gone' "$MESHREG_LOG")
"$ROOT/scripts/zk-stop" "$ZK_A_DIR" >/dev/null
norcal_down() { [ "$(http_get "$ADMIN_URL/status" | json_get - "[c['state'] for c in j['backend']['clusters'] if c['name'] == 'norcal-prod'][0]")" = disconnected ]; }
check "blip: /status shows norcal-prod disconnected" wait_for 8 norcal_down
check_eq "blip: /health still 200" "$(http_code "$ADMIN_URL/health")" 200
"$ROOT/scripts/zk-start" "$ZK_A_DIR" >/dev/null
norcal_up() { [ "$(http_get "$ADMIN_URL/status" | json_get - "[c['state'] for c in j['backend']['clusters'] if c['name'] == 'norcal-prod'][0]")" = connected ]; }
check "blip: norcal-prod connected again" wait_for 15 norcal_up
sleep 0.5
check_eq "blip: the same znodes in both clusters (nothing re-created)" \
    "$(znodes | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$before")"
check_eq "blip: the session survived (no new 'session expired' in the log)" \
    "$(grep -c 'expired: its nodes are gone' "$MESHREG_LOG")" "$expiries"

# ---- SIGTERM empties both clusters
kill -TERM "$MESHREG_PID"
empty() { [ "$(count "$ZK_A" alpha.main)$(count "$ZK_A" beta.main)$(count "$ZK_B" alpha.main)" = 000 ]; }
check "SIGTERM: both clusters empty" wait_for 5 empty
wait_exit "$MESHREG_PID" 10
check_eq "exit 0" "$EXIT_CODE" 0
check "log names each cluster" grep -q "cluster nova-prod" "$MESHREG_LOG"

# ---- placed nowhere: a cluster type without topology files
out=$(meshreg_cli check -c "$T/vm.yaml" --backend smartstack:nothing 2>&1)
check_eq "no topology file: check still exits 0" "$?" 0
check "no topology file: check warns" grep -q "alpha.main: no placement" <<<"$out"
start_meshreg run -c "$T/vm.yaml" --backend smartstack:nothing
wait_meshreg
check "placed nowhere: /health 200 (the probes pass)" wait_http "$ADMIN_URL/health" 200 5
st=$(http_get "$ADMIN_URL/status")
check_eq "placed nowhere: /status says so" \
    "$(json_get - "[(c['placed'], c['clusters'], c['registered']) for c in j['checks']]" <<<"$st")" \
    '[[false, {}, false], [false, {}, false]]'
check "placed nowhere: warned at start" grep -q "alpha.main: placed in no ZooKeeper cluster" "$MESHREG_LOG"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 10
check_eq "placed nowhere: exit 0" "$EXIT_CODE" 0

# ---- a malformed topology file is a configuration error with its position
printf -- '- [zk1, 2181\n' >"$ETC/zookeeper_discovery/infrastructure/nova-prod.yaml"
out=$(meshreg_cli check -c "$T/vm.yaml" 2>&1)
check_eq "malformed topology: check exits 2" "$?" 2
check "malformed topology: FILE:LINE:COL" grep -q "infrastructure/nova-prod.yaml:2:1: " <<<"$out"
start_meshreg run -c "$T/vm.yaml"
wait_exit "$MESHREG_PID" 5
check_eq "malformed topology: run exits 2" "$EXIT_CODE" 2
finish
