#!/usr/bin/env bash
# README "Backend credentials", etcds://: a real etcd serving clients over TLS with
# --client-cert-auth (certificates made here with the openssl CLI: a CA, a server certificate
# for 127.0.0.1, client certificates, and a second CA). The right CA + client certificate
# registers (checked with etcdctl); no client certificate, the wrong CA, a client certificate
# from another CA and a host name the certificate does not carry are each refused with a TLS
# error naming the endpoint (never "cannot connect"), while /health keeps answering.
# `meshreg check` parses the files without connecting: a missing file, a key that does not
# match, and a client certificate expiring within 14 days (a warning).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
tls_etcd
PREFIX=/e2e-tls-$$
detail() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['detail'] + ' | ' + j['backend']['last_error']"; }
MTLS=(--backend-cacert "$C/ca.pem" --backend-cert "$C/client.pem" --backend-key "$C/client-key.pem")

start_sidecar --backend "etcds://$ETCD_ADDR$PREFIX" --ttl-seconds 3 "${MTLS[@]}"
check "mutual TLS: registered" wait_for 5 has_key
check_eq "mutual TLS: /status connected" "$(http_get "$ADMIN_URL/status" | json_get - "j['backend']['state']")" connected
exp=$(http_get "$ADMIN_URL/metrics" | sed -n 's/^meshreg_backend_tls_client_cert_expiry_seconds //p')
now=$(date +%s)
check_between "metric: client certificate expiry in ~30 days ($exp)" "$(( (${exp:-0} - now) / 86400 ))" 29 30
check_eq "/status: the same expiry" "$(http_get "$ADMIN_URL/status" | json_get - "j['backend'].get('tls_client_cert_expires')")" "$exp"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6
check "SIGTERM: key deleted over TLS" no_key

# refused: each case names TLS and the endpoint; probing and /health carry on
refused() { # NAME WANT ARGS...
    local name=$1 want=$2 d
    shift 2
    START_WAIT=healthy start_sidecar --ttl-seconds 3 "$@"
    _has() { d=$(detail) && grep -q "$want" <<<"$d"; }
    if wait_for 5 _has; then ok "$name: $d"; else fail "$name" "status: $(detail)"; fi
    check "$name: names the endpoint" grep -q "127.0.0.1:${ETCD_ADDR##*:}\|localhost:${ETCD_ADDR##*:}" <<<"$d"
    check "$name: not a connection failure" eval '! grep -qi "connection refused\|cannot connect" <<<"$d"'
    check_eq "$name: /health 200 meanwhile" "$(http_code "$ADMIN_URL/health")" 200
    check_eq "$name: /status problem" "$(http_get "$ADMIN_URL/status" | json_get - "j['backend']['problem']")" "TLS failed"
    check "$name: /metrics problem" grep -q 'meshreg_backend_problem{problem="TLS failed"} 1' <<<"$(http_get "$ADMIN_URL/metrics")"
    check "$name: no key" no_key
    kill -TERM "$MESHREG_PID"
    wait_exit "$MESHREG_PID" 6
}
refused "no client certificate" "certificate" --backend "etcds://$ETCD_ADDR$PREFIX" \
    --backend-cacert "$C/ca.pem"
refused "wrong CA" "certificate verify failed" --backend "etcds://$ETCD_ADDR$PREFIX" \
    --backend-cacert "$C/otherca.pem" --backend-cert "$C/client.pem" --backend-key "$C/client-key.pem"
refused "client certificate from another CA" "certificate\|alert" --backend "etcds://$ETCD_ADDR$PREFIX" \
    --backend-cacert "$C/ca.pem" --backend-cert "$C/otherclient.pem" --backend-key "$C/otherclient-key.pem"
refused "host name not in the certificate (localhost vs IP:127.0.0.1)" "certificate verify failed" \
    --backend "etcds://localhost:${ETCD_ADDR##*:}$PREFIX" "${MTLS[@]}"

# meshreg check: files parsed, nothing connected
chk() { meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "etcds://192.0.2.10:2379/p" "$@" 2>&1; }
out=$(chk "${MTLS[@]}")
check_eq "check: good files, exit 0 (no connection to 192.0.2.10)" "$?" 0
out=$(chk --backend-cacert "$T/nope.pem")
check_eq "check: missing CA file: exit 2" "$?" 2
check "check: ... names the file" grep -q "$T/nope.pem" <<<"$out"
out=$(chk --backend-cacert "$C/ca.pem" --backend-cert "$C/client.pem" --backend-key "$C/otherclient-key.pem")
check_eq "check: key of another certificate: exit 2" "$?" 2
check "check: ... says it does not match" grep -q "does not match the certificate" <<<"$out"
out=$(chk --backend-cacert "$C/ca.pem" --backend-cert "$C/client-key.pem" --backend-key "$C/client-key.pem")
check_eq "check: a key given as the certificate: exit 2" "$?" 2
out=$(chk --backend-cacert "$C/ca.pem" --backend-cert "$C/shortclient.pem" --backend-key "$C/shortclient-key.pem")
check_eq "check: certificate expiring in 5 days: exit 0" "$?" 0
check "check: ... with a warning" grep -q "shortclient.pem: warning: the client certificate expires within 14 days" <<<"$out"
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "etcd://127.0.0.1:2379/p" --backend-cacert "$C/ca.pem" 2>&1)
check_eq "check: TLS files with plain etcd://: exit 2" "$?" 2
finish
