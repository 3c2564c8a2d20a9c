# shellcheck shell=bash
# Helpers for the load-balancer end-to-end tests (tests/e2e/lb_*.sh): a real
# HAProxy (Debian's `haproxy`) started by the test itself in the foreground
# (`haproxy -f CFG -db`, its own process group, loopback ports only, killed
# at cleanup with everything else the test started); never a system service.
# Source it after lib.sh.
#
#   need_haproxy                  SKIP the test when there is no haproxy binary
#   start_haproxy CFG_BODY        writes $T/haproxy.cfg = a global section with
#                                 the stats socket $HAP_SOCK + defaults + CFG_BODY,
#                                 checks it (haproxy -c), starts it, waits for the
#                                 stats socket. Sets HAP_PID.
#   stop_haproxy                  soft stop (SIGUSR1), SIGKILL after 3 s; stops
#                                 the watcher too
#   hap_status PX SV              the server's status column ("UP", "DOWN",
#                                 "DRAIN (agent)", ...) from `show stat`
#   hap_field PX SV FIELD         any `show stat` column (check_status, agent_status, ...)
#   hap_field_is PX SV FIELD WANT that column equals WANT (for wait_for)
#   hap_wait PX SV REGEX SECONDS  polls `show stat` every 10 ms until the status
#                                 matches REGEX (Python re.fullmatch); prints the
#                                 milliseconds it took and the status; returns 1
#                                 on timeout (prints the last one)
#   hap_watch_start PX SV         a watcher in the background polling every 5 ms,
#                                 one "EPOCH_MS STATUS" line per change in $HAP_WATCH
#                                 (a poller started after the event would add
#                                 Python's start-up, 0.2 s on a busy box, to
#                                 every measurement)
#   check_hap_within NAME REGEX MAX_MS T0_MS
#                                 ok when the watcher saw the status become
#                                 REGEX (ERE, whole status) at or after T0_MS and
#                                 within MAX_MS of it (waits up to 5 s to say how late)
HAP_SOCK=$T/haproxy.sock
HAP_PID=
HAP_WATCH=
HAP_WATCH_PID=

need_haproxy() {
    command -v haproxy >/dev/null 2>&1 || skip_all "no haproxy binary (Debian package haproxy)"
}

start_haproxy() {
    cat >"$T/haproxy.cfg" <<EOF
global
    stats socket $HAP_SOCK mode 600 level admin
    stats timeout 5s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
$1
EOF
    if ! haproxy -c -q -f "$T/haproxy.cfg" >"$T/haproxy-check.out" 2>&1; then
        fail "haproxy accepts the generated config" "$(head -c 400 "$T/haproxy-check.out")"
        finish
    fi
    start_bg haproxy haproxy -f "$T/haproxy.cfg" -db
    HAP_PID=$BG_PID
    if ! wait_for 5 _hap_answers; then
        fail "haproxy starts" "no stats socket at $HAP_SOCK"
        show_log "$BG_ERR"
        finish
    fi
}

stop_haproxy() {
    [ -n "$HAP_WATCH_PID" ] && stop_pid "$HAP_WATCH_PID"
    [ -n "$HAP_PID" ] && stop_pid "$HAP_PID" USR1
    HAP_PID=
    HAP_WATCH_PID=
}

_hap_answers() {
    [ -S "$HAP_SOCK" ] && hap_status _none _none >/dev/null 2>&1
}

# The stats client: tests/fixtures/e2e/hap_stat.py (no socat needed).
hap_field() {
    python3 "$FIXTURES/hap_stat.py" "$HAP_SOCK" field "$1" "$2" "$3"
}

# hap_field_is PX SV FIELD WANT (for wait_for)
hap_field_is() {
    [ "$(hap_field "$1" "$2" "$3")" = "$4" ]
}

hap_status() {
    hap_field "$1" "$2" status
}

hap_wait() {
    python3 "$FIXTURES/hap_stat.py" "$HAP_SOCK" wait "$1" "$2" status "$3" "$4"
}

hap_watch_start() {
    start_bg hapwatch python3 "$FIXTURES/hap_stat.py" "$HAP_SOCK" watch "$1" "$2"
    HAP_WATCH=$BG_OUT
    HAP_WATCH_PID=$BG_PID
    wait_for 5 test -s "$HAP_WATCH"
}

# _hap_seen T0 REGEX: prints "DELTA_MS STATUS" of the first change at or
# after T0 to a status matching REGEX; fails when there is none yet.
_hap_seen() {
    awk -v t0="$1" -v re="^($2)\$" '$1 >= t0 {
        st = substr($0, index($0, " ") + 1)
        if (st ~ re) { print $1 - t0, st; found = 1; exit }
    } END { exit !found }' "$HAP_WATCH"
}

check_hap_within() {
    local name=$1 re=$2 max=$3 t0=$4 out ms
    if wait_for 5 _hap_seen "$t0" "$re" && out=$(_hap_seen "$t0" "$re"); then
        ms=${out%% *}
        if [ "$ms" -le "$max" ]; then
            ok "$name (${ms} ms: ${out#* })"
        else
            fail "$name" "took ${ms} ms (> ${max} ms)"
        fi
    else
        fail "$name" "not seen within 5 s; watcher saw: $(tail -n 3 "$HAP_WATCH" | tr '\n' ';')"
    fi
}

# fe_code URL: status of one request through HAProxy's frontend.
fe_code() {
    http_code "$1" --max-time 1
}
