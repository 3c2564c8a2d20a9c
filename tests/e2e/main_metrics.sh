#!/usr/bin/env bash
# README "Metrics": a real scrape parsed by python3-prometheus-client's text parser with
# registration names holding ", \ and a newline; the families a scrape must have (build info,
# probe duration histograms per kind, probe results by outcome, backend operations and their
# latency, reloads by result, config generation); /status and /metrics after a rejected and an
# accepted SIGHUP reload.
. "$(dirname "$0")/lib.sh"

PROM_PY=/usr/bin/python3
"$PROM_PY" -c 'import prometheus_client' 2>/dev/null ||
    skip_all "no prometheus_client for $PROM_PY (python3-prometheus-client)"

cat >"$T/ss.yaml" <<'YAML'
main:
  proxy_port: 20001
  healthcheck_uri: /status
"q\"uote":
  proxy_port: 20002
  healthcheck_uri: /status
"back\\slash":
  proxy_port: 20003
  healthcheck_uri: /status
"new\nline":
  proxy_port: 20004
  healthcheck_uri: /status
YAML
cp "$T/ss.yaml" "$T/ss.good"
APP_PORT=$(free_port)
start_demo "$APP_PORT"
start_meshreg run --smartstack "$T/ss.yaml" --service svc --port "$APP_PORT" --host 127.0.0.1 \
    --instance-id e2e-host --backend "file:$REG_DIR" --admin "127.0.0.1:$(free_port)" \
    --interval-ms 200 --drain-seconds 1 \
    --registration svc.main --registration 'svc.q"uote' --registration 'svc.back\slash' \
    --registration "svc.new
line"
wait_meshreg
check "four registrations up" wait_http "$ADMIN_URL/health" 200 10
check "every record registered" wait_for 5 eval \
    'http_get "$ADMIN_URL/status" | json_true - "all(c[\"registered\"] for c in j[\"checks\"])"'

# parse the scrape; print one fact per line for the checks below
parse() {
    http_get "$ADMIN_URL/metrics" >"$T/scrape"
    "$PROM_PY" - "$T/scrape" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def val(fam, **labels):
    for s in fams[fam].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None
names = sorted(s.labels["name"] for s in fams["meshreg_check_up"].samples)
print("names=" + repr(names))
print("build_info=%s" % (val("meshreg_build_info") == 1 and "version" in fams["meshreg_build_info"].samples[0].labels))
h = fams["meshreg_probe_duration_seconds"]
print("probe_hist_type=" + h.type)
print("probe_hist_labels=" + ",".join(sorted({k for s in h.samples for k in s.labels})))
print("http_count_positive=%s" %
      ([s.value for s in h.samples if s.name.endswith("_count") and s.labels["kind"] == "http"][0] > 0))
print("http_pass=%s" % (val("meshreg_probe_results", kind="http", outcome="pass") > 0))
print("backend_put_ok=%s" % (val("meshreg_backend_operations", op="put", result="ok") >= 4))
b = fams["meshreg_backend_operation_duration_seconds"]
print("backend_put_count=%d" % [s.value for s in b.samples if s.name.endswith("_count") and s.labels["op"] == "put"][0])
print("reloads_ok=%d" % val("meshreg_reloads", result="ok"))
print("reloads_rejected=%d" % val("meshreg_reloads", result="rejected"))
print("generation=%d" % val("meshreg_config_generation"))
PY
}
out=$(parse 2>&1)
check "the scrape parses" grep -q '^names=' <<<"$out" || show_log "$T/scrape"
check_eq "names come back intact" "$(grep '^names=' <<<"$out")" \
    "names=['svc.back\\\\slash', 'svc.main', 'svc.new\\nline', 'svc.q\"uote']"
check_eq "build info" "$(grep '^build_info=' <<<"$out")" "build_info=True"
check_eq "probe durations: a histogram" "$(grep '^probe_hist_type=' <<<"$out")" "probe_hist_type=histogram"
check_eq "probe durations: per kind, not per registration" \
    "$(grep '^probe_hist_labels=' <<<"$out")" "probe_hist_labels=kind,le"
check_eq "probe durations counted" "$(grep '^http_count_positive=' <<<"$out")" "http_count_positive=True"
check_eq "probe results by outcome" "$(grep '^http_pass=' <<<"$out")" "http_pass=True"
check_eq "backend puts counted" "$(grep '^backend_put_ok=' <<<"$out")" "backend_put_ok=True"
check "backend put latency observed" grep -qE '^backend_put_count=([4-9]|[1-9][0-9]+)$' <<<"$out"
check_eq "no reload yet" "$(grep -E '^(reloads_|generation)' <<<"$out" | tr '\n' ' ')" \
    "reloads_ok=0 reloads_rejected=0 generation=1 "
check "/status: no reload yet" \
    json_true - 'j["reload"]["last"] == "none" and j["reload"]["last_at"] is None' \
    <<<"$(http_get "$ADMIN_URL/status")"

# a rejected reload: /status names why, /metrics counts it
printf 'main:\n  proxy_port: nope\n' >"$T/ss.yaml"
kill -HUP "$MESHREG_PID"
check "rejected reload visible in /status" wait_for 5 eval \
    'http_get "$ADMIN_URL/status" | json_true - "j[\"reload\"][\"last\"] == \"rejected\" and \"proxy_port\" in j[\"reload\"][\"last_error\"]"'
out=$(parse 2>&1)
check_eq "rejected reload counted" "$(grep -E '^(reloads_|generation)' <<<"$out" | tr '\n' ' ')" \
    "reloads_ok=0 reloads_rejected=1 generation=1 "
cp "$T/ss.good" "$T/ss.yaml"
kill -HUP "$MESHREG_PID"
check "accepted reload visible in /status" wait_for 5 eval \
    'http_get "$ADMIN_URL/status" | json_true - "j[\"reload\"][\"last\"] == \"ok\" and j[\"reload\"][\"last_error\"] == \"\" and j[\"reload\"][\"config_generation\"] == 2"'
out=$(parse 2>&1)
check_eq "accepted reload counted" "$(grep -E '^(reloads_|generation)' <<<"$out" | tr '\n' ' ')" \
    "reloads_ok=1 reloads_rejected=1 generation=2 "

kill -TERM "$MESHREG_PID"
wait_exit "$MESHREG_PID" 5
check_eq "exit 0" "$EXIT_CODE" 0
finish
