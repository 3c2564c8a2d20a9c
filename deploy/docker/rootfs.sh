#!/bin/sh
# Assembles the file tree of the container image's final stage (FROM
# scratch): the Dockerfile runs this in its build stage and copies the
# result whole, and tests/e2e/deploy_docker.sh runs the same script into a
# temp dir and starts meshreg from it, so what is tested is what ships.
#
#   deploy/docker/rootfs.sh STATIC_BINARY DEST [CA_BUNDLE]
#
# DEST gets:
#   /usr/local/bin/meshreg          the static binary (make static)
#   /etc/ssl/certs/ca-certificates.crt  CA certificates (default: Debian's
#                                   bundle), also where OpenSSL's default
#                                   paths (/usr/lib/ssl/cert.pem, certs/) look
#   /etc/passwd, /etc/group         root and the non-root user meshreg,
#                                   uid/gid 65532, that the image runs as
#   /etc/nsswitch.conf              hosts: files dns (the services a static
#                                   glibc has built in; README "Deploying")
#   /var/lib/meshreg                the working directory: the default
#                                   file:./registry and a --state-dir,
#                                   owned by 65532 when run as root
#   /tmp                            mode 1777
set -eu
[ $# -ge 2 ] || { echo "usage: $0 STATIC_BINARY DEST [CA_BUNDLE]" >&2; exit 2; }
bin=$1 dest=$2 ca=${3:-/etc/ssl/certs/ca-certificates.crt}
MESHREG_UID=65532
[ -x "$bin" ] || { echo "$0: $bin: not an executable (make static)" >&2; exit 1; }
[ -s "$ca" ] || { echo "$0: $ca: no CA bundle (Debian package ca-certificates)" >&2; exit 1; }

mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/usr/lib/ssl" \
    "$dest/var/lib/meshreg" "$dest/tmp"
install -m 0755 "$bin" "$dest/usr/local/bin/meshreg"
install -m 0644 "$ca" "$dest/etc/ssl/certs/ca-certificates.crt"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$dest/usr/lib/ssl/cert.pem"
ln -sfn /etc/ssl/certs "$dest/usr/lib/ssl/certs"
cat >"$dest/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
meshreg:x:$MESHREG_UID:$MESHREG_UID:meshreg:/var/lib/meshreg:/sbin/nologin
PASSWD
cat >"$dest/etc/group" <<GROUP
root:x:0:
meshreg:x:$MESHREG_UID:
GROUP
echo 'hosts: files dns' >"$dest/etc/nsswitch.conf"
chmod 1777 "$dest/tmp"
if [ "$(id -u)" = 0 ]; then
    chown "$MESHREG_UID:$MESHREG_UID" "$dest/var/lib/meshreg"
fi
