#!/usr/bin/env bash
# README "Backends" (file:): a directory that cannot be created is an error in
# the log (not "backend file connected: mkdir ..."), failed writes are errors,
# and SIGTERM does not wait out a retry timer when nothing was ever registered.
. "$(dirname "$0")/lib.sh"

: >"$T/afile" # a regular file: DIR below it can never be created
REG_DIR=$T/afile/registry
DRAIN_S=0 START_WAIT=healthy start_sidecar
check "error: cannot create the directory" \
    wait_for 5 grep -qE " error +backend file: cannot create $REG_DIR: " "$MESHREG_LOG"
check "no 'connected: mkdir' line" bash -c '! grep -q "connected: mkdir" "$1"' _ "$MESHREG_LOG"
check "a failed register is an error" \
    wait_for 5 grep -qE " error +$SVC\.main: register .* failed: .*retry in" "$MESHREG_LOG"
# Let the backoff grow past a second (jittered: the exact delay varies), so
# a wait on it would show.
wait_for 10 grep -qE "retry in [1-9][0-9]*\.[0-9] s" "$MESHREG_LOG"
t0=$(now_ms)
kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 10
dt=$(($(now_ms) - t0))
check_eq "exit 0" "$EXIT_CODE" 0
check "SIGTERM with nothing ever registered: exit in ${dt} ms (< 500, no retry timer)" \
    [ "$dt" -lt 500 ]
finish
