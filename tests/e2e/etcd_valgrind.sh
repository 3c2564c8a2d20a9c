#!/usr/bin/env bash
# valgrind over the etcd backend's kept-alive connections (README "Backend credentials"):
# etcds:// with a client certificate and a 2 s lease, a first endpoint that refuses (the move
# to the next one closes the pool), keepalives on one kept connection, a SIGHUP (TLS files
# read again, a new context while the old one may serve a request in flight), then SIGTERM
# (the lease revoked on the kept connection) and exit: no leak, no memory error. Skipped
# for the sanitizer build.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
. "$(dirname "$0")/valgrind_lib.sh"
tls_etcd
PREFIX=/e2e-vg-$$
vg_start_meshreg --backend "etcds://127.0.0.1:$(free_port),$ETCD_ADDR$PREFIX" \
    --backend-cacert "$C/ca.pem" --backend-cert "$C/client.pem" --backend-key "$C/client-key.pem" \
    --ttl-seconds 2 --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 1
check "registered under valgrind" wait_for 15 has_key
sleep 3 # keepalives on the kept connection
kill -HUP "$MESHREG_PID"
sleep 2
check "still registered after SIGHUP" has_key
vg_exit 30
check "SIGTERM: key deleted" no_key
vg_report_empty
finish
