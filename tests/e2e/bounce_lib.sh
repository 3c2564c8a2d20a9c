# shellcheck shell=bash
# Helpers for the bounce tests (tests/e2e/bounce_*.sh) and scripts/bench-bounce:
# a real HAProxy in front of two app instances, each `meshreg run ... --
# demoapp` (wrapper mode, file: backend), a bounded load generator through
# HAProxy, and bounces of one instance at a time under that load (README "Drain sequence": "a
# bounce under load loses zero requests"). Source it after lib.sh and
# lb_lib.sh.
#
#   bounce_init MODE              MODE httpchk (HAProxy `option httpchk GET
#                                 /health` on meshreg's admin port), agent
#                                 (TCP check of the app + `agent-check` on
#                                 meshreg's --agent-port) or zk (no HAProxy
#                                 check: meshreg registers in ZooKeeper at
#                                 $ZK_ADDR and a synapse-style watcher sets each
#                                 server ready/maint from the znodes). Picks the
#                                 ports of instances a and b and the frontend ($FE_PORT).
#   inst_start NAME DRAIN_S [ARGS...]
#                                 starts instance NAME (a|b): meshreg in wrapper
#                                 mode with --drain-seconds DRAIN_S (and ARGS)
#                                 around the demo app, on NAME's fixed ports (a
#                                 bounce reuses them: HAProxy's server list is
#                                 static)
#   bounce_haproxy_start          HAProxy with backend `app`, servers a and b,
#                                 frontend on $FE_PORT, and a watcher of the
#                                 servers' states ($BW_OUT); waits until both are UP
#   bw_wait NAME ERE SINCE_MS TIMEOUT_S
#                                 waits until the watcher saw server NAME in a
#                                 status matching ERE (spaces as _) at or after
#                                 SINCE_MS; prints "DELTA_MS STATUS"
#   load_start [RATE]             the load generator through the frontend: 2
#                                 keep-alive + 2 close-per-request workers, each
#                                 at most RATE req/s (default 120), bounded by
#                                 LOAD_MAX_S (default 60) s; every request is
#                                 one line in $LOAD_OUT
#   load_stop                     stops it (it finishes in-flight requests) and
#                                 sets LOAD_* from `load_report` (see there)
#   bounce NAME NEW_DRAIN_S [ARGS...]
#                                 one bounce of NAME under load: SIGTERM to its
#                                 meshreg, HAProxy must take it out, the app must
#                                 get no new request while it drains and stop
#                                 only after the window (with --adaptive-drain:
#                                 once HAProxy has seen the drain, well before
#                                 the window's end), the other instance takes
#                                 the traffic, then a new NAME (inst_start NAME
#                                 NEW_DRAIN_S ARGS) must come back UP and serve.
#                                 Emits ok/not ok lines.
#   bounce_stop_all               stops the watcher, HAProxy and both instances
#   app_traffic NAME              the running app's own count of proxied requests
#                                 (GET /control/stats, field "traffic")
#   served_total                  the same summed over every app incarnation
#                                 started so far, from their request logs
#
# HAProxy's backend has `retries 0` and no `option redispatch` on purpose:
# with them HAProxy would hide a request sent to a dead server by sending it
# again (same server for retries, another for redispatch), and the point is
# that the drain alone avoids any loss. A real deployment usually has both,
# which only helps.
BOUNCE_MODE=
FE_PORT=
declare -A P_APP P_ADMIN P_AGENT INST_PID INST_DRAIN INST_ADAPTIVE INST_LOG INST_ERR
INST_ERRS=()
LOAD_PID=
LOAD_OUT=
LOAD_LOG=
# load_report's keys, as LOAD_<key> after load_stop (read by the scripts)
# shellcheck disable=SC2034
{
    LOAD_total='' LOAD_ok='' LOAD_non2xx='' LOAD_errors='' LOAD_codes='' LOAD_errs=''
    LOAD_servers='' LOAD_fail_servers='' LOAD_p50_ms='' LOAD_p99_ms='' LOAD_max_ms=''
    LOAD_btotal='' LOAD_bfail='' LOAD_bp99_ms='' LOAD_fails='' LOAD_rate=''
    LOAD_leaked='' LOAD_leaks=''
}
EVENTS=$T/bounce-events
: >"$EVENTS"

