#!/usr/bin/env bash
# README "Command line", "Configuration": invalid config or usage -> exit 2, FILE:LINE:COL on stderr, nothing
# started (no admin listener, no registry directory).
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip_all "no strace (Debian package strace)"
# LeakSanitizer cannot run under ptrace (it aborts at exit): the sanitizer
# pass keeps ASan's other checks here and looks for leaks everywhere else.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# run_bad NAME WANT_PATTERN ARGS...: runs meshreg (bounded), expects exit 2,
# WANT_PATTERN (grep -E) on stderr, and nothing started. "Nothing started"
# is read from the system calls (strace), not from polling a port that a
# quick process could open and close between two polls.
run_bad() {
    local name=$1 want=$2 port reg
    shift 2
    port=$(free_port)
    reg=$T/reg-$name
    timeout -k 1 10 strace -f -qq -e trace=listen,mkdir,mkdirat -o "$T/$name.strace" \
        "$BIN" "$@" --admin "127.0.0.1:$port" --backend "file:$reg" \
        >"$T/$name.out" 2>"$T/$name.err"
    local rc=$?
    check_eq "$name: exit 2" "$rc" 2
    if grep -qE -- "$want" "$T/$name.err"; then
        ok "$name: stderr says $want"
    else
        fail "$name: stderr says $want" "stderr: $(head -c 300 "$T/$name.err" | tr '\n' '|')"
    fi
    check "$name: never called listen()" bash -c '! grep -q "listen(" "$1"' _ "$T/$name.strace"
    check "$name: never created the registry dir" bash -c '! grep -qF "$2" "$1" && [ ! -e "$2" ]' \
        _ "$T/$name.strace" "$reg"
}

# The observer can see what it looks for: a good config, same trace, does
# listen and create its registry directory.
good_port=$(free_port)
timeout -k 1 10 strace -f -qq -e trace=listen,mkdir,mkdirat -o "$T/good.strace" \
    "$BIN" run --smartstack "$FIXTURES/smartstack.yaml" --service e2esvc --instance main \
    --port 1234 --host 127.0.0.1 --admin "127.0.0.1:$good_port" --backend "file:$T/reg-good" --drain-seconds 0 \
    >"$T/good.out" 2>&1 &
good=$!
check "control: a good config listens" wait_for 10 port_open "$good_port"
kill -TERM "$good" 2>/dev/null
wait "$good" 2>/dev/null
check "control: strace saw its listen()" grep -q "listen(" "$T/good.strace"
check "control: strace saw its registry dir created" grep -qF "$T/reg-good" "$T/good.strace"

common=(--service e2esvc --instance main --port 1234 --host 127.0.0.1)
F=$FIXTURES

# Thousands of errors: whole lines, then how many more (never cut mid-line).
{ echo "main:"; echo "  proxy_port: 20000"; for i in $(seq 1 3000); do echo "  bogus_$i: 1"; done; } \
    >"$T/many.yaml"
timeout 10 "$BIN" check --smartstack "$T/many.yaml" --service e2esvc --port 1234 \
    >/dev/null 2>"$T/many.err"
check_eq "3000 errors: exit 2" "$?" 2
check "3000 errors: the list ends with '... and N more'" \
    grep -qE '^\.\.\. and [0-9]+ more$' "$T/many.err"
check "3000 errors: every other line is a whole FILE:LINE:COL error" \
    bash -c '! grep -vE "^(.*many\.yaml:[0-9]+:[0-9]+: .*bogus_[0-9]+.*|\.\.\. and [0-9]+ more|meshreg: invalid configuration, nothing started)\$" "$1"' _ "$T/many.err"
# --host goes into every record as written: "a b/c" is refused.
run_bad bad_host "--host: 'a b/c' is not an IP address or a hostname" \
    run --smartstack "$F/smartstack.yaml" --service e2esvc --port 1234 --host "a b/c"
run_bad unknown_key "bad_unknown_key\.yaml:4:[0-9]+: .*bogus_key" \
    run --smartstack "$F/bad_unknown_key.yaml" "${common[@]}"
run_bad out_of_range "bad_range\.yaml:3:[0-9]+: .*retries" \
    run --smartstack "$F/bad_range.yaml" "${common[@]}"
run_bad wrong_type "bad_type\.yaml:3:[0-9]+: .*healthcheck_timeout_s" \
    run --smartstack "$F/bad_type.yaml" "${common[@]}"
run_bad yaml_syntax "bad_syntax\.yaml:[0-9]+:[0-9]+: " \
    run --smartstack "$F/bad_syntax.yaml" "${common[@]}"
run_bad missing_ns "smartstack\.yaml.*nosuchns|nosuchns.*smartstack\.yaml" \
    run --smartstack "$F/smartstack.yaml" "${common[@]}" --registration e2esvc.nosuchns
run_bad missing_file "does-not-exist\.yaml" \
    run --smartstack "$T/does-not-exist.yaml" "${common[@]}"
run_bad unknown_flag "--bogus-flag" \
    run --smartstack "$F/smartstack.yaml" "${common[@]}" --bogus-flag
run_bad bad_number "interval" \
    run --smartstack "$F/smartstack.yaml" "${common[@]}" --interval-ms abc
run_bad bad_backend "gopher|backend" \
    run --smartstack "$F/smartstack.yaml" "${common[@]}" --backend gopher://x
run_bad default_subcommand_bad "bad_unknown_key\.yaml:4:[0-9]+:" \
    --smartstack "$F/bad_unknown_key.yaml" "${common[@]}"
run_bad check_bad "bad_unknown_key\.yaml:4:[0-9]+:" \
    check --smartstack "$F/bad_unknown_key.yaml" "${common[@]}"

# A bad config file given with -c is reported with its own FILE:LINE:COL.
cat >"$T/meshreg.yaml" <<'YAML'
service: e2esvc
drain_seconds: 5
no_such_option: 1
YAML
run_bad config_file_unknown "meshreg\.yaml:3:[0-9]+: .*no_such_option" \
    run -c "$T/meshreg.yaml" --smartstack "$F/smartstack.yaml" --port 1234

# The column is right too: bogus_key starts at column 3 of line 4.
check "unknown_key: column 3 (1-based) of line 4" grep -q "bad_unknown_key.yaml:4:3:" \
    "$T/unknown_key.err"

# No subcommand at all / unknown subcommand: usage, exit 2.
timeout 5 "$BIN" frobnicate >"$T/sub.out" 2>"$T/sub.err"
check_eq "unknown subcommand: exit 2" "$?" 2
check "unknown subcommand: message on stderr" [ -s "$T/sub.err" ]

# --help and --version: exit 0, on stdout.
out=$(timeout 5 "$BIN" --version 2>/dev/null)
check_eq "--version exits 0" "$?" 0
check "--version prints a version" grep -qE '[0-9]+\.[0-9]+' <<<"$out"
out=$(timeout 5 "$BIN" --help 2>/dev/null)
check_eq "--help exits 0" "$?" 0
check "--help lists the subcommands" bash -c 'grep -q drain <<<"$1" && grep -q check <<<"$1"' _ "$out"
finish
