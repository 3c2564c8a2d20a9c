# shellcheck shell=bash
# meshreg under valgrind, for the valgrind end-to-end tests (main_valgrind.sh,
# etcd_valgrind.sh). Source it after lib.sh: it fails the test when valgrind is
# missing and skips it for the sanitizer build (ASan does the leak check there).
#
#   VG                       the valgrind command line: definite and indirect leaks
#                            and memory errors make it exit 99
#   vg_start_meshreg ARGS    a demo app on a free $APP_PORT, then meshreg run under
#                            valgrind (report in $T/vg.log) for service $SVC instance
#                            main on it, with ARGS (backend, admin, ...); waits for it
#   vg_exit SECONDS          SIGTERM, then checks it exits 0 within SECONDS
#   vg_report_empty          checks $T/vg.log is empty (shows it when not)
command -v valgrind >/dev/null || { fail "valgrind installed" "scripts/install-deps installs it"; finish; }
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    skip_all "sanitizer build (ASan does the leak check there)"
fi
VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no"

vg_start_meshreg() {
    local bin_real=$BIN
    APP_PORT=$(free_port)
    start_demo "$APP_PORT"
    BIN=/bin/sh # start_meshreg runs "$BIN" ARGS: wrap the real binary in valgrind
    start_meshreg -c "exec $VG --log-file=$T/vg.log \"\$@\"" valgrind-meshreg "$bin_real" run \
        --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --instance main --port "$APP_PORT" \
        --host 127.0.0.1 --instance-id "$IID" "$@"
    BIN=$bin_real
    wait_meshreg 20
}

vg_exit() {
    kill -TERM "$MESHREG_PID"
    if wait_exit "$MESHREG_PID" "$1"; then
        check_eq "clean exit under valgrind (99 = leak or memory error)" "$EXIT_CODE" 0
    else
        fail "exits under valgrind" "still running"
    fi
}

vg_report_empty() {
    if [ -s "$T/vg.log" ]; then
        fail "valgrind report empty" "see below"
        show_log "$T/vg.log" 40
    else
        ok "valgrind report empty"
    fi
}
