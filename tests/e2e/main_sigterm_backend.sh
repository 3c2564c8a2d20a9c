#!/usr/bin/env bash
# README "Drain sequence" SIGTERM while the backend cannot confirm the deletes: step 2
# (deregistration) is bounded, never skipped nor endless. With ZooKeeper
# stopped, then with etcd hung (SIGSTOP), meshreg must answer 503 at once,
# keep answering /health while it waits, exit 0 once the deregistration
# timeout (--ttl-seconds, past which the backend forgets the record anyway)
# and the drain window (--drain-seconds, counted from the signal) have both
# passed, not before and not much later, and log that deregistration could not
# be confirmed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

# Slack above the bound for exit: the 50 ms tick, etcd's lease revoke at exit
# (500 ms deadline), closing the ZooKeeper handle, ASan, two busy cores.
EXIT_SLACK_MS=5000

# sigterm_watch TTL DRAIN: SIGTERM to meshreg, then /health polled until it
# exits (or TTL/DRAIN + slack passes); each answer goes to $T/answers as
# "<ms since SIGTERM> <code>". Sets T0, EXIT_MS (empty if still running) and
# EXIT_CODE.
sigterm_watch() {
    local bound_ms=$(($(max "$1" "$2") * 1000 + EXIT_SLACK_MS)) code now
    : >"$T/answers"
    EXIT_MS=
    T0=$(now_ms)
    kill -TERM "$MESHREG_PID"
    while alive "$MESHREG_PID"; do
        now=$(($(now_ms) - T0))
        [ "$now" -ge "$bound_ms" ] && break
        # A stalled endpoint would wait on etcd's 2 s request deadline; 1.5 s
        # leaves a heavily loaded machine room to answer.
        code=$(http_code "$ADMIN_URL/health" --max-time 1.5)
        echo "$(($(now_ms) - T0)) $code" >>"$T/answers"
        sleep 0.02
    done
    if wait_exit "$MESHREG_PID" 0.5; then
        EXIT_MS=$(($(now_ms) - T0))
    fi
}
max() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; }
first_503() { awk '$2 == 503 { print $1; exit }' "$T/answers"; }
last_503() { awk '$2 == 503 { t = $1 } END { print t }' "$T/answers"; }
# answers other than 503 between the first and the last 503: a gap in the
# admin endpoint (a 200 before the first 503 is a poll answered before the
# loop got to the signal, which "503 at once" bounds)
gaps() {
    awk -v f="$(first_503)" -v l="$(last_503)" '$2 != 503 && $1 > f && $1 < l { n++; w = w " [" $0 "]" }
        END { print n + 0 w }' "$T/answers"
}

# check_sigterm WHAT TTL DRAIN: the checks after sigterm_watch.
check_sigterm() {
    local what=$1 ttl=$2 drain=$3 want_ms f l
    want_ms=$(($(max "$ttl" "$drain") * 1000))
    f=$(first_503)
    l=$(last_503)
    check "$what: /health 503 at once (first 503 ${f:-never} ms after SIGTERM, < 1000)" \
        test -n "$f" -a "${f:-9999}" -lt 1000
    check "$what: /health kept answering 503 while deregistration waited (last ${l:-never} ms, >= $((want_ms - 1000)))" \
        test -n "$l" -a "${l:-0}" -ge $((want_ms - 1000))
    check_eq "$what: no gap in /health answers between the first and the last 503" "$(gaps)" 0
    if [ -n "$EXIT_MS" ]; then
        # A little under want_ms for clock granularity: meshreg counts from
        # when it handled the signal, after T0.
        check "$what: exits after max(ttl ${ttl} s, drain ${drain} s) (${EXIT_MS} ms >= $((want_ms - 100)))" \
            test "$EXIT_MS" -ge $((want_ms - 100))
        check "$what: exits within the bound (${EXIT_MS} ms < $((want_ms + EXIT_SLACK_MS)))" \
            test "$EXIT_MS" -lt $((want_ms + EXIT_SLACK_MS))
        check_eq "$what: exit status 0" "$EXIT_CODE" 0
    else
        fail "$what: exits within max(ttl, drain) + $((EXIT_SLACK_MS / 1000)) s" "still running"
    fi
    check "$what: log says deregistration could not be confirmed" \
        grep -q "deregistration not confirmed after $ttl.0 s (1 pending)" "$MESHREG_LOG"
    check "$what: log does not claim it deregistered" \
        bash -c "! grep -q 'deregistered everything' '$MESHREG_LOG'"
}

# ------------------------------------------------------------------ ZooKeeper stopped
# The deregistration timeout (TTL 4 s) is longer than the window (1 s): the
# exit waits for the timeout.
if ! "$ZK_PY" -c 'import kazoo' 2>/dev/null; then
    skip "zk: SIGTERM with ZooKeeper down" "no kazoo for $ZK_PY"
else
    need_zk
    if [ -z "${ZK_DIR:-}" ]; then
        skip "zk: SIGTERM with ZooKeeper down" "ZooKeeper shared via ZK_ADDR: cannot stop it"
    else
        TTL=4 DRAIN_S=1 start_zk_sidecar
        check "zk: registered (kazoo sees the znode)" wait_for 10 zk_present
        "$ROOT/scripts/zk-stop" "$ZK_DIR" >/dev/null 2>&1
        _zk_down() { [ "$(backend_field state)" != connected ]; }
        check "zk: stopped, /status no longer connected" wait_for 5 _zk_down
        sigterm_watch 4 1
        check_sigterm "zk down" 4 1
        stop_pid "$DEMO_PID"
    fi
fi

# ------------------------------------------------------------------ etcd hung
# The window (4 s) is longer than the deregistration timeout (TTL 2 s): the
# exit waits for the window, and the log still says the delete was not
# confirmed.
need_etcd
if [ -z "${ETCD_DIR:-}" ]; then
    skip "etcd: SIGTERM with etcd hung" "etcd shared via ETCD_ADDR: cannot stop it"
    finish
fi
export ETCDCTL_API=3
PREFIX=/e2e-sigterm-$$
ctl() { etcdctl --endpoints="$ETCD_ADDR" --dial-timeout=1s --command-timeout=2s "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)" 2>/dev/null)" ]; }
no_key() { ctl get --print-value-only "$(key)" >"$T/key" 2>/dev/null && [ ! -s "$T/key" ]; }
stopped() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = T ]; }

APP_PORT=
DRAIN_S=4 start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 2
check "etcd: registered (etcdctl sees the key)" wait_for 10 has_key
epid=$(cat "$ETCD_DIR/member0.pid")
on_cleanup "kill -CONT $epid 2>/dev/null"
kill -STOP "$epid"
check "etcd: hung (SIGSTOP)" wait_for 5 stopped "$epid"
sigterm_watch 2 4
kill -CONT "$epid"
check_sigterm "etcd hung" 2 4
# Nothing lingers: once etcd runs again the key goes (the requests meshreg
# left behind, or the lease's 2 s TTL).
check "etcd resumed: the key is gone within the TTL + 5 s" wait_for 7 no_key
stop_pid "$DEMO_PID"
finish
