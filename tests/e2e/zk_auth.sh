#!/usr/bin/env bash
# README "Backend credentials", ZooKeeper: --backend-user/--backend-password-file add a digest
# identity to meshreg's session; --zk-acl protected nodes are world-readable, and neither a
# client without an identity nor one with another identity can delete or overwrite them
# (checked with kazoo); the identity comes back with every new session (expiry). With
# --zk-acl open (the default) anyone can. A wrong password against a parent an admin
# protected is a permission error (the record stays pending, the session connected), and a
# SIGHUP with the right password fixes it without a restart. The password never shows in the
# log, /status or `meshreg check`; a password file others can read gets a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

zk_setup
PW=s3cret-$$-pw
printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"
AUTH=(--backend-user meshreg --backend-password-file "$T/pw")

# Another client, with or without an identity of its own.
other() { zkw "$@"; }
intruder() { zkw --auth "intruder:nope" "$@"; }

TTL=2 start_zk_sidecar "${AUTH[@]}" --zk-acl protected
check "protected: registered" wait_for 5 zk_present
path=$(zk_path)
acl=$(other acl "$path")
check "record node: world may read ($acl)" grep -q '"world:anyone:r"' <<<"$acl"
check "record node: only meshreg's digest identity may write" grep -Eq '"digest:meshreg:[^"]+:rwcda"' <<<"$acl"
check_eq "record node: nothing else in its ACL" "$(json_get - 'len(j)' <<<"$acl")" 2
pacl=$(other acl "$(zk_parent)")
check "parent: world may read and create children ($pacl)" grep -q '"world:anyone:rc"' <<<"$pacl"
data=$(zk_node_field data)
check "anyone reads the record (kazoo, no identity)" grep -q '"port"' <<<"$data"
check_eq "no identity: delete refused" "$(other delete "$path")" NoAuthError
check_eq "no identity: set refused" "$(other set "$path" hijacked)" NoAuthError
check_eq "another identity: delete refused" "$(intruder delete "$path")" NoAuthError
check_eq "another identity: set refused" "$(intruder set "$path" hijacked)" NoAuthError
check_eq "record untouched" "$(zk_node_field data)" "$data"
check "another host registers beside us (world create on the parent)" \
    grep -q "$(zk_parent)/other-host_" <<<"$(other hold "$(zk_parent)/other-host_" '{}' --sequence --seconds 0.1)"

# A new session (expiry) authenticates again: the re-created node has the same ACL.
old=$(zk_node_field ephemeralOwner)
kill -STOP "$MESHREG_PID"
sleep 4
kill -CONT "$MESHREG_PID"
_new_session() { zk_present && [ "$(zk_node_field ephemeralOwner)" != "$old" ]; }
check "after a session expiry: re-created under a new session" wait_for 6 _new_session
check "after a session expiry: still protected" grep -Eq '"digest:meshreg:[^"]+:rwcda"' <<<"$(other acl "$(zk_path)")"
check_eq "after a session expiry: delete still refused" "$(other delete "$(zk_path)")" NoAuthError

st=$(http_get "$ADMIN_URL/status")
check "the password is not in /status" eval '! grep -qF "$PW" <<<"$st"'
check "the password is not in /metrics" eval '! http_get "$ADMIN_URL/metrics" | grep -qF "$PW"'
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "SIGTERM: exit 0" "$EXIT_CODE" 0
check "SIGTERM: meshreg deleted its protected node" zk_absent
check "the password is not in the log" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'

# --zk-acl open (default) with an identity: nerve's open nodes, anyone may delete.
SVC=e2eopen start_zk_sidecar "${AUTH[@]}"
SVC=e2eopen check "open: registered" wait_for 5 zk_present
opath=$(SVC=e2eopen zk_path)
check_eq "open: record ACL is world:anyone:rwcda" "$(other acl "$opath")" '["world:anyone:rwcda"]'
check_eq "open: another client deletes it" "$(other delete "$opath")" ok
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5

# A parent an admin protected with meshreg's identity: the wrong password is refused there.
check_eq "admin protects the parent of e2ewrong" "$(other protect "$ZK_ROOT/e2ewrong.main" "meshreg:$PW")" ok
printf 'wrong-%s\n' "$PW" >"$T/pw"
SVC=e2ewrong START_WAIT=healthy start_zk_sidecar "${AUTH[@]}" --zk-acl protected
_denied() { http_get "$ADMIN_URL/status" | json_get - "j['backend']['last_error']" | grep -q "permission denied"; }
check "wrong password: /status says permission denied" wait_for 5 _denied
check_eq "wrong password: session still connected (not a connection failure)" "$(backend_field state)" connected
check "wrong password: the record is pending" [ "$(backend_field pending)" -ge 1 ]
check_eq "wrong password: /status problem" "$(backend_field problem)" "permission denied"
SVC=e2ewrong check "wrong password: no node" zk_absent
printf '%s\n' "$PW" >"$T/pw"
kill -HUP "$MESHREG_PID"
SVC=e2ewrong check "SIGHUP with the right password: registered without a restart" wait_for 8 zk_present
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check "no password in the log (wrong or right)" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'

# `meshreg check`: no password in its output; a file others can read is a warning.
chmod 644 "$T/pw"
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "zk://$ZK_ADDR" "${AUTH[@]}" --zk-acl protected 2>&1)
check "check: readable password file is a warning" grep -q "$T/pw: warning: .*readable by every user" <<<"$out"
check "check: no password in its output" eval '! grep -qF "$PW" <<<"$out"'
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --backend "zk://$ZK_ADDR" --zk-acl protected 2>&1)
check_eq "check: protected without an identity exits 2" "$?" 2
check "check: ... and says why" grep -q "zk-acl protected: needs an identity" <<<"$out"
finish
