#!/usr/bin/env bash
# meshreg-test: plain-pass-only (50 sidecars and a 3-member ensemble; the sanitizer pass runs the single-server tests)
# BENCHMARKS.md "Fleet": scripts/bench-fleet scaled down (issue 10): 50 sidecars
# against a 3-member ZooKeeper ensemble on loopback: all register (one znode
# each), the leader's SIGKILL leaves every znode untouched (the czxid and
# ephemeralOwner of all 50 read by kazoo before and after), SIGTERM to all 50
# at once empties the registry within 3 s. FLEET_SABOTAGE=restart makes the
# leader check fail (every sidecar restarted between the two snapshots).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet_lib.sh"

fleet_run zk register,leader,sigterm
fleet_check_register 50
fleet_check_leader 50 "same czxid and ephemeralOwner"
fleet_check_sigterm 50
finish
