#!/usr/bin/env bash
# README "Backend credentials", ZooKeeper: a server that refuses the digest identity outright
# (AUTH_FAILED). A real ZooKeeper started with its digest provider disabled
# (-Dzookeeper.DigestAuthenticationProvider.enabled=false) answers every `digest` addauth
# with AUTH_FAILED and closes the connection. meshreg names it ("not authenticated ...
# refused digest user ... AUTH_FAILED") in the log (once), /status and /metrics, leaves the
# record unregistered, keeps probing and answering /health, retries with a new session at
# a bounded rate (the reopen backoff, 0.1 s doubling to 5 s, is reset only by an accepted
# identity), tries a new password at once on SIGHUP, exits promptly on SIGTERM, and
# registers by itself once the server accepts digest again. The password never shows.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk_lib.sh"

NO_DIGEST=-Dzookeeper.DigestAuthenticationProvider.enabled=false
ZK_JVMFLAGS=$NO_DIGEST zk_setup
PW=s3cret-$$-pw
printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"
AUTH=(--backend-user meshreg --backend-password-file "$T/pw" --zk-acl protected)

# Addauth packets the server got (one per session meshreg opened).
auth_packets() { grep -c "got auth packet" "$ZK_DIR/zk1.log" || true; }
problem() { backend_field problem; }
_refused() { [ "$(problem)" = "not authenticated" ]; }

check "the server refuses digest (kazoo: AuthFailedError)" grep -q AuthFailedError <<<"$(zkw --auth "x:y" children / 2>&1)"

n0=$(auth_packets)
t0=$(now_ms)
DRAIN_S=1 TTL=5 START_WAIT=healthy start_zk_sidecar "${AUTH[@]}"
check "/status problem: not authenticated" wait_for 5 _refused
detail=$(backend_field detail)
check "/status detail names the refusal ($detail)" \
    grep -q "not authenticated: 127.0.0.1:[0-9]* refused digest user meshreg (AUTH_FAILED" <<<"$detail"
check "/status state: not connected" [ "$(backend_field state)" != connected ]
check_eq "/status: the record is pending" "$(backend_field pending)" 1
check "/metrics: problem gauge" grep -qx 'meshreg_backend_problem{problem="not authenticated"} 1' <<<"$(http_get "$ADMIN_URL/metrics")"
check "/metrics: not connected" grep -qx 'meshreg_backend_connected 0' <<<"$(http_get "$ADMIN_URL/metrics")"
check "log: the refusal named" grep -q "error zk: not authenticated: .* refused digest user meshreg (AUTH_FAILED" "$MESHREG_LOG"
check "no node" zk_absent
check_eq "probing carries on: /health" "$(http_code "$ADMIN_URL/health")" 200

# Bounded retries: sessions at 0, 0.1, 0.3, 0.7, 1.5, 3.1 s (+ handshakes); a new session
# per refusal without backoff would be ~10 a second.
sleep "$(awk -v t="$(( $(now_ms) - t0 ))" 'BEGIN { s = 4.5 - t / 1000; print (s > 0 ? s : 0) }')"
n=$(( $(auth_packets) - n0 ))
echo "# sessions opened in the first 4.5 s: $n"
check_between "bounded retries: sessions in the first 4.5 s" "$n" 3 7
check_eq "log: the refusal logged once, not per attempt" "$(grep -c "refused digest user" "$MESHREG_LOG")" 1
check "/status detail counts the attempts" grep -Eq "attempt [3-9], next in" <<<"$(backend_field detail)"
check_eq "still nothing registered" "$(backend_field pending)" 1

# SIGHUP with a new password: no wait for the backoff (now 3.2-5 s), a new session at once.
printf 'new-%s\n' "$PW" >"$T/pw"
nh=$(auth_packets)
kill -HUP "$MESHREG_PID"
_tried() { [ "$(auth_packets)" -gt "$nh" ]; }
check "SIGHUP with a new password: tried within 1 s" wait_for 1 _tried
check "... and refused again, still named" wait_for 2 _refused

# SIGTERM: nothing to deregister, the drain window (1 s) and out.
ts=$(now_ms)
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "SIGTERM: exit 0" "$EXIT_CODE" 0
check_between "SIGTERM: nothing was ever put, so no deregistration to wait for: exits after the 1 s drain window (ms)" "$(( $(now_ms) - ts ))" 900 1900
check "the passwords are not in the log" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'

# The server takes digest again (restarted with its provider): meshreg registers by itself.
kill_hard "$DEMO_PID"
APP_PORT=
DRAIN_S=1 TTL=5 START_WAIT=healthy start_zk_sidecar "${AUTH[@]}"
check "second run: refused" wait_for 5 _refused
"$ROOT/scripts/zk-stop" "$ZK_DIR" >/dev/null
"$ROOT/scripts/zk-start" "$ZK_DIR" >/dev/null || fail "ZooKeeper restarts with digest" "see $ZK_DIR/zk1.log"
check "server with digest: registered without a restart" wait_for 10 zk_present
check "... under our identity" grep -Eq '"digest:meshreg:[^"]+:rwcda"' <<<"$(zkw acl "$(zk_path)")"
check_eq "... /status problem gone" "$(problem)" null
check "... /metrics problem gone" eval '! http_get "$ADMIN_URL/metrics" | grep -q meshreg_backend_problem'
check "log: accepted after the refusals" grep -q "zk: 127.0.0.1:[0-9]* accepted the digest identity of user meshreg after [0-9]* refusal" "$MESHREG_LOG"
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "SIGTERM: exit 0" "$EXIT_CODE" 0
check "the password is not in the log" eval '! grep -qF "$PW" "$MESHREG_LOG" "$MESHREG_ERR"'
finish