bounce_init() {
    local n
    BOUNCE_MODE=$1
    for n in a b; do
        P_APP[$n]=$(free_port)
        P_ADMIN[$n]=$(free_port)
        P_AGENT[$n]=$(free_port)
    done
    FE_PORT=$(free_port)
}

# event KIND NAME: one "EPOCH_MS KIND NAME" line for load_report's windows.
event() {
    echo "$(now_ms) $1 $2" >>"$EVENTS"
}

inst_start() {
    local n=$1 d=$2 agent=()
    shift 2
    local backend=(--backend "file:$REG_DIR")
    [ "$BOUNCE_MODE" = agent ] && agent=(--agent-port "${P_AGENT[$n]}")
    [ "$BOUNCE_MODE" = zk ] && backend=(--backend "zk://$ZK_ADDR" --ttl-seconds 10)
    start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
        --instance main --port "${P_APP[$n]}" --host 127.0.0.1 --instance-id "bounce-$n" \
        "${backend[@]}" --admin "127.0.0.1:${P_ADMIN[$n]}" --interval-ms 200 \
        --drain-seconds "$d" --grace-seconds 5 "${agent[@]}" "$@" \
        -- "$DEMO" --port "${P_APP[$n]}"
    INST_PID[$n]=$MESHREG_PID
    INST_ERRS+=("$MESHREG_ERR")
    INST_ERR[$n]=$MESHREG_ERR
    INST_DRAIN[$n]=$d
    INST_ADAPTIVE[$n]=
    case " $* " in *" --adaptive-drain "*) INST_ADAPTIVE[$n]=1 ;; esac
    INST_LOG[$n]=$MESHREG_LOG
}

# _server_line NAME: HAProxy's server line for instance NAME. Checks every
# 100 ms, one failed check takes the server out, one good one puts it back.
_server_line() {
    local n=$1
    if [ "$BOUNCE_MODE" = zk ]; then
        # no check: in maintenance until the znode watcher says ready
        echo "server $n 127.0.0.1:${P_APP[$n]} disabled"
    elif [ "$BOUNCE_MODE" = agent ]; then
        echo "server $n 127.0.0.1:${P_APP[$n]} check inter 100 fall 1 rise 1" \
            "agent-check agent-port ${P_AGENT[$n]} agent-inter 100ms"
    else
        echo "server $n 127.0.0.1:${P_APP[$n]} check port ${P_ADMIN[$n]} inter 100 fall 1 rise 1"
    fi
}

bounce_haproxy_start() {
    local chk='' out n
    [ "$BOUNCE_MODE" = httpchk ] && chk="option httpchk GET /health"
    start_haproxy "
backend app
    balance roundrobin
    retries 0
    $chk
    # which server answered (or was tried, for HAProxy's own 503s)
    http-after-response set-header X-Served-By %s
    $(_server_line a)
    $(_server_line b)
frontend fe
    bind 127.0.0.1:$FE_PORT
    default_backend app
"
    bw_start
    [ "$BOUNCE_MODE" = zk ] && _syn_start
    for n in a b; do
        if out=$(bw_wait "$n" "$(_up_re)" 0 10); then
            ok "HAProxy: server $n UP"
        else
            fail "HAProxy: server $n UP" "status after 10 s: $out"
            show_log "${INST_LOG[$n]}"
            finish
        fi
    done
}

# app_traffic NAME: requests the app answered as traffic (not /status, not
# /control), by its own count; empty when it does not answer.
app_traffic() {
    curl -s --max-time 2 "http://127.0.0.1:${P_APP[$1]}/control/stats" 2>/dev/null |
        sed -n 's/.*"traffic":\([0-9][0-9]*\).*/\1/p'
}

# ---------------------------------------------------------------- load

