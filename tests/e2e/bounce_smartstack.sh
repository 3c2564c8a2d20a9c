#!/usr/bin/env bash
# meshreg-test: plain-pass-only (several servers; the sanitizer pass runs the single-server tests)
# README "Drain sequence" "a bounce under load loses zero requests", the SmartStack way: HAProxy
# has no health check of its own; a synapse-style watcher
# (tests/fixtures/e2e/synapse_haproxy.py: kazoo, synapse's child-name and
# record rules) follows the service's znodes in a real ZooKeeper and sets each
# server `ready`/`maint` through HAProxy's runtime API. Two instances a and b,
# `meshreg run --backend zk://... -- demoapp`, bounced under load with
# `retries 0` and no redispatch: meshreg deletes the znode first, the watcher
# takes the server out, and the app keeps serving what is in flight through
# the drain window. Zero non-2xx and zero connection errors, with and without
# --adaptive-drain (which, with no load balancer polling /health, ends at
# --min-drain-seconds: the floor that covers ZooKeeper's readers).
#
# Negative control: no drain window (--drain-seconds 0): the app stops as soon
# as its znode is deleted, before the watcher has reconfigured HAProxy (200 ms
# later), and requests are lost, so this test can fail.
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lb_lib.sh"
. "$(dirname "$0")/bounce_lib.sh"
need_haproxy
/usr/bin/python3 -c 'import kazoo' 2>/dev/null || skip_all "no kazoo (python3-kazoo)"
need_zk

DRAIN=${BOUNCE_DRAIN_S:-2}
# The watcher applies each change 200 ms late, as a real synapse (watch,
# re-read, regenerate) is not instant: the window and the floor cover it, a
# bounce without a window does not.
SYN_DELAY_MS=${SYN_DELAY_MS:-200}
# With no load balancer polling, the adaptive end comes at the floor.
BOUNCE_ADAPTIVE_RE='adaptive drain'

bounce_init zk
inst_start a "$DRAIN"
inst_start b "$DRAIN"
bounce_haproxy_start
check "the watcher saw two backends with distinct ids (znode sequence numbers)" \
    [ "$(awk '$3 == "ready" { print $4 }' "$SYN_OUT" | sort -u | wc -l)" = 2 ]

load_start
check "before: a serves traffic" wait_for 5 _traffic_gt a 0
check "before: b serves traffic" wait_for 5 _traffic_gt b 0
bounce a 10 --adaptive-drain --min-drain-seconds 1
bounce a "$DRAIN"
bounce b 0
sleep 0.5
load_stop
echo "# smartstack bounces: $LOAD_total requests ($LOAD_rate/s), p99 ${LOAD_p99_ms} ms," \
    "during bounces $LOAD_btotal requests, p99 ${LOAD_bp99_ms} ms; by server: $LOAD_servers"
echo "# watcher: $(tr '\n' ';' <"$SYN_OUT" | head -c 600)"
check "load: enough requests to mean something ($LOAD_total >= 300)" [ "$LOAD_total" -ge 300 ]
check_eq "drained bounces: zero non-2xx answers (${LOAD_codes:-none})" "$LOAD_non2xx" 0
check_eq "drained bounces: zero connection errors (${LOAD_errs:-none})" "$LOAD_errors" 0
[ "$LOAD_non2xx$LOAD_errors" != 00 ] && echo "# failures: $LOAD_fails"
check_eq "no request sent after HAProxy took a server out reached it (${LOAD_leaks:-none})" \
    "$LOAD_leaked" 0
check_eq "the apps served exactly the 2xx answers (none lost, none twice)" "$(served_total)" "$LOAD_ok"

# --- negative control: b without a window. Its app dies right after the
# delete; HAProxy keeps sending b's share until the watcher's `maint`. When
# the watcher wins the race a bounce loses nothing: bounce again (at most 6).
load_start
check "control: b serves traffic" wait_for 5 _traffic_gt b 0
for i in 1 2 3 4 5 6; do
    bounce b 0
    load_stop
    [ $((LOAD_non2xx + LOAD_errors)) -gt 0 ] && break
    load_start
    wait_for 5 _traffic_gt b 0
done
echo "# control: $i bounce(s): $LOAD_total requests, $LOAD_non2xx non-2xx (${LOAD_codes:-none})," \
    "$LOAD_errors errors (${LOAD_errs:-none}); $LOAD_fails"
check "control (no drain): requests are lost ($((LOAD_non2xx + LOAD_errors)) > 0)" \
    [ $((LOAD_non2xx + LOAD_errors)) -gt 0 ]

bounce_stop_all
finish
