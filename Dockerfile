# meshreg's container image: the static binary and nothing else it does not
# need (README "Deploying"). Build from the repository root:
#   docker build -t meshreg:0.1.0 .
# The build stage is `make static` on Debian 12 (its -dev packages' .a
# files); the final stage's tree is made by deploy/docker/rootfs.sh, which
# tests/e2e/deploy_docker.sh runs too. Pin the base by digest
# (debian:bookworm@sha256:...) for bit-for-bit rebuilds.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libev-dev libjansson-dev libyaml-dev libnghttp2-dev libzookeeper-st-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make clean && make static \
 && deploy/docker/rootfs.sh build/meshreg-static /rootfs

# A second, optional image: the app container's preStop hook runs
# `meshreg drain --wait`, but app images do not contain meshreg and the
# final image below has no cp to hand its binary over. This one copies it
# into a shared emptyDir from an init container (deploy/kubernetes/):
#   docker build --target installer -t meshreg-installer:0.1.0 .
FROM busybox:1.36 AS installer
COPY --from=build /rootfs/usr/local/bin/meshreg /meshreg
USER 65532:65532
ENTRYPOINT ["cp", "/meshreg"]
CMD ["/meshreg-bin/meshreg"]

# The image (the default target, last): no shell, no package manager, no
# libraries; a static binary, CA certificates (https probes, TLS backends),
# /etc/passwd for the user.
FROM scratch
COPY --from=build /rootfs/ /
# COPY resets ownership to root: the working directory must be the user's.
COPY --from=build --chown=65532:65532 /rootfs/var/lib/meshreg/ /var/lib/meshreg/
USER 65532:65532
WORKDIR /var/lib/meshreg
# The admin endpoint (/health, /status, /drain); the orchestrator probes it,
# so there is no HEALTHCHECK here.
EXPOSE 6666
ENTRYPOINT ["/usr/local/bin/meshreg"]
CMD ["run"]
