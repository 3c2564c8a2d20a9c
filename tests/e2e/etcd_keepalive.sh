#!/usr/bin/env bash
# README "Backend credentials" (kept-alive connections): a sidecar with a 2 s lease (a
# keepalive every ~0.7 s) registered with a real etcd, plain and over TLS with a client
# certificate. Over 8 s etcd sees one connection from it, counted twice: by the kernel (ss:
# a connection closed gracefully in the window leaves a TIME_WAIT socket on etcd's port for
# 60 s, an open one is an established socket of the sidecar's pid; a TLS connection closed
# with unread bytes ends in a RST and leaves nothing, hence also) by the sidecar's connect()
# calls to etcd's port (strace). Without keep-alive each request is a connection (~12 in the
# window, plain and TLS). Meanwhile keepalives succeed (the
# key outlives four TTLs). SIGHUP closes the connection and reads the TLS files again: a
# client certificate replaced in place by one etcd does not trust is refused at once
# ("TLS failed"), and putting the good one back registers again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
command -v ss >/dev/null || skip_all "no ss (iproute2)"
command -v strace >/dev/null || skip_all "no strace"
C=$T/certs
tls_make_certs "$C"
check "openssl made the certificates" [ $? = 0 ]
export ETCDCTL_API=3
WINDOW=8
need_etcd
PLAIN=$ETCD_ADDR
unset ETCD_ADDR
need_etcd --tls "$C"
TLS=$ETCD_ADDR
PREFIX=/e2e-ka-$$

# TIME_WAIT sockets on port P (either side), one "local peer" line each.
time_waits() { ss -Htn state time-wait "( sport = :$1 or dport = :$1 )" | awk '{print $3, $4}' | sort; }
# The sidecar's established connections to port P.
established() { ss -Htnp state established "( dport = :$1 )" | grep "pid=$MESHREG_PID," | awk '{print $3, $4}' | sort; }
state() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['state']"; }
connected() { [ "$(state)" = connected ]; }
problem() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['problem'] or ''"; }

# window NAME PORT: counts the connections over WINDOW seconds of an idle registered sidecar.
window() {
    local name=$1 port=$2 tw0 tw1 est0 est1 closed open st connects
    wait_for 5 connected
    strace -f -qq -e trace=connect -e signal=none -o "$T/connect.$port" -p "$MESHREG_PID" &
    st=$!
    sleep 1 # strace attached; past the start (grant, put)
    tw0=$(time_waits "$port")
    est0=$(established "$port")
    sleep "$WINDOW"
    tw1=$(time_waits "$port")
    est1=$(established "$port")
    kill "$st"
    wait "$st" 2>/dev/null
    closed=$(comm -13 <(echo "$tw0") <(echo "$tw1") | grep -c .)
    open=$(grep -c . <<<"$est1")
    check_between "$name: connections etcd saw in $WINDOW s (ss): $((closed + open)) ($closed closed, $open open)" \
        "$((closed + open))" 1 2
    connects=$(grep -c "sin_port=htons($port)" "$T/connect.$port")
    check_between "$name: connect() calls to etcd in $((WINDOW + 1)) s (strace): $connects" "$connects" 0 1
    check_eq "$name: the same connection(s) from start to end" "$est1" "$est0"
    check_eq "$name: keepalives succeeded: /status connected" "$(state)" connected
    check "$name: keepalives succeeded: the key outlived four 2 s TTLs" has_key
    EST=$est1
}

# -- plain etcd://
ctl() { etcdctl --endpoints="$PLAIN" --dial-timeout=1s --command-timeout=2s "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)")" ]; }
start_sidecar --backend "etcd://$PLAIN$PREFIX" --ttl-seconds 2
window "etcd://" "${PLAIN##*:}"
kill -HUP "$MESHREG_PID"
_new_conn() { e=$(established "${PLAIN##*:}") && [ -n "$e" ] && [ "$e" != "$EST" ]; }
check "etcd://: SIGHUP: the kept connection replaced by a new one" wait_for 3 _new_conn
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6

# -- etcds:// with a client certificate (the files meshreg reads are copies we replace)
ctl() {
    etcdctl --endpoints="https://$TLS" --cacert "$C/ca.pem" --cert "$C/client.pem" \
        --key "$C/client-key.pem" --dial-timeout=1s --command-timeout=2s "$@"
}
cp "$C/client.pem" "$T/cur.pem" && cp "$C/client-key.pem" "$T/cur-key.pem"
start_sidecar --backend "etcds://$TLS$PREFIX" --ttl-seconds 2 --backend-cacert "$C/ca.pem" \
    --backend-cert "$T/cur.pem" --backend-key "$T/cur-key.pem"
window "etcds://" "${TLS##*:}"
cp "$C/otherclient.pem" "$T/cur.pem" && cp "$C/otherclient-key.pem" "$T/cur-key.pem"
kill -HUP "$MESHREG_PID"
_tls_failed() { [ "$(problem)" = "TLS failed" ]; }
check "etcds://: SIGHUP with a client certificate from another CA: refused at once (TLS failed)" \
    wait_for 3 _tls_failed
cp "$C/client.pem" "$T/cur.pem" && cp "$C/client-key.pem" "$T/cur-key.pem"
kill -HUP "$MESHREG_PID"
check "etcds://: SIGHUP with the good certificate again: connected" wait_for 8 connected
check "etcds://: ... and the key is there (again)" wait_for 5 has_key
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6
finish