# The load generator: WORKERS_KA threads on keep-alive connections and
# WORKERS_CLOSE threads opening a connection per request, each paced to at
# most RATE req/s, until SIGTERM or MAX_S seconds. Every request is one line
# "START_MS LATENCY_US RESULT SERVER KIND" (RESULT = HTTP status or E:Error)
# in OUT, written at exit. A keep-alive connection the proxy closed under a
# request is an error like any other: the client would have to retry.
_LOADGEN_PY='import http.client, signal, sys, threading, time
port, path = int(sys.argv[1]), sys.argv[2]
nka, ncl, rate, max_s = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
out = sys.argv[7]
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())

def worker(ka, recs):
    conn = None
    kind = "ka" if ka else "close"
    hdrs = {} if ka else {"Connection": "close"}
    nxt = time.time()
    while not stop.is_set():
        t0 = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            r.read()
            res = str(r.status)
            srv = r.getheader("X-Served-By") or "-"
            if not ka or r.will_close:
                conn.close()
                conn = None
        except Exception as e:
            res = "E:" + type(e).__name__
            srv = "-"
            if conn is not None:
                conn.close()
            conn = None
        t1 = time.time()
        recs.append("%d %d %s %s %s" % (t0 * 1000, (t1 - t0) * 1e6, res, srv, kind))
        nxt = max(nxt + 1.0 / rate, t1 - 0.1)
        d = nxt - time.time()
        if d > 0:
            stop.wait(d)
    if conn is not None:
        conn.close()

recs = [[] for _ in range(nka + ncl)]
ths = [threading.Thread(target=worker, args=(i < nka, recs[i]), daemon=True)
       for i in range(nka + ncl)]
for t in ths:
    t.start()
print("started", flush=True)
stop.wait(max_s)
stop.set()
for t in ths:
    t.join(7)
with open(out, "w") as f:
    for r in sorted(x for rs in recs for x in rs):
        f.write(r + "\n")
print("done", sum(len(r) for r in recs), flush=True)'

load_start() {
    local rate=${1:-120}
    LOAD_OUT=$T/load.$(now_ms).txt
    start_bg loadgen "$PY" -c "$_LOADGEN_PY" "$FE_PORT" / 2 2 "$rate" "${LOAD_MAX_S:-60}" "$LOAD_OUT"
    LOAD_PID=$BG_PID
    LOAD_LOG=$BG_OUT
    if ! wait_for 10 grep -q started "$LOAD_LOG"; then
        fail "load generator starts" "$(head -c 300 "$BG_ERR")"
        finish
    fi
}

load_stop() {
    local k v
    [ -n "$LOAD_PID" ] || return 0
    kill -TERM "$LOAD_PID" 2>/dev/null
    if ! wait_exit "$LOAD_PID" 10; then
        fail "load generator stops" "still running 10 s after SIGTERM"
        stop_pid "$LOAD_PID" KILL
    fi
    LOAD_PID=
    while IFS='=' read -r k v; do
        [ -n "$k" ] && printf -v "LOAD_$k" '%s' "$v"
    done < <(load_report "$LOAD_OUT" "$EVENTS")
}

# load_report REQUESTS_FILE EVENTS_FILE: key=value lines:
#   total ok non2xx errors   requests; 2xx; other statuses; no HTTP answer
#   codes errs               "503:12 ..." / "ConnectionResetError:1 ..."
#   servers                  "a:123 b:456" (X-Served-By of the 2xx answers)
#   fail_servers             the same for the failures (HAProxy names the
#                            server it tried in its own 503s)
#   p50_ms p99_ms max_ms     latency of all requests
#   btotal bfail bp99_ms     the same within the bounce windows (a SIGTERM
#                            to the same instance being UP again + 1 s)
#   fails                    up to 5 failures as "RESULT@+MS_AFTER_SIGTERM/SERVER"
#   leaked                   2xx answers from a server for requests sent after
#                            the watcher saw HAProxy take it out (+5 ms: HAProxy's
#                            threads apply a state change at their next sync
#                            point) and before its new instance was started
#                            (must be 0: the client's start time is before
#                            HAProxy picks the server, the watcher's time after
#                            HAProxy's change)
#   leaks                    up to 5 of them as "+MS_AFTER_OUT/SERVER"
#   rate                     requests per second over the run
_REPORT_PY='import sys
reqs = []
for line in open(sys.argv[1]):
    t, lat, res, srv, kind = line.split()
    reqs.append((int(t), int(lat), res, srv))
