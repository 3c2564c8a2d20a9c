#!/usr/bin/env bash
# README "Running it": an instance without a smartstack.yaml entry is a worker: nothing is
# registered, the log says so once, it is still probed (healthcheck_cmd from
# the instance config) and /health answers.
. "$(dirname "$0")/lib.sh"

cat >"$T/kubernetes-e2e.yaml" <<YAML
worker:
  cpus: 0.1
  mem: 100
  instances: 2
  cmd: "python3 worker.py"
  healthcheck_mode: cmd
  healthcheck_cmd: "test -e $T/healthy"
  healthcheck_timeout_seconds: 1
  healthcheck_max_consecutive_failures: 2
main:
  cpus: 1
YAML
touch "$T/healthy"
port=$(free_port)
start_meshreg run --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --instance worker --instance-config "$T/kubernetes-e2e.yaml" --port "$port" \
    --host 127.0.0.1 --instance-id "$IID" --backend "file:$REG_DIR" \
    --admin "127.0.0.1:$(free_port)" --interval-ms 200 --drain-seconds 1
wait_meshreg
check "worker: healthy cmd probe -> /health 200" wait_http "$ADMIN_URL/health" 200 8
# Nothing registered after several passing probes (each would register).
passes() { http_get "$ADMIN_URL/status" | json_get - 'j["checks"][0]["passes"]'; }
check "worker: probes keep passing" wait_for 10 eval '[ "$(passes)" -ge 3 ]'
check "worker: nothing registered" \
    bash -c "[ -z \"\$(find '$REG_DIR' -name '*.json' 2>/dev/null)\" ]"
n=$(grep -ciE 'worker mode|registers nothing|no smartstack' "$MESHREG_LOG")
check_eq "worker: the log says so exactly once" "$n" 1
rm -f "$T/healthy"
check "worker: failing cmd -> /health 503" wait_http "$ADMIN_URL/health" 503 8
touch "$T/healthy"
check "worker: passing again -> /health 200" wait_http "$ADMIN_URL/health" 200 8
check "worker: still nothing registered" \
    bash -c "[ -z \"\$(find '$REG_DIR' -name '*.json' 2>/dev/null)\" ]"
out=$(meshreg_cli status --admin "$ADMIN" 2>&1)
check_eq "worker: meshreg status exits 0" "$?" 0
out=$(meshreg_cli check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --instance worker --instance-config "$T/kubernetes-e2e.yaml" --port "$port" 2>&1)
check_eq "worker: meshreg check exits 0" "$?" 0
check "worker: meshreg check says it registers nothing" \
    grep -qiE 'worker|no registration|nothing' <<<"$out"

# A registration asked for explicitly must exist (it is not a worker then).
timeout 5 "$BIN" check --smartstack "$FIXTURES/smartstack.yaml" --service "$SVC" \
    --registration "$SVC.worker" --port "$port" >/dev/null 2>&1
check_eq "explicit registration without an entry: exit 2" "$?" 2

kill -TERM "$MESHREG_PID"
check "worker: SIGTERM -> /health 503" wait_http "$ADMIN_URL/health" 503 2
wait_exit "$MESHREG_PID" 5
check_eq "worker: exit 0 after the window" "$EXIT_CODE" 0

# An absent DEFAULT ./smartstack.yaml is still a worker (PaaSTA's rule) but
# says so at warn with the path it looked for; --worker states the intent.
mkdir -p "$T/empty"
run_empty() {
    (cd "$T/empty" && timeout -s TERM 1.5 "$BIN" run --service "$SVC" --port "$port" \
        --host 127.0.0.1 --instance-id "$IID" --backend "file:$T/reg2" \
        --admin "127.0.0.1:$(free_port)" --drain-seconds 0 "$@" 2>&1)
}
out=$(run_empty)
check "default smartstack.yaml absent: warn with the path" \
    grep -qE "warn .*\./smartstack\.yaml does not exist.*worker mode" <<<"$out"
# The default file:./registry is made absolute at start, and the log says where.
out=$(cd "$T/empty" && timeout -s TERM 1.5 "$BIN" run --service "$SVC" --port "$port" \
    --host 127.0.0.1 --worker --admin "127.0.0.1:$(free_port)" --drain-seconds 0 2>&1)
check "default backend: logged resolved to an absolute path" \
    grep -qF "backend file:./registry is relative: records go to $(cd "$T/empty" && pwd -P)/registry" \
    <<<"$out"
check "default backend: started with the absolute path" \
    grep -qF "backend file:$(cd "$T/empty" && pwd -P)/registry" <<<"$out"
out=$(run_empty --worker)
check "--worker: no smartstack warning" bash -c "! grep -q 'smartstack.yaml does not exist' <<<'$out'"
check "--worker: the worker line is there at info" grep -q "info .*worker mode" <<<"$out"
# A --smartstack FILE named explicitly that does not exist: exit 2, FILE named.
out=$(timeout 5 "$BIN" run --service "$SVC" --port "$port" --smartstack "$T/nope.yaml" \
    --admin "127.0.0.1:$(free_port)" --backend "file:$T/reg2" 2>&1)
check_eq "explicit missing --smartstack: exit 2" "$?" 2
check "explicit missing --smartstack: names the file" grep -q "$T/nope.yaml: cannot read" <<<"$out"
# VM mode: a listed service without its soa_dir directory is a misspelling: exit 2.
mkdir -p "$T/soa/$SVC"
printf 'soa_dir: %s\nservices:\n  - service: %s\n    port: %s\n' "$T/soa" "${SVC}x" "$port" \
    >"$T/vm.yaml"
out=$(timeout 5 "$BIN" run -c "$T/vm.yaml" --admin "127.0.0.1:$(free_port)" \
    --backend "file:$T/reg2" 2>&1)
check_eq "VM service without a directory: exit 2" "$?" 2
check "VM service without a directory: line and path named" \
    grep -q "vm.yaml:3:14: services: '${SVC}x': no directory $T/soa/${SVC}x" <<<"$out"
finish
