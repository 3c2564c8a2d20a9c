#!/usr/bin/env bash
# README "Build and install", "Deploying": `make install DESTDIR=... PREFIX=/usr`
# stages the binary, the man page, bash completion and the systemd unit
# (ExecStart= rewritten to PREFIX/bin/meshreg), and each installed piece works.
. "$(dirname "$0")/lib.sh"

D=$T/stage
# INSTALL_BIN: the binary under test, so nothing is rebuilt here.
if ! make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr INSTALL_BIN="$BIN" >"$T/make.log" 2>&1; then
    fail "make install DESTDIR=$D" "$(tail -5 "$T/make.log")"
    finish
fi
ok "make install DESTDIR PREFIX=/usr exits 0"
for f in bin/meshreg share/man/man1/meshreg.1 share/bash-completion/completions/meshreg \
    lib/systemd/system/meshreg.service share/doc/meshreg/meshreg.yaml; do
    check "installed /usr/$f" [ -s "$D/usr/$f" ]
done
check "binary is executable" [ -x "$D/usr/bin/meshreg" ]
check "nothing outside DESTDIR/usr" [ "$(ls "$D")" = usr ]
check "installed binary runs" grep -q '^meshreg ' <<<"$("$D/usr/bin/meshreg" --version)"
check_eq "unit's ExecStart names PREFIX/bin" \
    "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D/usr/lib/systemd/system/meshreg.service")" /usr/bin/meshreg
check "installed man page renders" grep -q 'EXIT STATUS' <<<"$(MANWIDTH=100 man -l "$D/usr/share/man/man1/meshreg.1" 2>/dev/null || groff -man -Tascii "$D/usr/share/man/man1/meshreg.1")"
if command -v systemd-analyze >/dev/null 2>&1; then
    # The staged unit as it would be live: ExecStart pointed back into DESTDIR.
    sed "s|^ExecStart=/usr/bin/meshreg|ExecStart=$D/usr/bin/meshreg|" \
        "$D/usr/lib/systemd/system/meshreg.service" >"$T/meshreg.service"
    out=$(cd "$T" && systemd-analyze verify --man=no meshreg.service 2>&1)
    check_eq "installed unit verifies clean" "$out" ""
else
    skip "installed unit verifies clean" "systemd-analyze not installed (Debian package systemd)"
fi
# PREFIX defaults to /usr/local.
make -s -C "$ROOT" install DESTDIR="$T/stage2" INSTALL_BIN="$BIN" >"$T/make2.log" 2>&1
check "default PREFIX is /usr/local" [ -x "$T/stage2/usr/local/bin/meshreg" ]
finish
