#!/usr/bin/env bash
# README "PaaSTA host layout", "Placements", "Probes": on a host layout built in
# a temp dir (two ecosystems), `meshreg check` prints every placement
# (cluster, path, labels) as nerve-tools computes it; MESHREG_LOCATION_* and
# locations: beat the host's files; a malformed layout file stops check and
# run with exit 2 naming the file; a host without a layout keeps the old
# labels; the file: record carries the union of the placements' labels; the
# probe sends x-smartstack-target-identity (replacing a spoofed extra header).
. "$(dirname "$0")/lib.sh"

ETC=$T/etc
mkdir -p "$ETC/services" "$T/labels"
echo '["ecosystem", "superregion", "region", "habitat"]' >"$ETC/services/location_types.json"
cat >"$ETC/services/location_mapping.json" <<'EOF'
{"prod_ecosystem": {
   "norcal-prod_superregion": {
     "uswest1-prod_region": {"uswest1aprod_habitat": {}, "uswest1bprod_habitat": {}},
     "uswest2-prod_region": {"uswest2aprod_habitat": {}}},
   "nova-prod_superregion": {
     "useast1-prod_region": {"useast1aprod_habitat": {}}}},
 "devc_ecosystem": {
   "norcal-devc_superregion": {
     "uswest1-devc_region": {"uswest1cdevc_habitat": {}}}}}
EOF
echo prod >"$ETC/ecosystem"
echo norcal-prod >"$ETC/superregion"
echo uswest1-prod >"$ETC/region"
echo uswest1aprod >"$ETC/habitat"
printf 'team: web\n' >"$T/labels/psvc.main$((8888))"

SS=$T/smartstack.yaml
cat >"$SS" <<'EOF'
main:
  proxy_port: 20001
  advertise: [habitat, region]
  extra_advertise:
    region:uswest1-prod: [superregion:nova-prod, habitat:useast1aprod, region:mars]
    region:useast1-prod: [region:uswest2-prod]
  extra_healthcheck_headers:
    X-Smartstack-Target-Identity: spoofed
    X-Extra: kept
EOF

run_check() {
    meshreg_cli check --service psvc --smartstack "$SS" --port 8888 --host 10.0.0.5 \
        --instance-id h1 --labels-dir "$T/labels" "$@"
}

out=$(run_check --etc-dir "$ETC" 2>"$T/check.err")
check_eq "check exits 0 on a host layout" "$?" 0
check_eq "check prints one placement per superregion cluster" \
    "$(grep '^  placement' <<<"$out")" \
    "  placement superregion:norcal-prod path /smartstack/global/psvc.main labels habitat:uswest1aprod,region:uswest1-prod,team=web,paasta_instance=main
  placement superregion:nova-prod path /smartstack/global/psvc.main labels habitat:useast1aprod,region:useast1-prod,team=web,paasta_instance=main"
check "an unknown destination is a note naming the mapping file" grep -qF \
    "  note: extra_advertise destination region:mars: unknown location region:mars (not in $ETC/services/location_mapping.json), skipped" \
    <<<"$out"
# No upcast: with advertise [region], a habitat destination is not widened to
# its region (useast1-prod, in nova-prod's cluster).
printf 'main:\n  proxy_port: 20001\n  extra_advertise:\n    region:uswest1-prod: [habitat:useast1aprod]\n' \
    >"$T/upcast.yaml"
out=$(run_check --etc-dir "$ETC" --smartstack "$T/upcast.yaml")
check_eq "no upcast: a habitat destination adds nothing to advertise [region]" \
    "$(grep '^  placement' <<<"$out")" \
    "  placement superregion:norcal-prod path /smartstack/global/psvc.main labels region:uswest1-prod,team=web,paasta_instance=main"

out=$(run_check --etc-dir "$ETC" --zk-location-type region)
check_eq "--zk-location-type region: one placement per region" \
    "$(grep -o '^  placement [^ ]*' <<<"$out")" \
    "  placement region:uswest1-prod
  placement region:useast1-prod"

# Precedence: env > config file > files. In useast1-prod the second
# extra_advertise entry applies instead of the first.
printf 'locations:\n  region: useast1-prod\n  habitat: useast1aprod\n' >"$T/m.yaml"
out=$(run_check --etc-dir "$ETC" -c "$T/m.yaml")
check_eq "locations: beats the host's files" "$(grep -o '^  placement [^ ]*' <<<"$out")" \
    "  placement superregion:nova-prod
  placement superregion:norcal-prod"
check "the matching extra_advertise source is the config's region" \
    grep -q 'placement superregion:norcal-prod path /smartstack/global/psvc.main labels habitat:uswest2aprod,region:uswest2-prod,' <<<"$out"
