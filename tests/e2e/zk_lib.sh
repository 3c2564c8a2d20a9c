# shellcheck shell=bash
# Helpers for the ZooKeeper end-to-end tests (tests/e2e/zk_*.sh). Source it
# after lib.sh. Everything is checked through an independent client,
# tests/zkwatch.py (kazoo), never through meshreg itself.
#
#   zk_setup [need_zk ARGS]   ZooKeeper up (or SKIP), kazoo present (or SKIP)
#   start_zk_sidecar [ARGS]   start_sidecar on zk://$ZK_ADDR, --ttl-seconds $TTL (default 10)
#   start_zk_meshreg [ARGS]   only meshreg, the same way, in front of the demo app already
#                             on $APP_PORT (a restart); waits until /health answers
#   zkw ARGS...               tests/zkwatch.py --hosts $ZK_ADDR ARGS...
#   zk_parent [SVC.NS]        the registration's parent znode
#   zk_nodes [SVC.NS] [IID]   JSON list of the record's nodes: named IID_ + ZooKeeper's 10-digit
#                             sequence (ephemeral sequential, as nerve makes them)
#   zk_path                   the record's znode (empty unless exactly one)
#   zk_present / zk_absent    the record has a znode / has none (kazoo says so)
#   zk_node_field FIELD       czxid, ephemeralOwner, data, version, name of the record's znode
#   zk_count [SVC.NS]         how many znodes the registration's parent holds
#   zk_watch_start            a kazoo watcher on the record's nodes in the background
#                             ($ZK_WATCH = its output)
#   zk_wait_event T0 EVENT S  waits up to S s for EVENT (deleted, created, ...) at or after
#                             T0 (ms); prints the event's time - T0 (ms); fails if none
#   zk_events EVENT           how many EVENT lines the watcher printed
#   backend_field FIELD       /status backend.FIELD (state, detail, ...)
ZK_PY=/usr/bin/python3
ZK_ROOT=/smartstack/global

zk_setup() {
    "$ZK_PY" -c 'import kazoo' 2>/dev/null || skip_all "no kazoo for $ZK_PY (python3-kazoo)"
    need_zk "$@"
}

start_zk_sidecar() {
    start_sidecar --backend "zk://$ZK_ADDR" --ttl-seconds "${TTL:-10}" "$@"
}

start_zk_meshreg() {
    start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
        --instance main --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" \
        --backend "zk://$ZK_ADDR" --ttl-seconds "${TTL:-10}" --admin "127.0.0.1:$(free_port)" \
        --interval-ms 200 --drain-seconds "${DRAIN_S:-2}" "$@"
    wait_meshreg
}

zkw() {
    timeout -k 1 20 "$ZK_PY" "$ROOT/tests/zkwatch.py" --hosts "$ZK_ADDR" "$@"
}

zk_parent() {
    echo "$ZK_ROOT/${1:-$SVC.main}"
}

zk_nodes() {
    zkw nodes "$(zk_parent "${1:-}")" --prefix "${2:-$IID}_"
}

zk_path() {
    zk_nodes | json_get - "j[0]['path'] if len(j) == 1 else ''"
}

# A failure to ask is neither present nor absent.
zk_present() {
    local n
    n=$(zk_nodes "$@" | json_get - "len(j)") && [ "$n" -ge 1 ]
}

zk_absent() {
    local n
    n=$(zk_nodes "$@" | json_get - "len(j)") && [ "$n" = 0 ]
}

zk_node_field() {
    zk_nodes | json_get - "j[0].get('$1', '') if len(j) == 1 else 'not exactly one node: %d' % len(j)"
}

zk_count() {
    zkw children "$ZK_ROOT/${1:-$SVC.main}" | json_get - "len(j)"
}

zk_watch_start() {
    start_bg zkwatch "$ZK_PY" "$ROOT/tests/zkwatch.py" --hosts "$ZK_ADDR" watch \
        "$(zk_parent "${1:-}")" --prefix "${2:-$IID}_"
    ZK_WATCH=$BG_OUT
    wait_for 10 grep -q -E '^[0-9]+ (present|absent) ' "$ZK_WATCH" ||
        fail "kazoo watcher started" "no first event in $ZK_WATCH"
}

_zk_event_at() {
    awk -v t0="$1" -v ev="$2" '$1 >= t0 && $2 == ev { print $1; exit }' "$ZK_WATCH"
}

zk_wait_event() {
    local t0=$1 ev=$2 s=$3 at
    wait_for_eval "$s" "[ -n \"\$(_zk_event_at $t0 $ev)\" ]"
    at=$(_zk_event_at "$t0" "$ev")
    [ -n "$at" ] || return 1
    echo $((at - t0))
}

zk_events() {
    grep -c -E "^[0-9]+ $1 " "$ZK_WATCH" || true
}

backend_field() {
    http_get "$ADMIN_URL/status" | json_get - "j['backend']['$1']"
}
