# shellcheck shell=bash
# A load balancer polling meshreg's /health, for the adaptive-drain tests
# (tests/e2e/main_adaptive.sh, zk_adaptive_floor.sh). Source it after lib.sh.
#
#   start_poller   polls $ADMIN_URL/health every 100 ms until stopped, one
#                  line (the HTTP code) per answer in $POLL_LOG; returns once
#                  answered twice, so meshreg knows it as a recent poller.
#                  Sets POLLER (its pid); killed at cleanup too.
#   stop_poller    stops it

start_poller() {
    POLL_LOG=$T/poller.$RANDOM
    : >"$POLL_LOG"
    ( while :; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 0.5 "$ADMIN_URL/health" >>"$POLL_LOG"
        sleep 0.1
    done ) &
    POLLER=$!
    on_cleanup "kill $POLLER 2>/dev/null"
    wait_for 10 eval '[ "$(grep -c 200 "$POLL_LOG")" -ge 2 ]' ||
        fail "poller answered" "$(cat "$POLL_LOG")"
}

stop_poller() {
    kill "$POLLER" 2>/dev/null
    wait "$POLLER" 2>/dev/null
}