out=$(MESHREG_LOCATION_REGION=uswest2-prod MESHREG_LOCATION_HABITAT=uswest2aprod \
    run_check --etc-dir "$ETC" -c "$T/m.yaml")
check_eq "MESHREG_LOCATION_* beats locations:" "$(grep '^  placement' <<<"$out")" \
    "  placement superregion:norcal-prod path /smartstack/global/psvc.main labels habitat:uswest2aprod,region:uswest2-prod,team=web,paasta_instance=main"
out=$(MESHREG_ETC_DIR=$ETC run_check)
check "MESHREG_ETC_DIR names the layout" grep -q 'placement superregion:nova-prod' <<<"$out"

# A host without a layout: no placement, the labels meshreg always wrote.
out=$(run_check --etc-dir "$T/none")
check_eq "no layout: exit 0" "$?" 0
check "no layout: no placement line" bash -c "! grep -q '^  placement' <<<'$out'"
check "no layout: labels as before" grep -q 'labels team=web,paasta_instance=main$' <<<"$out"

# Malformed files: exit 2, the file named, nothing started.
printf 'uswest1-prod\nuswest2-prod\n' >"$ETC/region"
run_check --etc-dir "$ETC" >/dev/null 2>"$T/bad.err"
check_eq "a two-line location file: check exits 2" "$?" 2
check "the error names the file" grep -q "$ETC/region: expected one location name on one line" \
    "$T/bad.err"
port=$(free_port)
meshreg_cli run --service psvc --smartstack "$SS" --port 8888 --etc-dir "$ETC" \
    --labels-dir "$T/labels" --backend "file:$T/reg" --admin "127.0.0.1:$port" \
    >/dev/null 2>"$T/badrun.err"
check_eq "run exits 2 on it too" "$?" 2
check "run names the file" grep -q "$ETC/region:" "$T/badrun.err"
check "run started nothing" [ ! -e "$T/reg" ]
echo uswest1-prod >"$ETC/region"
echo '{"prod_ecosystem": {' >"$ETC/services/location_mapping.json.new"
mv "$ETC/services/location_mapping.json" "$T/mapping.good"
mv "$ETC/services/location_mapping.json.new" "$ETC/services/location_mapping.json"
run_check --etc-dir "$ETC" >/dev/null 2>"$T/bad2.err"
check_eq "broken location_mapping.json: exit 2" "$?" 2
check "the error is FILE:LINE:COL" grep -qE "$ETC/services/location_mapping.json:[0-9]+:[0-9]+: " \
    "$T/bad2.err"
mv "$T/mapping.good" "$ETC/services/location_mapping.json"
printf 'team: [a\n' >"$T/labels/psvc.main8888"
run_check --etc-dir "$ETC" >/dev/null 2>"$T/bad3.err"
check_eq "a malformed labels file: exit 2" "$?" 2
check "the error names the labels file" grep -q "$T/labels/psvc.main8888:" "$T/bad3.err"
printf 'team: web\n' >"$T/labels/psvc.main8888"

# The probe: an app that logs every request's headers.
cat >"$T/app.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write("%s %s\n" % (self.path, sorted((k.lower(), v) for k, v in self.headers.items())))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
APP_PORT=$(free_port)
start_bg app "$PY" "$T/app.py" "$APP_PORT" "$T/headers.log"
wait_port "$APP_PORT" 5 || fail "header-logging app listens" "not on $APP_PORT"
printf 'team: web\n' >"$T/labels/psvc.main$APP_PORT"
start_meshreg run --service psvc --smartstack "$SS" --port "$APP_PORT" --host 127.0.0.1 \
    --instance-id h1 --etc-dir "$ETC" --labels-dir "$T/labels" --backend "file:$T/reg" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200
wait_meshreg && wait_up
check "the probe reached the app" wait_for 5 test -s "$T/headers.log"
line=$(head -n 1 "$T/headers.log")
check "probe sends x-smartstack-target-identity: psvc.main" \
    grep -qF "('x-smartstack-target-identity', 'psvc.main')" <<<"$line"
check "the spoofed extra header of that name is gone" bash -c "! grep -q spoofed <<<\"\$1\"" _ "$line"
check "other extra headers are kept" grep -qF "('x-extra', 'kept')" <<<"$line"
check "the note is logged at start" grep -q \
    "psvc.main.*placement: extra_advertise destination region:mars: unknown location" "$MESHREG_LOG"
rec=$T/reg/psvc.main/h1_$APP_PORT.json
check "the file: record is written" wait_for 5 test -f "$rec"
check "its labels are the union of the placements' labels" json_true "$rec" \
    "j['labels'] == {'habitat:uswest1aprod': '', 'region:uswest1-prod': '', 'habitat:useast1aprod': '', 'region:useast1-prod': '', 'team': 'web', 'paasta_instance': 'main'}"
finish
