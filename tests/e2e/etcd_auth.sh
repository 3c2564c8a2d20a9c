#!/usr/bin/env bash
# README "Backend credentials", etcd users: against a real etcd with auth enabled (etcdctl:
# root, a role with readwrite on the prefix), --backend-user with the right password
# registers (the key checked with etcdctl as root); a wrong password is "not authenticated",
# a user without a role on the prefix "permission denied", each with the record pending and
# /health still answering; a bump of the auth store (the token goes stale) is survived by
# authenticating again; a SIGHUP with the right password fixes a wrong one. The password
# never shows in the log, /status or /metrics. A password over plain etcd:// to a
# non-loopback endpoint is refused (exit 2) unless --backend-insecure-auth.
. "$(dirname "$0")/lib.sh"
need_etcd
export ETCDCTL_API=3
PREFIX=/e2e-auth-$$
ROOTPW=rootpw-$$
PW=etcd-pw-$$-secret
ctl() { etcdctl --endpoints="$ETCD_ADDR" --dial-timeout=1s --command-timeout=2s "$@"; }
rctl() { ctl --user "root:$ROOTPW" "$@"; }
key() { echo "$PREFIX/$SVC.main/${IID}_$APP_PORT"; }
has_key() { [ -n "$(rctl get --print-value-only "$(key)")" ]; }
no_key() { [ -z "$(rctl get --print-value-only "$(key)")" ]; }
status() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['$1']"; }

ctl user add root --new-user-password "$ROOTPW" --interactive=false >/dev/null &&
    ctl role add root >/dev/null && ctl user grant-role root root >/dev/null &&
    ctl user add meshreg --new-user-password "$PW" --interactive=false >/dev/null &&
    ctl user add norole --new-user-password "$PW" --interactive=false >/dev/null &&
    ctl role add reg >/dev/null &&
    ctl role grant-permission reg --prefix=true readwrite "$PREFIX/" >/dev/null &&
    ctl user grant-role meshreg reg >/dev/null && ctl auth enable >/dev/null
check "etcd auth enabled (root, role reg readwrite on $PREFIX/)" [ $? = 0 ]
check "etcd now refuses a client without a user" eval '! ctl put "$PREFIX/x" y >/dev/null 2>&1'

printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"
AUTH=(--backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 3 --backend-password-file "$T/pw")

start_sidecar "${AUTH[@]}" --backend-user meshreg
check "right password: registered" wait_for 5 has_key
check "meshreg logged the authentication" grep -q "etcd: authenticated as meshreg" "$MESHREG_LOG"
# A change to the auth store makes every earlier token stale ("revision of auth store is old").
rctl role grant-permission reg read /unrelated/ >/dev/null
http_post "$ADMIN_URL/drain" >/dev/null
wait_for 3 no_key
http_post "$ADMIN_URL/undrain" >/dev/null
check "after the auth store moved on: registered again (re-authenticated)" wait_for 6 has_key
check "the stale token was replaced" grep -q "authenticating again\|authenticated as meshreg" "$MESHREG_LOG"
sleep 1.5 # a keepalive or two with the new token
check_eq "/status connected" "$(status state)" connected
check_eq "/status: no problem" "$(status problem)" null
st=$(http_get "$ADMIN_URL/status")
check "no password in /status" eval '! grep -qF "$PW" <<<"$st"'
check "no password in /metrics" eval '! http_get "$ADMIN_URL/metrics" | grep -qF "$PW"'
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6
check_eq "SIGTERM: exit 0" "$EXIT_CODE" 0
check "SIGTERM: key deleted" no_key

printf 'wrong-%s\n' "$PW" >"$T/pw"
START_WAIT=healthy start_sidecar "${AUTH[@]}" --backend-user meshreg
_says() { grep -q "$1" <<<"$(status detail) $(status last_error)"; }
check "wrong password: /status says not authenticated" wait_for 5 _says "not authenticated: etcd refused user meshreg"
check "wrong password: not reported as a connection failure" eval '! _says "cannot connect\|refused$\|connect("'
check "wrong password: record pending" [ "$(status pending)" -ge 1 ]
check_eq "wrong password: /status problem" "$(status problem)" "not authenticated"
check_eq "wrong password: /health still 200 (probing carries on)" "$(http_code "$ADMIN_URL/health")" 200
check "wrong password: no key" no_key
printf '%s\n' "$PW" >"$T/pw"
kill -HUP "$MESHREG_PID"
check "SIGHUP with the right password: registered" wait_for 6 has_key
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6
check "no password (wrong or right) in the log" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'

START_WAIT=healthy start_sidecar "${AUTH[@]}" --backend-user norole
check "user without a role on the prefix: /status says permission denied" wait_for 5 _says "permission denied: etcd user norole"
check "no role: record pending" [ "$(status pending)" -ge 1 ]
check_eq "no role: /status problem" "$(status problem)" "permission denied"
check "no role: /metrics problem" grep -q 'meshreg_backend_problem{problem="permission denied"} 1' <<<"$(http_get "$ADMIN_URL/metrics")"
check "no role: no key" no_key
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6

START_WAIT=healthy start_sidecar --backend "etcd://$ETCD_ADDR$PREFIX" --ttl-seconds 3
check "no user on a cluster with auth: /status says not authenticated" wait_for 5 _says "not authenticated"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 6

# A password over plain etcd:// to another host: refused before anything starts.
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "etcd://127.0.0.1:2379,192.0.2.10:2379/p" --backend-user meshreg \
    --backend-password-file "$T/pw" 2>&1)
check_eq "plain etcd:// to a remote host with a password: exit 2" "$?" 2
check "... naming the host and the way out" grep -q "192.0.2.10 (use etcds://, or --backend-insecure-auth" <<<"$out"
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "etcd://192.0.2.10:2379/p" --backend-user meshreg \
    --backend-password-file "$T/pw" --backend-insecure-auth 2>&1)
check_eq "... accepted with --backend-insecure-auth" "$?" 0
check "check output has no password" eval '! grep -qF "$PW" <<<"$out"'
finish