ev = [l.split() for l in open(sys.argv[2])]
wins = []
outs = []
for i, (t, kind, name) in enumerate(ev):
    if kind == "out":
        end = None
        for t2, k2, n2 in ev[i + 1:]:
            if k2 == "restart" and n2 == name:
                end = int(t2)
                break
        outs.append((int(t), end if end is not None else 1 << 62, name))
    if kind != "sigterm":
        continue
    end = None
    for t2, k2, n2 in ev[i + 1:]:
        if k2 == "up" and n2 == name:
            end = int(t2) + 1000
            break
    wins.append((int(t), end if end is not None else 1 << 62))

def pct(lats, p):
    if not lats:
        return 0.0
    s = sorted(lats)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))] / 1000.0

def inwin(t):
    for a, b in wins:
        if a <= t <= b:
            return a
    return None

codes, errs, servers, fsrv = {}, {}, {}, {}
fails = []
ok = non2xx = nerr = 0
blat, bfail = [], 0
for t, lat, res, srv in reqs:
    w = inwin(t)
    if w is not None:
        blat.append(lat)
    if res.startswith("E:"):
        nerr += 1
        errs[res[2:]] = errs.get(res[2:], 0) + 1
    elif res.startswith("2"):
        ok += 1
        servers[srv] = servers.get(srv, 0) + 1
        continue
    else:
        non2xx += 1
        codes[res] = codes.get(res, 0) + 1
    fsrv[srv] = fsrv.get(srv, 0) + 1
    if w is not None:
        bfail += 1
    if len(fails) < 5:
        last = max([a for a, b in wins if a <= t] or [t])
        fails.append("%s@+%d/%s" % (res, t - last, srv))
leaks = []
for t, lat, res, srv in reqs:
    if res.startswith("2"):
        for a, b, name in outs:
            if srv == name and a + 5 < t < b:
                leaks.append("+%d/%s" % (t - a, srv))
lats = [r[1] for r in reqs]
span = (reqs[-1][0] - reqs[0][0]) / 1000.0 if len(reqs) > 1 else 0
kv = lambda d: " ".join("%s:%d" % x for x in sorted(d.items()))
print("total=%d" % len(reqs))
print("ok=%d" % ok)
print("non2xx=%d" % non2xx)
print("errors=%d" % nerr)
print("codes=%s" % kv(codes))
print("errs=%s" % kv(errs))
print("servers=%s" % kv(servers))
print("fail_servers=%s" % kv(fsrv))
print("p50_ms=%.1f" % pct(lats, 50))
print("p99_ms=%.1f" % pct(lats, 99))
print("max_ms=%.1f" % (max(lats) / 1000.0 if lats else 0))
print("btotal=%d" % len(blat))
print("bfail=%d" % bfail)
print("bp99_ms=%.1f" % pct(blat, 99))
print("fails=%s" % " ".join(fails))
print("leaked=%d" % len(leaks))
print("leaks=%s" % " ".join(leaks[:5]))
print("rate=%d" % (len(reqs) / span if span else 0))'

load_report() {
    "$PY" -c "$_REPORT_PY" "$1" "$2"
}

# ---------------------------------------------------------------- watching

# One watcher (tests/fixtures/e2e/hap_stat.py watch-all) polls HAProxy's
# `show stat` every 10 ms for the whole test and writes "EPOCH_MS SERVER
# STATUS" on every change of a server of backend `app` to $BW_OUT: waiting
# on it costs a grep, not a Python start-up (which takes most of a second on
# a busy box).
BW_OUT=
BW_PID=

bw_start() {
    start_bg bwatch "$PY" "$FIXTURES/hap_stat.py" "$HAP_SOCK" watch-all app
    BW_OUT=$BG_OUT
    BW_PID=$BG_PID
}

