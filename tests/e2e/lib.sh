# shellcheck shell=bash
# Helpers for meshreg's end-to-end tests. Source it first thing:
#
#   #!/usr/bin/env bash
#   . "$(dirname "$0")/lib.sh"
#   port=$(free_port); start_demo "$port"
#   start_meshreg --service svc --port "$port" --admin "127.0.0.1:$(free_port)" ...
#   check "health is 200" [ "$(http_code "$ADMIN_URL/health")" = 200 ]
#   finish
#
# Output is TAP-ish: one `ok - NAME` or `not ok - NAME: MESSAGE` per check,
# anything else starts with `# `. The script exits non-zero if any check failed,
# if it died early, or if it ran past E2E_TIMEOUT seconds (default 90).
# Everything the test started (process groups, temp dirs) is cleaned up on exit.
#
# Stable API (other e2e scripts rely on these names):
#   variables  ROOT BIN DEMO T FAILS PASSES MESHREG_PID MESHREG_LOG MESHREG_ERR
#              ADMIN ADMIN_URL DEMO_PID (last started)
#   ports      free_port | free_port_block N | port_open PORT
#   processes  start_bg NAME CMD... | start_demo PORT [ARGS...] | start_meshreg ARGS...
#              wait_meshreg [TIMEOUT] | wait_up [TIMEOUT] | meshreg_cli ARGS... (foreground, bounded)
#              demo_ctl PORT unhealthy|healthy|hang|garbage|close
#              stop_pid PID [SIG] | kill_hard PID | wait_exit PID TIMEOUT (sets EXIT_CODE)
#              alive PID
#              on_cleanup CMD...
#   waiting    wait_for TIMEOUT CMD... | wait_for_eval TIMEOUT 'shell expression'
#              wait_port PORT TIMEOUT | wait_http URL CODE TIMEOUT
#   http       http_code URL [CURL ARGS...] | http_get URL | http_post URL | http_ms URL
#   time       now_ms
#   checks     ok NAME | fail NAME MESSAGE | check NAME CMD... | check_eq NAME GOT WANT
#              check_between NAME GOT MIN MAX (integers, MIN <= GOT <= MAX)
#              skip NAME REASON | skip_all REASON | finish
#   json       json_get FILE_OR_- PY_EXPR | json_true FILE_OR_- PY_EXPR  (`j` = the JSON)
#   logs       show_log FILE [N]
#   file:      start_sidecar [ARGS] | record_path [SVC.NS] [PORT] | has_record | no_record
#              (FIXTURES SVC IID REG_DIR APP_PORT DRAIN_S)
#   servers    need_zk [ARGS] | need_etcd [ARGS] (see below)
#   privilege  need_netns NS (a network namespace with a veth pair, or SKIP)
# Environment: MESHREG_BIN, DEMOAPP_BIN (binaries), E2E_TIMEOUT (seconds),
# E2E_KEEP=1 (keep the temp dir for a post-mortem).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MESHREG_BIN:-$ROOT/build/meshreg}
DEMO=${DEMOAPP_BIN:-$ROOT/build/demoapp}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
case $DEMO in /*) ;; *) DEMO=$ROOT/$DEMO ;; esac
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
PY=$(command -v python3 || echo /usr/bin/python3)
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/meshreg-e2e.$TEST_NAME.XXXXXX")
FAILS=0
PASSES=0
MESHREG_PID=
MESHREG_LOG=
MESHREG_ERR=
ADMIN=
ADMIN_URL=
DEMO_PID=
EXIT_CODE=
_E2E_PIDS=()
_E2E_CLEANUPS=()
_E2E_LOGS=()
_E2E_SEQ=0
_E2E_FINISHED=0
_E2E_WATCHDOG=

# ---------------------------------------------------------------- output

now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

ok() {
    PASSES=$((PASSES + 1))
    echo "ok - $1"
}

fail() {
    FAILS=$((FAILS + 1))
    echo "not ok - $1: ${2:-failed}"
}

skip() {
    echo "ok - $1 # SKIP ${2:-}"
}

# check NAME CMD...: runs CMD, ok when it exits 0.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name" "command failed: $*"; fi
}

# check_eq NAME GOT WANT
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# check_between NAME GOT MIN MAX: integers, ok when MIN <= GOT <= MAX. Both
# bounds are asserted (`check N [ a ] && [ b ]` would run `[ b ]` outside check).
check_between() {
    if [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
        ok "$1"
    else
        fail "$1" "got '$2', want $3..$4"
    fi
}

# skip_all REASON: the whole test cannot run here (prints one SKIP line, exits 0).
skip_all() {
    echo "ok - $TEST_NAME # SKIP $1"
    _E2E_FINISHED=1
    exit 0
}

# show_log FILE [N]: the last N lines of a log, as comments.
show_log() {
    [ -f "$1" ] || return 0
    echo "# --- ${1#"$T"/} (last ${2:-30} lines)"
    tail -n "${2:-30}" "$1" | sed 's/^/#   /'
}

# finish: ends the test; exit status 1 if anything failed.
finish() {
    _E2E_FINISHED=1
    if [ "$FAILS" -gt 0 ]; then
        echo "# $TEST_NAME: $FAILS failed, $PASSES passed"
        exit 1
    fi
    echo "# $TEST_NAME: all $PASSES passed"
    exit 0
}

# ---------------------------------------------------------------- processes

alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}

# wait_exit PID TIMEOUT_S: waits for a child started by this shell; sets
# EXIT_CODE (empty if it did not exit in time). Returns 0 if it exited.
wait_exit() {
    local pid=$1 deadline
    deadline=$(($(now_ms) + $(_sec_to_ms "$2")))
    EXIT_CODE=
    while alive "$pid"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.02
    done
    wait "$pid" 2>/dev/null
    EXIT_CODE=$?
    return 0
}

# stop_pid PID [SIG]: signals a process group started by start_bg, then
# SIGKILL after 3 s. Reaps it (EXIT_CODE). bash's "Killed" job notices go to
# /dev/null: they are noise in a test's output.
stop_pid() {
    {
        local pid=$1 sig=${2:-TERM}
        if ! alive "$pid"; then
            wait "$pid"
            EXIT_CODE=$?
            return 0
        fi
        kill -"$sig" -- "-$pid" || kill -"$sig" "$pid"
        if ! wait_exit "$pid" 3; then
            kill -KILL -- "-$pid" || kill -KILL "$pid"
            wait_exit "$pid" 2
        fi
    } 2>/dev/null
    return 0
}

# kill_hard PID: SIGKILL (a crash) and reap, quietly. Sets EXIT_CODE.
kill_hard() {
    {
        kill -KILL "$1"
        wait "$1"
        EXIT_CODE=$?
    } 2>/dev/null
    return 0
}

on_cleanup() {
    _E2E_CLEANUPS+=("$*")
}

# start_bg NAME CMD...: runs CMD in its own process group (setsid), stdout in
# $T/NAME.N.out, stderr in $T/NAME.N.err. Sets BG_PID, BG_OUT, BG_ERR.
start_bg() {
    local name=$1
    shift
    _E2E_SEQ=$((_E2E_SEQ + 1))
    BG_OUT=$T/$name.$_E2E_SEQ.out
    BG_ERR=$T/$name.$_E2E_SEQ.err
    # In a non-interactive shell a background job is not a group leader, so
    # setsid execs in place and $! is the command's own pid.
    setsid "$@" >"$BG_OUT" 2>"$BG_ERR" </dev/null &
    BG_PID=$!
    _E2E_PIDS+=("$BG_PID")
    _E2E_LOGS+=("$BG_OUT" "$BG_ERR")
}

# ---------------------------------------------------------------- ports

# free_port: a loopback TCP port nobody listens on now (bound then released
# by the kernel's ephemeral allocator, so parallel tests do not collide).
# free_port: a port free now and not handed out before in this test: the
# kernel may give the same ephemeral port to two calls in a row, and a test
# that binds its ports later (an app's port, then another process's admin
# port) then has two processes on one port (bounce_haproxy under gcov did).
free_port() {
    "$PY" -c 'import socket, sys
given = sys.argv[1]
try:
    seen = set(open(given).read().split())
except OSError:
    seen = set()
for _ in range(50):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = str(s.getsockname()[1])
    s.close()
    if p not in seen:
        break
with open(given, "a") as f:
    f.write(p + "\n")
print(p)' "$T/.ports_given"
}

# free_port_block N: a port P such that P..P+N-1 are all free now.
free_port_block() {
    "$PY" -c 'import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 32000)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    sys.exit(1)' "$1"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
    wait_for "${2:-5}" port_open "$1"
}

# ---------------------------------------------------------------- waiting

# wait_for TIMEOUT_S CMD...: polls CMD every 20 ms until it succeeds.
# TIMEOUT may be fractional ("0.5").
wait_for() {
    local t=$1 deadline
    shift
    deadline=$(($(now_ms) + $(_sec_to_ms "$t")))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.02
    done
}

# wait_for_eval TIMEOUT_S 'EXPR': same with a shell expression.
wait_for_eval() {
    wait_for "$1" eval "$2"
}

_sec_to_ms() {
    local s=$1 i f
    i=${s%%.*}
    [ -z "$i" ] && i=0
    if [ "$s" != "${s#*.}" ]; then
        f=${s#*.}000
        f=${f:0:3}
    else
        f=000
    fi
    echo $((10#$i * 1000 + 10#$f))
}

# ---------------------------------------------------------------- http

# http_code URL [CURL ARGS...]: the status code, or 000 when nothing answered.
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null || true
}

http_get() {
    curl -s --max-time 2 "$1" 2>/dev/null
}

http_post() {
    curl -s --max-time 2 -X POST "$1" 2>/dev/null
}

# http_ms URL: milliseconds the request took by curl's own clock (its
# process start-up, slow on a busy machine, left out); 9999 if no answer.
http_ms() {
    curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$1" 2>/dev/null |
        awk '{ printf "%d", $1 * 1000 } END { if (NR == 0) print 9999 }'
}

_http_is() {
    [ "$(http_code "$1")" = "$2" ]
}

# wait_http URL CODE TIMEOUT_S
wait_http() {
    wait_for "$3" _http_is "$1" "$2"
}

# json_get FILE PY_EXPR: prints eval(PY_EXPR) with j = the parsed JSON (FILE
# "-" reads stdin); strings print bare, others as JSON. Fails on bad JSON.
json_get() {
    "$PY" -c 'import json, sys
src = sys.argv[1]
j = json.load(sys.stdin if src == "-" else open(src))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

# json_true FILE PY_EXPR: exit 0 when eval(PY_EXPR) is truthy (j = the JSON).
json_true() {
    "$PY" -c 'import json, sys
src = sys.argv[1]
j = json.load(sys.stdin if src == "-" else open(src))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}

# ---------------------------------------------------------------- the programs

# start_demo PORT [ARGS...]: the demo app on 127.0.0.1:PORT, waits until it
# answers. Sets DEMO_PID.
start_demo() {
    local port=$1
    shift
    [ -x "$DEMO" ] || { fail "demoapp present" "$DEMO not built"; finish; }
    start_bg "demo$port" "$DEMO" --port "$port" "$@"
    DEMO_PID=$BG_PID
    if ! wait_port "$port" 5; then
        fail "demoapp starts on $port" "not listening"
        show_log "$BG_ERR"
        finish
    fi
}

# demo_ctl PORT WHAT: /control/WHAT on the demo app (unhealthy, healthy, hang, ...).
demo_ctl() {
    curl -s --max-time 2 -X POST "http://127.0.0.1:$1/control/$2" >/dev/null 2>&1
}

# start_meshreg ARGS...: the meshreg binary in the background with ARGS (put
# the subcommand first if not `run`). Sets MESHREG_PID, MESHREG_LOG (stdout,
# where meshreg logs), MESHREG_ERR (stderr); when ARGS hold `--admin ADDR`,
# also ADMIN and ADMIN_URL. Does not wait: use wait_meshreg.
start_meshreg() {
    local a prev=
    [ -x "$BIN" ] || { fail "meshreg present" "$BIN not built"; finish; }
    for a in "$@"; do
        [ "$prev" = --admin ] && ADMIN=$a
        case $a in --admin=*) ADMIN=${a#--admin=} ;; esac
        prev=$a
    done
    [ -n "$ADMIN" ] && ADMIN_URL=http://$ADMIN
    start_bg meshreg "$BIN" "$@"
    MESHREG_PID=$BG_PID
    MESHREG_LOG=$BG_OUT
    MESHREG_ERR=$BG_ERR
}

# wait_meshreg [TIMEOUT_S]: until the admin endpoint answers /health at all.
wait_meshreg() {
    if ! wait_for "${1:-5}" _http_answers "$ADMIN_URL/health"; then
        fail "meshreg admin endpoint answers" "$ADMIN_URL/health silent"
        show_log "$MESHREG_LOG"
        show_log "$MESHREG_ERR"
        return 1
    fi
}

# wait_up [TIMEOUT_S]: until /health answers 200 and /status shows every
# registration registered: the state a test that starts from "healthy and in
# the mesh" is about to assert. Answering at all is not enough: the first
# probe may not have passed yet on a busy machine.
wait_up() {
    if ! wait_for "${1:-10}" _meshreg_up; then
        fail "meshreg up and registered" "$(http_get "$ADMIN_URL/status" | head -c 600)"
        show_log "$MESHREG_LOG"
        return 1
    fi
}

_meshreg_up() {
    _http_is "$ADMIN_URL/health" 200 &&
        http_get "$ADMIN_URL/status" | json_true - \
            'all(c["registered"] for c in j["checks"] if c.get("registration"))'
}

_http_answers() {
    [ "$(http_code "$1")" != 000 ]
}

# meshreg_cli ARGS...: runs the binary in the foreground, bounded to 15 s.
meshreg_cli() {
    timeout -k 2 15 "$BIN" "$@"
}

# ---------------------------------------------------------------- file: backend
#
# start_sidecar [ARGS...]: the demo app on APP_PORT (free port unless set)
# and `meshreg run` in front of it on the file: backend in $REG_DIR, with the
# fixture smartstack.yaml (tests/fixtures/e2e/smartstack.yaml), service
# $SVC (default e2esvc), instance main, host 127.0.0.1, instance id e2e-host,
# probe every 200 ms, drain window $DRAIN_S (default 2) s. ARGS are appended
# (a later flag overrides an earlier one). Waits until the app is healthy in
# meshreg's eyes and every registration is registered (wait_up), or fails;
# START_WAIT=healthy waits for /health 200 only (a backend down on purpose).
FIXTURES=$ROOT/tests/fixtures/e2e
SVC=${SVC:-e2esvc}
IID=e2e-host
REG_DIR=$T/registry
APP_PORT=

start_sidecar() {
    [ -n "$APP_PORT" ] || APP_PORT=$(free_port)
    start_demo "$APP_PORT"
    start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
        --instance main --port "$APP_PORT" --host 127.0.0.1 --instance-id "$IID" \
        --backend "file:$REG_DIR" --admin "127.0.0.1:$(free_port)" --interval-ms 200 \
        --drain-seconds "${DRAIN_S:-2}" "$@"
    wait_meshreg || return 1
    case ${START_WAIT:-up} in
    up) wait_up ;;
    healthy) # the backend is down on purpose: only the probe can pass
        wait_http "$ADMIN_URL/health" 200 10 || {
            fail "meshreg healthy" "/health not 200 within 10 s"
            return 1
        } ;;
    esac
}

# record_path [SVC.NS] [PORT]: where the file: backend keeps a record.
record_path() {
    echo "$REG_DIR/${1:-$SVC.main}/${IID}_${2:-$APP_PORT}.json"
}

has_record() {
    [ -f "$(record_path "$@")" ]
}

no_record() {
    [ ! -e "$(record_path "$@")" ]
}

# Meshreg's environment must come from the test alone.
unset PAASTA_SERVICE PAASTA_INSTANCE PAASTA_PORT PAASTA_HOST PAASTA_CLUSTER \
    MESHREG_SMARTSTACK MESHREG_BACKEND MESHREG_ADMIN MESHREG_SOA_DIR

# ---------------------------------------------------------------- servers
#
# need_zk [ARGS...] / need_etcd [ARGS...]: make a real ZooKeeper / etcd
# available to this test, or skip the test (one `# SKIP` line, exit 0).
# Sets ZK_ADDR / ETCD_ADDR to the client endpoints ("127.0.0.1:P[,...]").
#   - If ZK_ADDR / ETCD_ADDR is already set in the environment, that server is
#     used as is (shared, started by someone else, not stopped here).
#   - Else `scripts/zk-start ARGS... DIR` / `scripts/etcd-start ARGS... DIR`
#     runs (e.g. need_etcd --cluster): it starts the server(s) in the
#     background with data, logs and pid files under DIR, waits (bounded) until
#     they serve, and prints the endpoints as its last stdout line. The base
#     port comes from ZK_BASE_PORT / ETCD_BASE_PORT, set here to a free port
#     (with +1..+12 free too) so parallel tests never collide.
#     `scripts/zk-stop DIR` / `scripts/etcd-stop DIR` runs at cleanup.
#     ZK_DIR / ETCD_DIR is DIR, for tests that stop/restart members themselves.
need_zk() {
    if [ -n "${ZK_ADDR:-}" ]; then return 0; fi
    [ -x "$ROOT/scripts/zk-start" ] || skip_all "no scripts/zk-start"
    ZK_DIR=$(_server_dir zk)
    ZK_BASE_PORT=$(free_port_block 13)
    export ZK_BASE_PORT
    on_cleanup "'$ROOT/scripts/zk-stop' '$ZK_DIR' >/dev/null 2>&1; rm -rf '$ZK_DIR'"
    if ! timeout -k 2 90 "$ROOT/scripts/zk-start" "$@" "$ZK_DIR" >"$T/zk-start.out" 2>"$T/zk-start.err"; then
        show_log "$T/zk-start.out"
        show_log "$T/zk-start.err"
        skip_all "ZooKeeper did not start"
    fi
    ZK_ADDR=$(tail -n 1 "$T/zk-start.out")
}

need_etcd() {
    if [ -n "${ETCD_ADDR:-}" ]; then return 0; fi
    [ -x "$ROOT/scripts/etcd-start" ] || skip_all "no scripts/etcd-start"
    ETCD_DIR=$(_server_dir etcd)
    ETCD_BASE_PORT=$(free_port_block 13)
    export ETCD_BASE_PORT
    on_cleanup "'$ROOT/scripts/etcd-stop' '$ETCD_DIR' >/dev/null 2>&1; rm -rf '$ETCD_DIR'"
    if ! timeout -k 2 90 "$ROOT/scripts/etcd-start" "$@" "$ETCD_DIR" >"$T/etcd-start.out" 2>"$T/etcd-start.err"; then
        show_log "$T/etcd-start.out"
        show_log "$T/etcd-start.err"
        skip_all "etcd did not start"
    fi
    ETCD_ADDR=$(tail -n 1 "$T/etcd-start.out")
}

# Servers fsync every commit: keep their data on tmpfs when there is one.
_server_dir() {
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        mktemp -d "/dev/shm/meshreg-$1.XXXXXX"
    else
        mkdir -p "$T/$1" && echo "$T/$1"
    fi
}

# ---------------------------------------------------------------- privilege
#
# need_netns NS: a network namespace NS with a veth pair to it: host side
# $NETNS_HOST_IF with $NETNS_NET.1/30, namespace side $NETNS_NS_IF with
# $NETNS_NET.2/30, loopback up. Every step the test relies on is tried here,
# `ip netns exec` included (it needs a mount namespace and /sys remounts,
# which containers and chroots often refuse); any failure skips the whole
# test with the step and what it said. Cleaned up at exit.
need_netns() {
    local ns=$1
    command -v ip >/dev/null || skip_all "no ip command (Debian package iproute2)"
    NETNS_HOST_IF=mrh$$ NETNS_NS_IF=mrn$$
    NETNS_NET=10.213.$(($$ % 200 + 20))
    _netns_try "$ns" "ip netns add" ip netns add "$ns"
    on_cleanup "ip netns del '$ns' 2>/dev/null; ip link del '$NETNS_HOST_IF' 2>/dev/null"
    _netns_try "$ns" "veth pair" ip link add "$NETNS_HOST_IF" type veth peer name "$NETNS_NS_IF"
    _netns_try "$ns" "veth into the namespace" ip link set "$NETNS_NS_IF" netns "$ns"
    _netns_try "$ns" "host address" ip addr add "$NETNS_NET.1/30" dev "$NETNS_HOST_IF"
    _netns_try "$ns" "host link up" ip link set "$NETNS_HOST_IF" up
    _netns_try "$ns" "namespace address" ip -n "$ns" addr add "$NETNS_NET.2/30" dev "$NETNS_NS_IF"
    _netns_try "$ns" "namespace link up" ip -n "$ns" link set "$NETNS_NS_IF" up
    _netns_try "$ns" "namespace loopback up" ip -n "$ns" link set lo up
    _netns_try "$ns" "ip netns exec" ip netns exec "$ns" true
}

_netns_try() {
    local ns=$1 step=$2 out
    shift 2
    out=$("$@" 2>&1) && return 0
    skip_all "network namespace not usable here: $step failed: $(printf '%s' "$out" | head -c 200 | tr '\n' ' ')"
}

# ---------------------------------------------------------------- cleanup

_e2e_cleanup() {
    local rc=$? pid c l
    # A subshell forked a moment before (the watchdog) still carries our
    # traps until it sets its own; a TERM in that moment must not run a
    # second cleanup there (it would report the test as ended early).
    [ "$BASHPID" = "$$" ] || exit 0
    trap - EXIT INT TERM
    [ -n "$_E2E_WATCHDOG" ] && kill "$_E2E_WATCHDOG" 2>/dev/null
    # Under `make coverage` a process must exit to write its gcov counters:
    # two SIGTERMs (the second skips meshreg's window, never its
    # deregistration), up to 2 s, before SIGKILL.
    if [ -n "${MESHREG_COVERAGE:-}" ]; then
        local left=0
        for pid in "${_E2E_PIDS[@]}"; do
            alive "$pid" && kill -TERM -- "-$pid" 2>/dev/null
        done
        sleep 0.05
        for pid in "${_E2E_PIDS[@]}"; do
            alive "$pid" && kill -TERM -- "-$pid" 2>/dev/null && left=1
        done
        [ "$left" = 1 ] && wait_for 2 _e2e_none_alive
    fi
    {
        for pid in "${_E2E_PIDS[@]}"; do
            alive "$pid" && kill -KILL -- "-$pid"
            alive "$pid" && kill -KILL "$pid"
        done
        for pid in "${_E2E_PIDS[@]}"; do
            wait "$pid"
        done
    } 2>/dev/null
    for c in "${_E2E_CLEANUPS[@]}"; do
        eval "$c"
    done
    # A sanitizer report in any background process's stderr is a failure,
    # even when the test did not look at that process's exit status.
    for l in "${_E2E_LOGS[@]}"; do
        if [ -f "$l" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$l"; then
            echo "not ok - sanitizer report in ${l#"$T"/}"
            FAILS=$((FAILS + 1))
            grep -m 5 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|^    #[0-9]' "$l" | sed 's/^/#   /'
        fi
    done
    if [ "$_E2E_FINISHED" != 1 ]; then
        echo "not ok - $TEST_NAME ended early (status $rc)"
        rc=1
    fi
    if [ "$rc" != 0 ] || [ "$FAILS" -gt 0 ]; then
        for l in "${_E2E_LOGS[@]}"; do
            [ -s "$l" ] && show_log "$l" 20
        done
        [ "$rc" = 0 ] && rc=1
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "# kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}

_e2e_none_alive() {
    local pid
    for pid in "${_E2E_PIDS[@]}"; do alive "$pid" && return 1; done
    return 0
}

_e2e_timeout() {
    echo "not ok - $TEST_NAME timed out after ${E2E_TIMEOUT}s"
    FAILS=$((FAILS + 1))
    _E2E_FINISHED=1
    exit 1
}

trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap _e2e_timeout USR1
trap 'exit 143' TERM
# The watchdog: a hung step cannot hang CI. USR1 interrupts `wait`; other
# steps are bounded themselves (curl --max-time, short sleeps).
(
    sleep "$E2E_TIMEOUT" &
    s=$!
    trap 'kill $s; exit 0' TERM
    wait $s
    kill -USR1 $$ 2>/dev/null
) >/dev/null 2>&1 &
_E2E_WATCHDOG=$!
