"""Offline structural checks of meshreg's Kubernetes manifests
(deploy/kubernetes/*.yaml, README "Deploying"); Debian's kubectl predates
native sidecars, so these are our own rules, the ones the drain depends on.

    python3 tests/k8s_check.py MANIFEST.yaml...

Prints one JSON object per file, one per line: {"file": ..., "errors":
[...], "mode": "native"|"classic", "args": [meshreg's args], "env": {static
env}, "smartstack": "...", "grace": N, "required_grace": N}. Exit status 0
even with errors (the caller asserts on them), 2 when a file cannot be read
at all.
"""
import json
import sys

import yaml

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
MARGIN_S = 10  # on top of the windows: process exits, kubelet's own latency


def flag(args, name, default=None):
    """--name=value or --name value from an argument list."""
    for i, a in enumerate(args):
        if a.startswith(name + "="):
            return a[len(name) + 1:]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return default


def mounts(c):
    return {m["name"]: m for m in c.get("volumeMounts", [])}


def check(path):
    err = []
    out = {"errors": err}
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    pods = [d for d in docs if d.get("kind") == "Pod"]
    cms = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    if len(pods) != 1:
        err.append("expected exactly one Pod, found %d" % len(pods))
        return out
    pod = pods[0]
    if pod.get("apiVersion") != "v1" or not pod.get("metadata", {}).get("name"):
        err.append("Pod: apiVersion v1 and metadata.name required")
    spec = pod.get("spec") or {}
    inits, mains = spec.get("initContainers", []), spec.get("containers", [])
    if not mains:
        err.append("spec.containers is empty")
    names = [c.get("name") for c in inits + mains]
    if len(set(names)) != len(names) or not all(names):
        err.append("container names must be set and unique: %s" % names)
    for c in inits + mains:
        if not c.get("image"):
            err.append("container %s has no image" % c.get("name"))
    vols = {v["name"]: v for v in spec.get("volumes", [])}

    # meshreg: a native sidecar (init container, restartPolicy Always) or a
    # classic second container.
    native = [c for c in inits if c.get("name") == "meshreg"]
    classic = [c for c in mains if c.get("name") == "meshreg"]
    if len(native) + len(classic) != 1:
        err.append("exactly one container named meshreg required")
        return out
    mode = "native" if native else "classic"
    out["mode"] = mode
    mr = (native or classic)[0]
    if mode == "native" and mr.get("restartPolicy") != "Always":
        err.append("meshreg as an init container needs restartPolicy: Always (native sidecar)")
    args = list(mr.get("command", [])[1:]) + list(mr.get("args", []))
    out["args"] = args
    env = {e["name"]: e.get("value") for e in mr.get("env", [])}
    out["env"] = {k: v for k, v in env.items() if v is not None}
    if not args or args[0] != "run":
        err.append("meshreg's args must start with the run subcommand")
    drain = int(flag(args, "--drain-seconds", 30))
    admin = flag(args, "--admin", env.get("MESHREG_ADMIN") or "0.0.0.0:6666")
    ahost, _, aport = admin.rpartition(":")
    aport = int(aport)
    if ahost in LOOPBACK:
        err.append("--admin %s: kubelet probes the pod IP, listen on 0.0.0.0" % admin)
    svc = flag(args, "--service", env.get("PAASTA_SERVICE"))
    inst = flag(args, "--instance", env.get("PAASTA_INSTANCE") or "main")
    named_ports = {p.get("name"): p["containerPort"] for p in mr.get("ports", []) if p.get("name")}

    # The smartstack.yaml comes from a ConfigMap in the same file.
    ss = flag(args, "--smartstack", env.get("MESHREG_SMARTSTACK"))
    found = False
    for vname, m in mounts(mr).items():
        v = vols.get(vname, {})
        if ss and "configMap" in v and ss.startswith(m["mountPath"].rstrip("/") + "/"):
            key = ss[len(m["mountPath"].rstrip("/")) + 1:]
            cm = cms.get(v["configMap"]["name"])
            if cm and key in cm.get("data", {}):
                out["smartstack"] = cm["data"][key]
                found = True
    if not found:
        err.append("--smartstack %s is not a key of a ConfigMap mounted in meshreg" % ss)

    # The installer: a run-to-completion init container that copies the
    # binary into an emptyDir; its only argument is the destination.
    bin_vol = bin_rel = None
    for c in inits:
        if c is mr or c.get("restartPolicy") == "Always":
            continue
        for vname, m in mounts(c).items():
            dest = (c.get("args") or [""])[0]
            mp = m["mountPath"].rstrip("/") + "/"
            if "emptyDir" in vols.get(vname, {}) and dest.startswith(mp):
                bin_vol, bin_rel = vname, dest[len(mp):]
                if mode == "native" and inits.index(c) > inits.index(mr):
                    err.append("the installer must run before the meshreg sidecar starts")
    if not bin_vol:
        err.append("no init container copies meshreg into an emptyDir volume")

    # Every app container: preStop drains and waits, readiness on /health/<svc.ns>.
    apps = [c for c in mains if c is not mr]
    if not apps:
        err.append("no app container")
    for c in apps:
        n = c.get("name")
        m = mounts(c).get(bin_vol)
        if not m:
            err.append("%s: does not mount the %s volume holding meshreg" % (n, bin_vol))
            continue
        if not m.get("readOnly"):
            err.append("%s: mount %s readOnly" % (n, bin_vol))
        cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command", [])
        want = m["mountPath"].rstrip("/") + "/" + (bin_rel or "")
        if not cmd or cmd[0] != want:
            err.append("%s: preStop must exec %s (got %s)" % (n, want, cmd[:1]))
        elif cmd[1:2] != ["drain"] or "--wait" not in cmd:
            err.append("%s: preStop must run `meshreg drain --wait` (got %s)" % (n, " ".join(cmd)))
        else:
            pa = flag(cmd, "--admin", "127.0.0.1:6666")
            h, _, p = pa.rpartition(":")
            if h not in LOOPBACK or int(p) != aport:
                err.append("%s: preStop --admin %s: must be loopback port %d (POST "
                           "/drain is refused from elsewhere)" % (n, pa, aport))
        rp = (c.get("readinessProbe") or {}).get("httpGet") or {}
        rport = named_ports.get(rp.get("port"), rp.get("port"))
        if rp.get("path") != "/health/%s.%s" % (svc, inst) or rport != aport:
            err.append("%s: readinessProbe must GET /health/%s.%s on port %d (got %s on %s)"
                       % (n, svc, inst, aport, rp.get("path"), rp.get("port")))

    # The grace period, against the flags used.
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    app_stop = ann.get("meshreg/app-shutdown-seconds")
    if app_stop is None:
        err.append("annotation meshreg/app-shutdown-seconds (the app's own shutdown budget) missing")
        app_stop = 0
    # native: preStop window, app stop, then meshreg's SIGTERM window, in turn;
    # classic: meshreg's window and the preStop run side by side.
    req = drain + int(app_stop) + (drain if mode == "native" else 0) + MARGIN_S
    grace = spec.get("terminationGracePeriodSeconds", 30)
    out["grace"], out["required_grace"] = grace, req
    if grace < req:
        err.append("terminationGracePeriodSeconds %d < %d (drain %d%s + app %s + margin %d)"
                   % (grace, req, drain, " x2" if mode == "native" else "", app_stop, MARGIN_S))
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        try:
            print(json.dumps(dict(check(path), file=path)))
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
            print("k8s_check: %s: %s" % (path, e), file=sys.stderr)
            sys.exit(2)
