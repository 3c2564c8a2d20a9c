#!/usr/bin/env bash
# meshreg-test: static-pass-only
# README "Deploying" (container image): no container engine here, so what can
# be checked without one is: the Dockerfile's shape (a Debian bookworm build
# stage running `make static`, a FROM scratch final stage holding the tree
# deploy/docker/rootfs.sh assembles, a non-root USER that /etc/passwd
# names, no HEALTHCHECK), and that tree itself: built by the same script
# from build/meshreg-static into a temp dir, then meshreg started from it
# under chroot as that user: --version, check, and a run that probes an app
# and writes its registry in the working directory.
. "$(dirname "$0")/lib.sh"

DF=$ROOT/Dockerfile
[ -x "$BIN" ] || skip_all "$BIN not built (make static)"

# --- the Dockerfile
froms=$(grep -E '^FROM ' "$DF")
check "build stage: FROM debian:bookworm" grep -qE '^FROM debian:bookworm(@sha256:[0-9a-f]+)? AS build$' <<<"$froms"
check "final stage: FROM scratch" grep -qx 'FROM scratch' <<<"$(tail -n 1 <<<"$froms")"
check "the build stage runs make static and rootfs.sh" \
    grep -qE '^RUN (make clean && )?make static' "$DF"
check "rootfs.sh runs on make static's output" grep -q 'deploy/docker/rootfs.sh build/meshreg-static /rootfs' "$DF"
check "final stage copies the assembled tree" grep -qx 'COPY --from=build /rootfs/ /' "$DF"
check "no HEALTHCHECK" bash -c "! grep -qi '^HEALTHCHECK' '$DF'"
# The final stage: from the last FROM on (the default build target).
awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$DF" >"$T/final"
check "the final stage is the last (default target)" grep -qx 'FROM scratch' <<<"$(head -n 1 "$T/final")"
user=$(sed -n 's/^USER //p' "$T/final")
uid=${user%%:*}
check "USER is set and not root ($user)" [ -n "$uid" ] && [ "$uid" != 0 ] && [ "$uid" != root ]
check_eq "ENTRYPOINT is the binary rootfs.sh installs" \
    "$(sed -n 's/^ENTRYPOINT //p' "$T/final")" '["/usr/local/bin/meshreg"]'
# The installer image (for the app container's preStop) copies the same binary.
check "installer stage: the static binary, copied by cp" bash -c \
    "grep -q '^FROM busybox[^ ]* AS installer' '$DF' &&
     grep -qx 'COPY --from=build /rootfs/usr/local/bin/meshreg /meshreg' '$DF' &&
     grep -qx 'ENTRYPOINT \\[\"cp\", \"/meshreg\"\\]' '$DF'"
check "the build stage installs what make static links" \
    bash -c "for p in libev-dev libjansson-dev libyaml-dev libnghttp2-dev libzookeeper-st-dev libssl-dev ca-certificates; do grep -q \"\$p\" '$DF' || exit 1; done"

# --- the final stage's tree, assembled the way the Dockerfile does
R=$T/rootfs
if ! "$ROOT/deploy/docker/rootfs.sh" "$BIN" "$R" >"$T/rootfs.log" 2>&1; then
    fail "rootfs.sh assembles the tree" "$(cat "$T/rootfs.log")"
    finish
fi
ok "rootfs.sh assembles the tree"
check "the binary" [ -x "$R/usr/local/bin/meshreg" ]
check "CA certificates" grep -q 'BEGIN CERTIFICATE' "$R/etc/ssl/certs/ca-certificates.crt"
check "OpenSSL's default CA file resolves inside the tree" \
    [ "$(readlink "$R/usr/lib/ssl/cert.pem")" = /etc/ssl/certs/ca-certificates.crt ]
check "/etc/passwd names the USER's uid" grep -qE "^[a-z]+:x:$uid:" "$R/etc/passwd"
check "no shell, no libraries in the tree" \
    bash -c "[ ! -e '$R/bin' ] && [ -z \"\$(find '$R' -name '*.so*')\" ]"
check "nothing but the binary is executable" \
    [ "$(find "$R" -type f -perm -u+x | sed "s|^$R||")" = /usr/local/bin/meshreg ]

if ! chroot --userspec="$user" "$R" /usr/local/bin/meshreg --version >"$T/v.out" 2>&1; then
    skip_all "cannot chroot here as $user ($(head -c 200 "$T/v.out"))"
fi
check "chroot as $user: --version" grep -q '^meshreg ' "$T/v.out"
cp "$FIXTURES/smartstack.yaml" "$R/tmp/smartstack.yaml"
out=$(cd / && chroot --userspec="$user" "$R" /usr/local/bin/meshreg check \
    --smartstack /tmp/smartstack.yaml --service "$SVC" --host 127.0.0.1 --instance-id "$IID" 2>&1)
check_eq "chroot as $user: check exits 0" "$?" 0
check "check: the registration, default backend in the working directory" \
    grep -q "$SVC.main: .* in file:" <<<"$out"

# A run: the image's WORKDIR is /var/lib/meshreg, owned by the user.
APP_PORT=$(free_port)
start_demo "$APP_PORT"
admin=127.0.0.1:$(free_port)
start_bg image chroot --userspec="$user" "$R" /usr/local/bin/meshreg run \
    --smartstack /tmp/smartstack.yaml --service "$SVC" --port "$APP_PORT" --host 127.0.0.1 \
    --instance-id "$IID" --backend file:/var/lib/meshreg/registry --admin "$admin" \
    --interval-ms 200 --drain-seconds 0
IMG_PID=$BG_PID
check "run in the tree as $user: /health 200" wait_http "http://$admin/health" 200 10
check "run: the record is written under /var/lib/meshreg" \
    wait_for 5 test -f "$R/var/lib/meshreg/registry/$SVC.main/${IID}_$APP_PORT.json"
stop_pid "$IMG_PID"
check_eq "run: exits 0 on SIGTERM" "$EXIT_CODE" 0
finish
