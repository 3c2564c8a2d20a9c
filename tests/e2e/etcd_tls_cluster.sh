#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; etcd_tls.sh runs under the sanitizers)
# README "Backend credentials", etcds:// against a 3-member etcd cluster serving clients over
# TLS with --client-cert-auth: meshreg registers through the first endpoint; that member
# killed, it fails over to another endpoint of the URI (a new TLS connection, the same
# verification) and a registration change goes through; /status shows no problem.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
tls_etcd --cluster
PREFIX=/e2e-tlsc-$$
base=$(cat "$ETCD_DIR/base")
alive_eps() {
    local i eps=
    for i in 0 1 2; do
        [ -f "$ETCD_DIR/member$i.pid" ] && eps="${eps:+$eps,}https://127.0.0.1:$((base + i))"
    done
    echo "$eps"
}
ctl() {
    etcdctl --endpoints="$(alive_eps)" --cacert "$C/ca.pem" --cert "$C/client.pem" \
        --key "$C/client-key.pem" --dial-timeout=1s --command-timeout=3s "$@"
}
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)" 2>/dev/null)" ]; }
no_key() { ! has_key; }
bstatus() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['$1']"; }

DRAIN_S=1 start_sidecar --backend "etcds://$ETCD_ADDR$PREFIX" --ttl-seconds 3 \
    --backend-cacert "$C/ca.pem" --backend-cert "$C/client.pem" --backend-key "$C/client-key.pem"
check "registered in the TLS cluster" wait_for 5 has_key
# The member meshreg talks to (any of the three: sidecars spread their start).
used=$(bstatus detail | grep -o "127\.0\.0\.1:[0-9]* lease" | head -n 1 | cut -d' ' -f1)
idx=$((${used##*:} - base))
check "/status: through one of the cluster's endpoints ($used)" [ "$idx" -ge 0 -a "$idx" -le 2 ]
"$ROOT/scripts/etcd-stop" --member "$idx" "$ETCD_DIR" >/dev/null
rm -f "$ETCD_DIR/member$idx.pid"
_moved() { [ "$(bstatus state)" = connected ] && ! grep -q "$used " <<<"$(bstatus detail)"; }
check "member $idx killed: meshreg moved to another endpoint over TLS" wait_for 8 _moved
http_post "$ADMIN_URL/drain" >/dev/null
check "drain through the new endpoint: key deleted" wait_for 5 no_key
http_post "$ADMIN_URL/undrain" >/dev/null
check "undrain: key back" wait_for 5 has_key
check_eq "/status: no problem" "$(bstatus problem)" null
finish