# _bw_seen NAME ERE SINCE_MS: prints "DELTA_MS STATUS" of the first status
# of NAME matching ERE (whole status, spaces as _) logged at or after SINCE_MS.
_bw_seen() {
    awk -v sv="$1" -v re="^($2)\$" -v t0="$3" '$1 >= t0 && $2 == sv && $3 ~ re {
        print $1 - t0, $3; found = 1; exit } END { exit !found }' "$BW_OUT"
}

# bw_wait NAME ERE SINCE_MS TIMEOUT_S: waits for it; prints it, or the last
# status seen, and returns 1 on timeout.
bw_wait() {
    if wait_for "$4" _bw_seen "$1" "$2" "$3"; then
        _bw_seen "$1" "$2" "$3"
    else
        echo "$(awk -v sv="$1" '$2 == sv { st = $3 } END { print st }' "$BW_OUT") after ${4} s"
        return 1
    fi
}

# ---------------------------------------------------------------- bounce

# _out_re: the statuses of a server HAProxy sends no new request to.
_out_re() {
    if [ "$BOUNCE_MODE" = agent ]; then echo 'DRAIN.*|DOWN.*|MAINT.*'; else echo 'DOWN.*|MAINT.*'; fi
}

# _up_re: a server taking traffic (without a check of its own: no_check).
_up_re() {
    if [ "$BOUNCE_MODE" = zk ]; then echo 'UP|no_check'; else echo UP; fi
}

# zk mode: the synapse-style driver (tests/fixtures/e2e/synapse_haproxy.py)
# watching the service's znodes and setting HAProxy's servers ready/maint.
SYN_OUT=
SYN_PID=
_syn_start() {
    start_bg synapse /usr/bin/python3 "$ROOT/tests/fixtures/e2e/synapse_haproxy.py" \
        --delay-ms "${SYN_DELAY_MS:-0}" "$ZK_ADDR" \
        "/smartstack/global/$SVC.main" "$HAP_SOCK" app "a=${P_APP[a]}" "b=${P_APP[b]}"
    SYN_OUT=$BG_OUT
    SYN_PID=$BG_PID
    if ! wait_for 15 grep -q started "$SYN_OUT"; then
        fail "synapse-style watcher starts" "$(head -c 300 "$BG_ERR")"
        finish
    fi
}

# served_total: every app incarnation's count of proxied requests it
# answered, from its own request log (a line per request on stderr, which
# meshreg's child inherits): exact even for the ones already stopped.
served_total() {
    cat "${INST_ERRS[@]}" | grep -c ': GET / -> 200$'
}

