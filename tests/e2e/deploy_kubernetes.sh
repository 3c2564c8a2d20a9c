#!/usr/bin/env bash
# README "Deploying" (Kubernetes): deploy/kubernetes/*.yaml pass offline
# structural checks (tests/k8s_check.py: the native sidecar or classic
# container, the installer filling an emptyDir, the app's preStop running
# `meshreg drain --wait` on loopback, readiness on /health/<svc.ns>, the
# grace period against the flags used); the meshreg container's args, env
# and ConfigMap'd smartstack.yaml pass `meshreg check`; broken copies of a
# manifest are caught (the checks can fail); and the app's preStop, run
# against a real sidecar, returns only after the drain window.
. "$(dirname "$0")/lib.sh"

"$PY" -c 'import yaml' 2>/dev/null || skip_all "python3-yaml missing"
K=$ROOT/deploy/kubernetes
N=$K/pod-native-sidecar.yaml

# Broken copies of the native pod: NAME|SED_EXPR|EXPECTED_ERROR_WORDS.
BROKEN=(
    "grace 1 s short|s/terminationGracePeriodSeconds: 60/terminationGracePeriodSeconds: 59/|terminationGracePeriodSeconds 59 < 60"
    "a longer drain window, same grace|s/--drain-seconds=20/--drain-seconds=25/|terminationGracePeriodSeconds 60 < 70"
    "preStop without --wait|/- --wait/d|preStop must run"
    "preStop to a non-loopback admin|s/--admin=127.0.0.1:6666/--admin=10.0.0.5:6666/|must be loopback"
    "readiness on /health|s,path: /health/web.main,path: /health,|readinessProbe must GET /health/web.main"
    "sidecar without restartPolicy Always|/restartPolicy: Always/d|restartPolicy: Always"
    "no installer|/image: meshreg-installer/,+1d|no init container copies meshreg"
)
files=("$N" "$K/pod-classic-sidecar.yaml")
for i in "${!BROKEN[@]}"; do
    IFS='|' read -r _ expr _ <<<"${BROKEN[$i]}"
    sed "$expr" "$N" >"$T/broken$i.yaml"
    files+=("$T/broken$i.yaml")
done
# One run over every file; then one pass splits the answers into files.
"$PY" "$ROOT/tests/k8s_check.py" "${files[@]}" >"$T/all.jsonl" 2>"$T/check.err" ||
    { fail "k8s_check runs" "$(cat "$T/check.err")"; finish; }
"$PY" - "$T" "$T/all.jsonl" <<'PY'
import json, os, sys
T = sys.argv[1]
for line in open(sys.argv[2]):
    j = json.loads(line)
    n = os.path.basename(j["file"])[:-len(".yaml")]
    w = lambda ext, text: open(os.path.join(T, n + ext), "w").write(text)
    w(".errors", "; ".join(j["errors"]))
    w(".mode", j.get("mode", ""))
    w(".smartstack.yaml", j.get("smartstack", ""))
    w(".args", "\n".join(j.get("args", [])[1:]) + "\n")
    w(".env", "\n".join("%s=%s" % kv for kv in j.get("env", {}).items()) + "\n")
PY

for n in pod-native-sidecar pod-classic-sidecar; do
    check_eq "$n: structural checks" "$(cat "$T/$n.errors")" ""
    check_eq "$n: mode" "$(cat "$T/$n.mode")" "$(case $n in *native*) echo native ;; *) echo classic ;; esac)"
    # meshreg check with the manifest's own args and env; the mounted
    # paths and downward-API values replaced by test ones.
    mapfile -t args < <(sed "s|^--smartstack=.*|--smartstack=$T/$n.smartstack.yaml|; s|^--state-dir=.*|--state-dir=$T|; s|\$(POD_NAME)|web-main-abcde|" "$T/$n.args")
    mapfile -t envs <"$T/$n.env"
    out=$(env "${envs[@]}" PAASTA_HOST=10.0.0.5 "$BIN" check "${args[@]}" 2>&1)
    check_eq "$n: meshreg check accepts the container's args and env" "$?" 0
    check "$n: ... and registers web.main from the ConfigMap" \
        grep -q '^web.main: .*register 10.0.0.5:8888 as web-main-abcde' <<<"$out"
done
for i in "${!BROKEN[@]}"; do
    IFS='|' read -r name _ want <<<"${BROKEN[$i]}"
    check "caught: $name" grep -qF "$want" "$T/broken$i.errors"
done

# The app's preStop command, as the kubelet would exec it (binary from the
# shared volume = the binary under test), against a real sidecar: it
# returns only when the drain window is over.
mapfile -t prestop < <("$PY" -c '
import sys, yaml
pod = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Pod"][0]
app = [c for c in pod["spec"]["containers"] if c["name"] == "app"][0]
print("\n".join(app["lifecycle"]["preStop"]["exec"]["command"][1:]))' "$N")
DRAIN_S=2 start_sidecar
prestop=("${prestop[@]/--admin=127.0.0.1:6666/--admin=$ADMIN}")
t0=$(now_ms)
meshreg_cli "${prestop[@]}" >"$T/prestop.out" 2>&1
rc=$?
dt=$(($(now_ms) - t0))
check_eq "preStop command exits 0" "$rc" 0
check "preStop: the record is gone" no_record
check_between "preStop returns after the 2 s window (ms)" "$dt" 1900 8000
check "preStop: the sidecar reports the drain reason" grep -q 'pod terminating' <<<"$(http_get "$ADMIN_URL/status")"
finish
