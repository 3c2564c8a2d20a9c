#!/usr/bin/env bash
# valgrind over the etcd backend's kept-alive connections (README "Backend credentials"):
# etcds:// with a client certificate and a 2 s lease, a first endpoint that refuses (the move
# to the next one closes the pool), keepalives on one kept connection, a SIGHUP (TLS files
# read again, a new context while the old one may serve a request in flight), then SIGTERM
# (the lease revoked on the kept connection) and exit: no leak, no memory error. Skipped
# for the sanitizer build.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
command -v valgrind >/dev/null || { fail "valgrind installed" "scripts/install-deps installs it"; finish; }
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    skip_all "sanitizer build (ASan does the leak check there)"
fi
C=$T/certs
tls_make_certs "$C"
check "openssl made the certificates" [ $? = 0 ]
need_etcd --tls "$C"
export ETCDCTL_API=3
PREFIX=/e2e-vg-$$
ctl() {
    etcdctl --endpoints="https://$ETCD_ADDR" --cacert "$C/ca.pem" --cert "$C/client.pem" \
        --key "$C/client-key.pem" --dial-timeout=1s --command-timeout=2s "$@"
}
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)")" ]; }
no_key() { [ -z "$(ctl get --print-value-only "$(key)")" ]; }
VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no"

APP_PORT=$(free_port)
start_demo "$APP_PORT"
BIN_REAL=$BIN
BIN=/bin/sh # start_meshreg runs "$BIN" ARGS: wrap the real binary in valgrind
start_meshreg -c "exec $VG --log-file=$T/vg.log \"\$@\"" valgrind-meshreg "$BIN_REAL" run \
    --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --instance main --port "$APP_PORT" \
    --host 127.0.0.1 --instance-id "$IID" --backend "etcds://127.0.0.1:$(free_port),$ETCD_ADDR$PREFIX" \
    --backend-cacert "$C/ca.pem" --backend-cert "$C/client.pem" --backend-key "$C/client-key.pem" \
    --ttl-seconds 2 --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 1
BIN=$BIN_REAL
wait_meshreg 20
check "registered under valgrind" wait_for 15 has_key
sleep 3 # keepalives on the kept connection
kill -HUP "$MESHREG_PID"
sleep 2
check "still registered after SIGHUP" has_key
kill -TERM "$MESHREG_PID"
if wait_exit "$MESHREG_PID" 30; then
    check_eq "clean exit under valgrind (99 = leak or memory error)" "$EXIT_CODE" 0
else
    fail "exits under valgrind" "still running"
fi
check "SIGTERM: key deleted" no_key
if [ -s "$T/vg.log" ]; then
    fail "valgrind report empty" "see below"
    show_log "$T/vg.log" 40
else
    ok "valgrind report empty"
fi
finish
