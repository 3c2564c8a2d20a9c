# shellcheck shell=bash
# The smartstack backend's test host (tests/e2e/smartstack_*.sh): two standalone
# ZooKeepers stand in for two superregions' clusters of a PaaSTA host layout in a
# temp dir. Source it after lib.sh and zk_lib.sh.
#
#   ss_clusters        cluster A (zk_setup's server, norcal-prod): ZK_A, ZK_A_DIR; cluster B
#                      (its own server on its own free ports, nova-prod): ZK_B, ZK_B_DIR.
#                      ZK_B_JVMFLAGS (env): JVM flags of B's server (scripts/zk-start)
#   ss_layout          $ETC: habitat uswest1aprod, region uswest1-prod, superregion
#                      norcal-prod (nova-prod: region useast1-prod); topology files
#                      norcal-prod -> $ZK_A, nova-prod -> $ZK_B; $SOA: alpha (extra_advertise
#                      into useast1-prod, so in both clusters) and beta (norcal-prod only)
#   ss_topo LOC HOSTS  (re)writes LOC's topology file from "h:p,h:p"
#   ss_count HOSTS SVC.NS   how many children SVC.NS has in the cluster at HOSTS

ss_clusters() {
    zk_setup
    [ -n "${ZK_DIR:-}" ] || skip_all "ZooKeeper shared via ZK_ADDR: cannot stop it"
    ZK_A=$ZK_ADDR
    ZK_A_DIR=$ZK_DIR
    ZK_B_DIR=$(_server_dir zk-b)
    on_cleanup "'$ROOT/scripts/zk-stop' '$ZK_B_DIR' >/dev/null 2>&1; rm -rf '$ZK_B_DIR'"
    ZK_JVMFLAGS=${ZK_B_JVMFLAGS:-} ZK_BASE_PORT=$(free_port_block 13) timeout -k 2 90 \
        "$ROOT/scripts/zk-start" "$ZK_B_DIR" >"$T/zk-b.out" 2>&1 ||
        skip_all "second ZooKeeper did not start"
    ZK_B=$(tail -n 1 "$T/zk-b.out")
}

ss_topo() {
    local f=$ETC/zookeeper_discovery/infrastructure/$1.yaml
    echo "---" >"$f"
    tr ',' '\n' <<<"$2" | while IFS=: read -r h p; do echo "- - $h" >>"$f"; echo "  - $p" >>"$f"; done
}

ss_layout() {
    ETC=$T/etc
    mkdir -p "$ETC/services" "$ETC/zookeeper_discovery/infrastructure"
    echo '["ecosystem", "superregion", "region", "habitat"]' >"$ETC/services/location_types.json"
    cat >"$ETC/services/location_mapping.json" <<'JSON'
{"prod_ecosystem": {
   "norcal-prod_superregion": {
     "uswest1-prod_region": {"uswest1aprod_habitat": {}},
     "uswest2-prod_region": {"uswest2aprod_habitat": {}}},
   "nova-prod_superregion": {
     "useast1-prod_region": {"useast1aprod_habitat": {}}}}}
JSON
    echo prod >"$ETC/ecosystem"
    echo norcal-prod >"$ETC/superregion"
    echo uswest1-prod >"$ETC/region"
    echo uswest1aprod >"$ETC/habitat"
    ss_topo norcal-prod "$ZK_A"
    ss_topo nova-prod "$ZK_B"
    SOA=$T/soa
    mkdir -p "$SOA/alpha" "$SOA/beta"
    cat >"$SOA/alpha/smartstack.yaml" <<'YAML'
main:
  proxy_port: 20011
  healthcheck_uri: /status
  extra_advertise:
    region:uswest1-prod: [region:useast1-prod]
YAML
    cat >"$SOA/beta/smartstack.yaml" <<'YAML'
main:
  proxy_port: 20012
  healthcheck_uri: /status
YAML
}

ss_count() {
    ZK_ADDR=$1 zkw children "/smartstack/global/$2" | json_get - "len(j)"
}
