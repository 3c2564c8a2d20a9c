#!/usr/bin/env bash
# meshreg-test: static-pass-only
# README "Deploying" (static binary): build/meshreg-static resolves backend
# host names without glibc's NSS modules (glibc >= 2.34 builds the `files`
# and `dns` services into libc.a; other NSS services, e.g. myhostname, mdns,
# ldap, are not available to a static binary). Run in a private mount and
# network namespace: /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf
# are the test's own (bind mounts), a DNS server written here answers on
# 127.0.0.1:53, and backend listeners on 127.0.0.2 / 127.0.0.3 prove the
# name led to the right address. The host's files are never touched.
if [ -z "${MESHREG_NSS_INNER:-}" ] && unshare -mn true 2>/dev/null; then
    MESHREG_NSS_INNER=1 exec unshare -mn bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
[ -n "${MESHREG_NSS_INNER:-}" ] || skip_all "needs a private mount + network namespace (unshare -mn, root)"
[ -x "$BIN" ] || skip_all "$BIN not built (make static)"

ip link set lo up || skip_all "cannot bring up lo in the namespace"
printf '127.0.0.1 localhost\n127.0.0.2 backend.meshreg.test\n' >"$T/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T/resolv.conf"
printf 'hosts: files dns\n' >"$T/nsswitch.conf"
for f in hosts resolv.conf nsswitch.conf; do
    mount --bind "$T/$f" "/etc/$f" || skip_all "cannot bind-mount /etc/$f"
done

cat >"$T/servers.py" <<'PY'
# A DNS server (A records only) on 127.0.0.1:53 and two TCP listeners that
# log the first line each connection sends.
import socket, struct, sys, threading
ZONE = {"dns.meshreg.test": "127.0.0.3"}
port = int(sys.argv[1])
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 53))
    while True:
        q, peer = s.recvfrom(512)
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        addr = ZONE.get(name)
        rcode = 0 if addr else 3
        ans = b""
        if addr and qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)
        hdr = q[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 1 if ans else 0, 0, 0)
        s.sendto(hdr + question + ans, peer)
        print("dns %s type %d -> %s" % (name, qtype, addr), flush=True)
def listen(host):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port)); l.listen(16)
    while True:
        c, _ = l.accept()
        line = c.makefile("rb").readline().decode(errors="replace").strip()
        print("conn %s %s" % (host, line), flush=True)
        c.close()
for f, a in ((dns, ()), (listen, ("127.0.0.2",)), (listen, ("127.0.0.3",))):
    threading.Thread(target=f, args=a, daemon=True).start()
print("serving", flush=True)
threading.Event().wait()
PY
P=$(free_port)
start_bg servers "$PY" "$T/servers.py" "$P"
SLOG=$BG_OUT
wait_for 5 grep -q serving "$SLOG" || { fail "test servers start" "$(cat "$BG_ERR")"; finish; }

resolves() { # resolves NAME: `meshreg check` resolves an etcd endpoint at start-up
    meshreg_cli check --service "$SVC" --smartstack "$FIXTURES/smartstack.yaml" \
        --host 127.0.0.1 --backend "etcd://$1:$P/x" >"$T/check.out" 2>&1
}
check "localhost resolves (/etc/hosts)" resolves localhost
check "an /etc/hosts name resolves" resolves backend.meshreg.test
check "a DNS name resolves (resolv.conf -> 127.0.0.1:53)" resolves dns.meshreg.test
check "the DNS server was asked" grep -q '^dns dns.meshreg.test type 1 -> 127.0.0.3' "$SLOG"
resolves nosuch.meshreg.test
check_eq "an unknown name: exit 2" "$?" 2
check "an unknown name: the resolver's reason" grep -q 'nosuch.meshreg.test.*Name or service not known' "$T/check.out"

# The names lead where they should: a running sidecar's etcd client connects.
APP_PORT=$(free_port)
start_demo "$APP_PORT"
for pair in backend.meshreg.test=127.0.0.2 dns.meshreg.test=127.0.0.3; do
    name=${pair%=*} addr=${pair#*=}
    start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" --port "$APP_PORT" \
        --host 127.0.0.1 --instance-id "$IID" --backend "etcd://$name:$P/x" \
        --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 0
    check "$name: the etcd client reaches $addr" \
        wait_for 5 grep -q "^conn $addr POST /v3/" "$SLOG"
    stop_pid "$MESHREG_PID" KILL
done
finish
