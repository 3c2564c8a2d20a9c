#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; the sanitizer pass runs the single-server tests)
# README "Drain sequence" "a bounce under load loses zero requests", with HAProxy following
# meshreg's agent-check port (--agent-port; `agent-check agent-inter 100ms`
# beside a TCP check of the app, inter 100 ms, fall 1, rise 1, `retries 0`,
# no redispatch) instead of polling /health. On SIGTERM the agent says
# `drain`: HAProxy puts the server in DRAIN (weight 0, no new request); the
# app stops after the window; the new instance on the same ports stays out
# until its agent says `up ready` (HAProxy keeps an agent's drain until the
# word `ready`). Two instances, a and b bounced once each under load: zero
# non-2xx, zero connection errors, the apps' request logs add up to exactly
# the 2xx answers. The negative control (no drain: requests lost) is in
# bounce_haproxy.sh; the HAProxy side of it does not depend on the check kind.
E2E_TIMEOUT=${E2E_TIMEOUT:-90}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lb_lib.sh"
. "$(dirname "$0")/bounce_lib.sh"
need_haproxy

DRAIN=${BOUNCE_DRAIN_S:-2}

bounce_init agent
inst_start a "$DRAIN"
inst_start b "$DRAIN"
bounce_haproxy_start
check "HAProxy: a's agent answered (L7OK)" wait_for 8 hap_field_is app a agent_status L7OK

load_start
check "before: a serves traffic" wait_for 5 _traffic_gt a 0
check "before: b serves traffic" wait_for 5 _traffic_gt b 0
bounce a "$DRAIN"
check "a was in DRAIN (from the agent), not only DOWN from the app's TCP check" \
    grep -q ' a DRAIN' "$BW_OUT"
bounce b "$DRAIN"
sleep 0.5
load_stop
echo "# agent-check bounces: $LOAD_total requests ($LOAD_rate/s), p99 ${LOAD_p99_ms} ms," \
    "during bounces $LOAD_btotal requests, p99 ${LOAD_bp99_ms} ms; by server: $LOAD_servers"
echo "# a's states in HAProxy: $(awk '$2 == "a" { printf "%s ", $3 }' "$BW_OUT")"
check "load: enough requests to mean something ($LOAD_total >= 200)" [ "$LOAD_total" -ge 200 ]
check_eq "agent-check bounces: zero non-2xx answers (${LOAD_codes:-none})" "$LOAD_non2xx" 0
check_eq "agent-check bounces: zero connection errors (${LOAD_errs:-none})" "$LOAD_errors" 0
[ "$LOAD_non2xx$LOAD_errors" != 00 ] && echo "# failures: $LOAD_fails"
check_eq "no request sent after HAProxy took a server out reached it (${LOAD_leaks:-none})" \
    "$LOAD_leaked" 0
check_eq "the apps served exactly the 2xx answers (none lost, none twice)" "$(served_total)" "$LOAD_ok"

bounce_stop_all
finish