# bounce NAME NEW_DRAIN_S: see the header.
bounce() {
    local n=$1 nd=$2 pid=${INST_PID[$1]} d=${INST_DRAIN[$1]} ad=${INST_ADAPTIVE[$1]}
    local other t0 t1 out dt s1 s2 ob0 ob1 log=${INST_LOG[$1]} exited_at= exit_code=
    shift 2
    other=a
    [ "$n" = a ] && other=b
    ob0=$(app_traffic "$other")
    t0=$(now_ms)
    event sigterm "$n"
    kill -TERM "$pid"
    if out=$(bw_wait "$n" "$(_out_re)" "$t0" 5); then
        # when the watcher saw it out: HAProxy took it out at or before this
        echo "$((t0 + ${out%% *})) out $n" >>"$EVENTS"
        ok "bounce $n (drain ${d} s${ad:+, adaptive}): HAProxy takes it out (${out/ / ms: })"
    else
        fail "bounce $n (drain ${d} s${ad:+, adaptive}): HAProxy takes it out" "status: $out"
    fi
    if [ "$d" -ge 1 ] && [ -z "$ad" ]; then
        # In-flight requests finish within milliseconds; after that the app
        # must see no new request while it still runs.
        sleep 0.2
        s1=$(app_traffic "$n")
        t1=$(now_ms)
        sleep 0.5
        s2=$(app_traffic "$n")
        local how="at $((t1 - t0))..$(($(now_ms) - t0)) ms"
        # On a loaded host the second read can come after the window, when
        # the app is gone: its last words then give the final count, which
        # covers the rest of the window too.
        if [ -n "$s1" ] && [ -z "$s2" ] && wait_exit "$pid" 10; then
            exited_at=$(now_ms) exit_code=$EXIT_CODE
            s2=$(sed -n 's/^demoapp: stopped after [0-9]* requests, traffic \([0-9]*\)$/\1/p' \
                "${INST_ERR[$n]}" | tail -1)
            how="from $((t1 - t0)) ms to the app's exit (its final count)"
        fi
        if [ -n "$s1" ] && [ "$s1" = "$s2" ]; then
            ok "bounce $n: no new request reaches it while it drains (${s2} served, ${how})"
        else
            fail "bounce $n: no new request reaches it while it drains" \
                "traffic counter '${s1}' then '${s2}' at $((t1 - t0))..$(($(now_ms) - t0)) ms after SIGTERM"
        fi
    fi
    if [ -n "$ad" ] && wait_exit "$pid" 5; then
        dt=$(($(now_ms) - t0))
        if [ "$EXIT_CODE" = 0 ] && [ "$dt" -lt $((d * 1000 / 2)) ] &&
            grep -q "${BOUNCE_ADAPTIVE_RE:-adaptive drain: all 1 polling load balancer}" "$log"; then
            ok "bounce $n: the adaptive window ended once HAProxy had seen the drain (${dt} ms of ${d} s): $(grep -o 'adaptive drain: .*' "$log")"
        else
            fail "bounce $n: the adaptive window ends once HAProxy has seen the drain" \
                "exit status $EXIT_CODE after ${dt} ms (window ${d} s); $(grep -o 'adaptive drain: .*' "$log")"
        fi
    elif [ -z "$ad" ] && { [ -n "$exited_at" ] ||
        { wait_exit "$pid" $((d + 8)) && exited_at=$(now_ms) exit_code=$EXIT_CODE; }; }; then
        dt=$((exited_at - t0))
        if [ "$exit_code" = 0 ] && [ "$dt" -ge $((d * 1000)) ]; then
            ok "bounce $n: meshreg stopped the app after the window and exited 0 (${dt} ms)"
        else
            fail "bounce $n: meshreg stopped the app after the window and exited 0" \
                "exit status $exit_code after ${dt} ms (window ${d} s)"
        fi
    else
        fail "bounce $n: meshreg exits after the window" "still running"
    fi
    ob1=$(app_traffic "$other")
    if [ -n "$ob0" ] && [ -n "$ob1" ] && [ "$ob1" -gt "$ob0" ]; then
        ok "bounce $n: $other took the traffic ($ob0 -> $ob1)"
    else
        fail "bounce $n: $other took the traffic" "traffic counter '${ob0}' -> '${ob1}'"
    fi
    t1=$(now_ms)
    event restart "$n"
    inst_start "$n" "$nd" "$@"
    if out=$(bw_wait "$n" "$(_up_re)" "$t1" 10); then
        event up "$n"
        ok "bounce $n: the new $n is UP in HAProxy ($(($(now_ms) - t0)) ms after SIGTERM)"
    else
        fail "bounce $n: the new $n comes back UP" "status: $out"
        show_log "$MESHREG_LOG"
        return 1
    fi
    if wait_for 5 _traffic_gt "$n" 0; then
        ok "bounce $n: the new $n serves traffic"
    else
        fail "bounce $n: the new $n serves traffic" "its counter: '$(app_traffic "$n")'"
    fi
}

_traffic_gt() {
    local v
    v=$(app_traffic "$1")
    [ -n "$v" ] && [ "$v" -gt "$2" ]
}

bounce_stop_all() {
    local n
    [ -n "$BW_PID" ] && stop_pid "$BW_PID"
    BW_PID=
    [ -n "$SYN_PID" ] && stop_pid "$SYN_PID"
    SYN_PID=
    stop_haproxy
    for n in a b; do
        [ -n "${INST_PID[$n]:-}" ] && stop_pid "${INST_PID[$n]}"
        INST_PID[$n]=
    done
}
