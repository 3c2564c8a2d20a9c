# shellcheck shell=bash
# Helpers of tests/e2e/fleet_*.sh: run scripts/bench-fleet small and check
# its JSON results (the bench reads the registry with kazoo / etcdctl, not
# through meshreg). Source after lib.sh.
#   fleet_run ENGINE SCENARIOS   bench-fleet --n 50 in the foreground, bounded
#   fleet_check_register N | fleet_check_leader N WHAT | fleet_check_sigterm N
FLEET_JSON=
fleet_run() {
    local engine=$1 scenarios=$2
    case $engine in
    zk)
        command -v java >/dev/null || skip_all "no java (default-jre-headless)"
        /usr/bin/python3 -c 'import kazoo' 2>/dev/null || skip_all "no python3-kazoo"
        [ -f /usr/share/java/zookeeper.jar ] || skip_all "no ZooKeeper (zookeeper)" ;;
    etcd)
        command -v etcd >/dev/null || skip_all "no etcd (etcd-server)"
        command -v etcdctl >/dev/null || skip_all "no etcdctl (etcd-client)" ;;
    esac
    FLEET_JSON=$T/fleet.json
    # In the foreground: bench-fleet stops everything it started itself
    # (timeout's SIGTERM included), which a SIGKILL of its group would not.
    MESHREG_BIN=$BIN DEMOAPP_BIN=$DEMO timeout -k 10 70 "$ROOT/scripts/bench-fleet" --engine "$engine" \
        --n "${FLEET_N:-50}" --scenarios "$scenarios" --budget 60 --json "$FLEET_JSON" \
        >"$T/fleet.md" 2>"$T/fleet.log"
    local rc=$?
    sed 's/^/# /' "$T/fleet.log"
    if [ "$rc" != 0 ] || [ ! -s "$FLEET_JSON" ]; then
        fail "bench-fleet ran" "exit status $rc"
        finish
    fi
}

# fleet_get PY_EXPR: from the one result (r = results[0], s = its scenarios).
fleet_get() {
    json_get "$FLEET_JSON" "(lambda r, s: $1)(j['results'][0], j['results'][0]['scenarios'])"
}

fleet_check_register() {
    check_eq "all $1 registered" "$(fleet_get "s['register']['records']")" "$1"
    check_eq "no duplicate at any poll" "$(fleet_get "r['max_duplicates']")" 0
}

fleet_check_leader() {
    check_eq "leader kill: all $1 records compared" "$(fleet_get "s['leader']['compared']")" "$1"
    check_eq "leader kill: every record untouched ($2)" "$(fleet_get "s['leader']['changed']")" 0
    check_eq "leader kill: every sidecar connected again" "$(fleet_get "s['leader']['all_connected']")" true
}

fleet_check_sigterm() {
    check_eq "SIGTERM to all $1: registry empty" "$(fleet_get "s['sigterm']['empty']")" true
    check_between "SIGTERM to all $1: empty within 3 s (ms)" \
        "$(fleet_get "int(s['sigterm']['empty_s'] * 1000)")" 0 3000
    check_eq "SIGTERM: all $1 exited 0" "$(fleet_get "s['sigterm']['exit_0']")" "$1"
}
