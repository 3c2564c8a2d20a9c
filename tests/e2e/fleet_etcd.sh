#!/usr/bin/env bash
# meshreg-test: plain-pass-only (50 sidecars and a 3-member cluster; the sanitizer pass runs the single-server tests)
# BENCHMARKS.md "Fleet": scripts/bench-fleet scaled down (issue 10): 50 sidecars
# against a 3-member etcd cluster on loopback (each sidecar's endpoint list
# rotated, so a third talk to each member): all register, the leader's
# SIGKILL leaves every key's create_revision and lease unchanged (all 50 read
# by etcdctl before and after), SIGTERM to all 50 empties the registry within 3 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet_lib.sh"

fleet_run etcd register,leader,sigterm
fleet_check_register 50
fleet_check_leader 50 "same create_revision and lease"
fleet_check_sigterm 50
finish
