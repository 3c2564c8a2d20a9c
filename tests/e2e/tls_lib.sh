# shellcheck shell=bash
# Test certificates for the TLS end-to-end tests (etcd_tls*.sh), made with the openssl CLI.
# Source it after lib.sh. tls_make_certs DIR writes into DIR: two CAs (ca, otherca), a server
# certificate for IP:127.0.0.1 (server), client certificates from ca (client, shortclient
# expiring in 5 days) and one from otherca (otherclient); each NAME.pem with NAME-key.pem.
# tls_etcd [ARGS]: those certificates in C=$T/certs (checked), then need_etcd ARGS --tls $C
# (a real etcd serving clients over TLS with --client-cert-auth) and ETCDCTL_API=3.
command -v openssl >/dev/null || skip_all "no openssl CLI"

_tls_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
_tls_ca() { # DIR NAME
    _tls_key "$1/$2-key.pem" &&
        openssl req -x509 -new -key "$1/$2-key.pem" -out "$1/$2.pem" -days 30 -subj "/CN=$2" 2>/dev/null
}
_tls_cert() { # DIR NAME CA DAYS EXT
    _tls_key "$1/$2-key.pem" &&
        openssl req -new -key "$1/$2-key.pem" -out "$1/$2.csr" -subj "/CN=$2" 2>/dev/null &&
        printf '%s\n' "$5" >"$1/$2.ext" &&
        openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" -CAkey "$1/$3-key.pem" -CAcreateserial \
            -out "$1/$2.pem" -days "$4" -extfile "$1/$2.ext" 2>/dev/null
}
tls_make_certs() { # DIR
    mkdir -p "$1" &&
        _tls_ca "$1" ca && _tls_ca "$1" otherca &&
        _tls_cert "$1" server ca 30 "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
        _tls_cert "$1" client ca 30 "extendedKeyUsage=clientAuth" &&
        _tls_cert "$1" shortclient ca 5 "extendedKeyUsage=clientAuth" &&
        _tls_cert "$1" otherclient otherca 30 "extendedKeyUsage=clientAuth"
}

tls_etcd() {
    C=$T/certs
    tls_make_certs "$C"
    check "openssl made a CA, a server certificate for 127.0.0.1 and client certificates" [ $? = 0 ]
    need_etcd "$@" --tls "$C"
    export ETCDCTL_API=3
}

# After tls_etcd, the single TLS etcd as the tests read it: etcdctl with the
# client certificate, and the record's key under $PREFIX (present / absent).
ctl() {
    etcdctl --endpoints="https://$ETCD_ADDR" --cacert "$C/ca.pem" --cert "$C/client.pem" \
        --key "$C/client-key.pem" --dial-timeout=1s --command-timeout=2s "$@"
}
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(ctl get --print-value-only "$(key)")" ]; }
no_key() { [ -z "$(ctl get --print-value-only "$(key)")" ]; }
