#!/usr/bin/env bash
# README "Backends" zk://, read the way synapse reads it (tests/fixtures/e2e/synapse_view.py:
# synapse's ZooKeeper watcher rules plus synapse-tools' `discover: region` label filter).
# Three meshregs in front of one app on one port: host-a and host-b in region r1
# (host-b with --zk-path-encoding), host-c in region r2 (MESHREG_LOCATION_REGION).
# A watcher discovering by region r1 sees host-a and host-b, each exactly once, with
# distinct numeric ids (ZooKeeper's sequence), the right host, port, name and weight,
# host-b's read from its name alone; host-c is filtered out. After SIGTERM it sees none.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
VIEW=$ROOT/tests/fixtures/e2e/synapse_view.py
PARENT=$(zk_parent)

# view ARGS...: the synapse view of $PARENT as JSON lines.
view() {
    timeout -k 1 20 "$ZK_PY" "$VIEW" --hosts "$ZK_ADDR" --path "$PARENT" "$@"
}

MESHREG_LOCATION_REGION=r1 IID=host-a start_zk_sidecar --instance-id host-a
pid_a=$MESHREG_PID
IID=host-b MESHREG_LOCATION_REGION=r1 start_zk_meshreg --zk-path-encoding
pid_b=$MESHREG_PID
wait_up
IID=host-c MESHREG_LOCATION_REGION=r2 start_zk_meshreg
pid_c=$MESHREG_PID
wait_up
echo "# children: $(zkw children "$PARENT")"

view --discover-type region --location r1 --until-count 2 >"$T/r1.json" 2>"$T/r1.err"
check_eq "region r1 watcher: 2 backends" "$?" 0
cat "$T/r1.json" "$T/r1.err" | sed 's/^/# /'
_v() { "$PY" -c 'import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
print(eval(sys.argv[2]))' "$T/r1.json" "$@"; }
check_eq "names: host-a and host-b, once each" "$(_v "sorted(x['name'] for x in b)")" \
    "['host-a', 'host-b']"
check_eq "ids: distinct numbers" "$(_v "len(set(x['id'] for x in b if isinstance(x['id'], int)))")" 2
check_eq "host, port, weight as advertised" \
    "$(_v "sorted(set((x['host'], x['port'], x['weight']) for x in b))")" \
    "[('127.0.0.1', $APP_PORT, 10)]"
check_eq "host-a's node: host-a_ + 10 digits" \
    "$(_v "[__import__('re').fullmatch('host-a_[0-9]{10}', x['child']) is not None for x in b if x['name'] == 'host-a']")" \
    "[True]"
check_eq "host-b's record read from its name (path encoding, no get)" \
    "$(_v "[x['from_name'] and x['child'].startswith('base64_') for x in b if x['name'] == 'host-b']")" \
    "[True]"
check_eq "labels carry region:r1" "$(_v "all(x['labels'].get('region:r1') == '' for x in b)")" True
check "host-c (region r2) filtered out" grep -q "no label region:r1" "$T/r1.err"

view >"$T/all.json"
check_eq "unfiltered: 3 backends, one per meshreg" "$(wc -l <"$T/all.json")" 3
check_eq "parent holds exactly 3 children" "$(zk_count)" 3
zkw nodes "$PARENT" >"$T/nodes.json"
check_eq "one encoded child" \
    "$(json_get "$T/nodes.json" "len([x for x in j if x['name'].startswith('base64_')])")" 1
data=$(json_get "$T/nodes.json" "[x['data'] for x in j if x['name'].startswith('base64_')][0]")
check_eq "host-b's node data is the record its name carries" \
    "$(_v "json.loads(sys.argv[3]) == {k: [x for x in b if x['name'] == 'host-b'][0][k] for k in ['host', 'port', 'name', 'weight', 'labels']}" "$data")" \
    True

kill -TERM "$pid_a" "$pid_b"
view --discover-type region --location r1 --until-count 0 --timeout 5 >"$T/after.json"
check_eq "after SIGTERM: region r1 watcher sees none" "$?" 0
check_eq "after SIGTERM: no line printed" "$(wc -l <"$T/after.json")" 0
view >"$T/all2.json"
check_eq "after SIGTERM: only host-c left" "$(json_get "$T/all2.json" "j['name']")" host-c
for p in "$pid_a" "$pid_b"; do
    if wait_exit "$p" 10; then check_eq "meshreg $p exit status 0" "$EXIT_CODE" 0; else
        fail "meshreg $p exits" "still running"
    fi
done
kill -TERM "$pid_c"
wait_exit "$pid_c" 10
check_eq "after the last SIGTERM: parent empty" "$(zk_count)" 0
finish
