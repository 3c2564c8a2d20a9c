"""Servers, counters and the fleet of scripts/bench-fleet (see its header):
free ports, the processes started and the guard that stops them, the
ZooKeeper ensemble and etcd cluster (scripts/zk-start, scripts/etcd-start),
the 100 ms counter sampler, and the N sidecars. Not a benchmark itself."""
import base64
import ctypes
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The probe is not what is measured here: a 3 s timeout and --fall 3 keep a
# demo app starved of CPU by 3 JVMs and N sidecars from flapping records.
SMARTSTACK_YAML = """main:
  proxy_port: 20001
  healthcheck_uri: /status
  healthcheck_timeout_s: 3
"""
ZK_ROOT = "/fleet"
ETCD_PREFIX = "/fleet"
PER_SERVICE = 50
PER_APP = 250
SAMPLE_S = 0.1

ETCD_METHODS = ("LeaseGrant", "LeaseKeepAlive", "LeaseRevoke", "Put", "DeleteRange", "Txn")

T_START = time.monotonic()
DEADLINE = [None]


def note(msg):
    print("bench-fleet: [%5.1f s] %s" % (time.monotonic() - T_START, msg), file=sys.stderr, flush=True)


class OutOfTime(Exception):
    pass


def left():
    return DEADLINE[0] - time.monotonic()


def check_time():
    if left() <= 0:
        raise OutOfTime("time budget spent")


def wait_until(pred, timeout, every=0.05):
    """Polls pred() until truthy or timeout s; returns its last value."""
    end = time.monotonic() + min(timeout, max(0.0, left()))
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(every)


# ---------------------------------------------------------------- ports


def free_ports(n, avoid=()):
    """n loopback ports nobody listens on now, above the ephemeral range
    (61000-65499: outgoing connections do not take them before a sidecar
    binds, and the e2e tests' free_port_block picks 20000-32000)."""
    out = []
    avoid = set(avoid)
    p = 61000 + (os.getpid() * 7) % 4500
    tried = 0
    while len(out) < n and tried < 4500:
        p = 61000 + (p - 61000 + 1) % 4500
        tried += 1
        if p in avoid:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            out.append(p)
        except OSError:
            pass
        finally:
            s.close()
    if len(out) < n:
        raise RuntimeError("only %d free ports" % len(out))
    return out


def free_block(n):
    import random
    for _ in range(300):
        base = random.randrange(14000, 19500)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of %d free ports" % n)


# ---------------------------------------------------------------- processes

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    # The sidecar dies with this script, whatever kills it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Procs:
    """Every process this script started, for the cleanup."""

    def __init__(self, work):
        self.work = work
        self.pids_file = os.path.join(work, "pids")
        self.lock = threading.Lock()
        self.all = {}

    def add(self, p):
        with self.lock:
            self.all[p.pid] = p
            with open(self.pids_file, "a") as f:
                f.write("%d\n" % p.pid)

    def kill_all(self):
        with self.lock:
            ps = list(self.all.values())
        for p in ps:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                except OSError:
                    pass
        for p in ps:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            self.all.clear()


def start_guard(work, server_dirs_file):
    """A process that outlives a SIGKILL of this script and cleans up: it
    reads a pipe that only we hold open; EOF means we are gone."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            while os.read(r, 1):
                pass
        except OSError:
            pass
        guard_cleanup(work, server_dirs_file)
        os._exit(0)
    os.close(r)
    return pid, w


def guard_cleanup(work, server_dirs_file):
    try:
        with open(os.path.join(work, "pids")) as f:
            for line in f:
                try:
                    pid = int(line)
                    with open("/proc/%d/cmdline" % pid, "rb") as c:
                        cmd = c.read()
                    if b"meshreg" in cmd or b"demoapp" in cmd:
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    except OSError:
        pass
    stop_servers(server_dirs_file)
    subprocess.run(["rm", "-rf", work], check=False)


def stop_servers(server_dirs_file):
    try:
        with open(server_dirs_file) as f:
            lines = [ln.split() for ln in f if ln.strip()]
    except OSError:
        return
    for kind, d in lines:
        stopper = os.path.join(ROOT, "scripts", "zk-stop" if kind == "zk" else "etcd-stop")
        if os.path.isdir(d):
            subprocess.run([stopper, d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60, check=False)
            subprocess.run(["rm", "-rf", d], check=False)


# ---------------------------------------------------------------- servers


def fourlw(port, cmd, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.sendall(cmd.encode())
            s.settimeout(timeout)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def run(cmd, timeout, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=e, check=False)


class ZkEngine:
    name = "zk"
    label = "ZooKeeper 3.8 (3 members)"
    ident = "czxid, ephemeralOwner"

    def __init__(self, work, dirs_file):
        self.dir = tempfile.mkdtemp(prefix="meshreg-fleet-zk.", dir=shm_or(work))
        with open(dirs_file, "a") as f:
            f.write("zk %s\n" % self.dir)
        self.base = free_block(13)
        self.ports = [self.base + i for i in range(3)]
        self.hosts = ",".join("127.0.0.1:%d" % p for p in self.ports)
        self.zk = None

    def start(self):
        r = run([os.path.join(ROOT, "scripts", "zk-start"), "--ensemble", self.dir], 120,
                {"ZK_BASE_PORT": str(self.base)})
        if r.returncode != 0:
            raise RuntimeError("zk-start failed: %s" % r.stderr.strip()[-400:])
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)
        self.zk = KazooClient(hosts=self.hosts, timeout=15.0,
                              connection_retry=KazooRetry(max_tries=-1, max_delay=0.5),
                              command_retry=KazooRetry(max_tries=3, max_delay=0.5))
        self.zk.start(timeout=20)

    def stop(self):
        if self.zk is not None:
            try:
                self.zk.stop()
                self.zk.close()
            except Exception:
                pass
            self.zk = None
        run([os.path.join(ROOT, "scripts", "zk-stop"), self.dir], 60)

    def uri(self, i=0):
        # The ZooKeeper C client shuffles the hosts itself.
        return "zk://%s%s" % (self.hosts, ZK_ROOT)

    def kill_leader(self):
        r = run([os.path.join(ROOT, "scripts", "zk-stop"), "--kill", "--member", "leader", self.dir], 30)
        return r.stdout.strip()

    def restart_member(self, m):
        run([os.path.join(ROOT, "scripts", "zk-start"), "--member", str(m), self.dir], 90)

    def stop_all(self):
        run([os.path.join(ROOT, "scripts", "zk-stop"), self.dir], 60)

    def start_all(self):
        r = run([os.path.join(ROOT, "scripts", "zk-start"), self.dir], 90)
        return r.returncode == 0

    def _kids(self, path):
        from kazoo.exceptions import NoNodeError
        try:
            return self.zk.get_children(path)
        except NoNodeError:
            return []

    def names(self):
        """{parent/name: None} of every record node, or None if unreadable."""
        try:
            out = {}
            for svc in self._kids(ZK_ROOT):
                for k in self._kids(ZK_ROOT + "/" + svc):
                    out[svc + "/" + k] = None
            return out
        except Exception:
            return None

    def snapshot(self):
        """{node: (czxid, ephemeralOwner)} of every record, or None."""
        try:
            names = self.names()
            if names is None:
                return None
            asyncs = [(n, self.zk.exists_async(ZK_ROOT + "/" + n)) for n in names]
            out = {}
            for n, a in asyncs:
                st = a.get(timeout=10)
                if st is not None:
                    out[n] = (st.czxid, st.ephemeralOwner)
            return out
        except Exception:
            return None

    def sample(self):
        """{member: {"conn": c, "writes": w, "packets": p}} of the members that answer."""
        out = {}
        for i, port in enumerate(self.ports):
            txt = fourlw(port, "mntr", 0.5)
            if not txt:
                continue
            d = {}
            for line in txt.splitlines():
                k, _, v = line.partition("\t")
                if k in ("zk_connection_request_count", "zk_proposal_count", "zk_packets_received",
                         "zk_num_alive_connections"):
                    try:
                        d[k] = int(v)
                    except ValueError:
                        pass
            if "zk_packets_received" in d:
                out[i] = {"conn": d.get("zk_connection_request_count", 0),
                          "req": d.get("zk_packets_received", 0),
                          "writes": d.get("zk_proposal_count", 0),
                          "packets": d.get("zk_packets_received", 0),
                          "alive": d.get("zk_num_alive_connections", 0)}
        return out


class EtcdEngine:
    name = "etcd"
    label = "etcd 3.4 (3 members)"
    ident = "create_revision, lease"

    def __init__(self, work, dirs_file):
        self.dir = tempfile.mkdtemp(prefix="meshreg-fleet-etcd.", dir=shm_or(work))
        with open(dirs_file, "a") as f:
            f.write("etcd %s\n" % self.dir)
        self.base = free_block(13)
        self.ports = [self.base + i for i in range(3)]
        self.eps = ",".join("127.0.0.1:%d" % p for p in self.ports)
        self.conns = {}
        self.seen = {}  # member: remote addresses of its established client connections
        self.new_total = {}

    def start(self):
        r = run([os.path.join(ROOT, "scripts", "etcd-start"), "--cluster", self.dir], 120,
                {"ETCD_BASE_PORT": str(self.base)})
        if r.returncode != 0:
            raise RuntimeError("etcd-start failed: %s" % r.stderr.strip()[-400:])

    def stop(self):
        run([os.path.join(ROOT, "scripts", "etcd-stop"), self.dir], 60)

    def uri(self, i=0):
        # One URI for the whole fleet, as a deployment has it: each sidecar
        # starts at the endpoint its pid picks, so about a third is on each
        # member (before that spread, all would have sat on member 0).
        return "etcd://%s%s" % (self.eps, ETCD_PREFIX)

    def kill_leader(self):
        r = run([os.path.join(ROOT, "scripts", "etcd-stop"), "--leader", self.dir], 30)
        return r.stdout.strip()

    def restart_member(self, m):
        run([os.path.join(ROOT, "scripts", "etcd-start"), "--member", str(m), self.dir], 60)

    def stop_all(self):
        run([os.path.join(ROOT, "scripts", "etcd-stop"), self.dir], 60)

    def start_all(self):
        # One member alone is never healthy: start the three at once.
        ps = [subprocess.Popen([os.path.join(ROOT, "scripts", "etcd-start"), "--member", str(i), self.dir],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(3)]
        ok = True
        for p in ps:
            try:
                ok = p.wait(timeout=60) == 0 and ok
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                ok = False
        return ok

    def _get(self):
        r = run(["etcdctl", "--endpoints=" + self.eps, "--dial-timeout=1s", "--command-timeout=3s",
                 "get", "--prefix", ETCD_PREFIX + "/", "-w", "json"], 10, {"ETCDCTL_API": "3"})
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout).get("kvs", [])
        except ValueError:
            return None

    def snapshot(self):
        """{key: (create_revision, lease)} of every record, or None."""
        kvs = self._get()
        if kvs is None:
            return None
        out = {}
        for kv in kvs:
            k = base64.b64decode(kv["key"]).decode()[len(ETCD_PREFIX) + 1:]
            out[k] = (int(kv.get("create_revision", 0)), int(kv.get("lease", 0)))
        return out

    names = snapshot

    def _metrics(self, i, port):
        c = self.conns.get(i)
        try:
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
                self.conns[i] = c
            c.request("GET", "/metrics")
            return c.getresponse().read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            try:
                c.close()
            except Exception:
                pass
            self.conns.pop(i, None)
            return ""

    def sample(self):
        out = {}
        for i, port in enumerate(self.ports):
            txt = self._metrics(i, port)
            if not txt:
                continue
            req = 0
            writes = None
            for line in txt.splitlines():
                if line.startswith("grpc_server_started_total{"):
                    m = re.search(r'grpc_method="([A-Za-z]+)"', line)
                    if m and m.group(1) in ETCD_METHODS:
                        req += int(float(line.rsplit(" ", 1)[1]))
                elif line.startswith("etcd_server_proposals_committed_total "):
                    writes = int(float(line.rsplit(" ", 1)[1]))
            if writes is not None:
                out[i] = {"req": req, "writes": writes, "packets": req}
        self._count_conns(out)
        return out

    def _count_conns(self, out):
        """etcd counts no accepted connections: new established connections
        to each member's client port between two samples, from /proc/net/tcp
        (one shorter than a sample interval is missed)."""
        ports = {"%04X" % p: i for i, p in enumerate(self.ports)}
        now = {i: set() for i in range(len(self.ports))}
        try:
            with open("/proc/net/tcp") as f:
                next(f)
                for line in f:
                    x = line.split()
                    if x[3] == "01" and x[1].startswith("0100007F:") and x[1][9:] in ports:
                        now[ports[x[1][9:]]].add(x[2])
        except OSError:
            return
        for i, peers in now.items():
            new = len(peers - self.seen.get(i, set()))
            self.new_total[i] = self.new_total.get(i, 0) + new
            self.seen[i] = peers
            # counted even while the member's /metrics does not answer
            out.setdefault(i, {})["conn"] = self.new_total[i]
            out[i]["alive"] = len(peers)


def shm_or(work):
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return work


# ---------------------------------------------------------------- counters


class Sampler(threading.Thread):
    """Server counters every SAMPLE_S on every member (see the header)."""

    def __init__(self, engine):
        super().__init__(daemon=True)
        self.engine = engine
        self.ticks = []  # (t, {member: counters})
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                s = self.engine.sample()
            except Exception:
                s = {}
            with self.lock:
                self.ticks.append((t, s))
            self.stop_ev.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))

    def stop(self):
        self.stop_ev.set()
        self.join(5)

    def _increments(self, t0, t1, field):
        """{member: [(t, increase since its previous sample)]} for the ticks
        in [t0, t1]. A counter that went down restarted with its member; a
        member that did not answer keeps its last value."""
        with self.lock:
            ticks = [x for x in self.ticks if t0 <= x[0] <= t1]
        out = {}
        prev = {}
        for t, s in ticks:
            for m, c in s.items():
                v = c.get(field)
                if v is None:  # this member did not say: keep its last value
                    continue
                if m in prev:
                    out.setdefault(m, []).append((t, v - prev[m] if v >= prev[m] else v))
                prev[m] = v
        return out, (ticks[-1][0] - ticks[0][0] if len(ticks) > 1 else 0.0)

    @staticmethod
    def _peak(inc, t0):
        peak = acc = j = 0
        for i in range(len(inc)):
            acc += inc[i][1]
            while inc[i][0] - inc[j][0] > 1.0 + 1e-6:
                acc -= inc[j][1]
                j += 1
            if inc[i][0] >= t0:
                peak = max(peak, acc)
        return peak

    def peaks(self, t0, t1, field, sum_members=True):
        """Peak increase of counter `field` over any 1 s window in [t0, t1]:
        of the sum over members, or (sum_members False: a counter every member
        keeps, like etcd's committed index) of the busiest member."""
        per, _ = self._increments(t0 - SAMPLE_S * 1.5, t1, field)
        if not sum_members:
            return max([self._peak(v, t0) for v in per.values()] or [0])
        inc = sorted(x for v in per.values() for x in v)
        return self._peak(inc, t0)

    def total(self, t0, t1, field, sum_members=True):
        """(increase over [t0, t1], seconds covered): summed over members, or
        the busiest member's."""
        per, dt = self._increments(t0, t1, field)
        sums = [sum(d for _, d in v) for v in per.values()]
        if not sums:
            return 0, dt
        return (sum(sums) if sum_members else max(sums)), dt


# ---------------------------------------------------------------- the fleet


def iid_of(node):
    """fNNNNN from fleetNNN.main/fNNNNN_<seq or port>."""
    return node.split("/")[-1].split("_")[0]


def by_iid(recs):
    """{iid: sorted identities of its records} (a record re-created under a
    new node name still counts once, as its sidecar's)."""
    out = {}
    for n, ident in recs.items():
        out.setdefault(iid_of(n), []).append((n, ident))
    return {k: sorted(v) for k, v in out.items()}


def differ(before, after):
    """The sidecars whose records are not exactly the same in both."""
    b, a = by_iid(before), by_iid(after)
    return sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))


def count_records(recs):
    per = {}
    for n in recs:
        per[iid_of(n)] = per.get(iid_of(n), 0) + 1
    return per


class Fleet:
    def __init__(self, args, procs, work, n, ttl, uri):
        self.args = args
        self.procs = procs
        self.work = work
        self.n = n
        self.ttl = ttl
        self.uri = uri
        self.iids = ["f%05d" % i for i in range(1, n + 1)]
        self.sidecars = {}  # iid -> Popen
        self.logs = {}
        self.admin = {}
        self.apps = []
        self.app_ports = []
        self.smartstack = os.path.join(work, "smartstack.yaml")
        with open(self.smartstack, "w") as f:
            f.write(SMARTSTACK_YAML)

    def start_apps(self, avoid):
        k = (self.n + PER_APP - 1) // PER_APP
        # From the kernel's ephemeral range: two fleets at once (fleet_zk and
        # fleet_etcd in one make test) never pick the same app port.
        self.app_ports = []
        for _ in range(k):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.app_ports.append(s.getsockname()[1])
            s.close()
        for port in self.app_ports:
            p = subprocess.Popen([self.args.demo, "--port", str(port), "--quiet"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, preexec_fn=_child_setup,
                                 process_group=0)
            self.procs.add(p)
            self.apps.append(p)
        for port in self.app_ports:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("demoapp on %d did not start" % port)
                    time.sleep(0.05)

    def spawn(self, iid, admin_port=None):
        i = int(iid[1:])
        if admin_port is None:
            admin_port = self.admin[iid]
        self.admin[iid] = admin_port
        cmd = [self.args.bin, "run", "--smartstack", self.smartstack, "--fall", "3", "--service",
               "fleet%03d" % ((i - 1) // PER_SERVICE), "--instance", "main",
               "--port", str(self.app_ports[(i - 1) % len(self.app_ports)]), "--host", "127.0.0.1",
               "--instance-id", iid, "--backend", self.uri(i), "--ttl-seconds", str(self.ttl),
               "--admin", "127.0.0.1:%d" % admin_port, "--interval-ms", str(self.args.interval_ms),
               "--drain-seconds", "1"]
        log = os.path.join(self.work, "sidecar-%s.log" % iid)
        self.logs[iid] = log
        with open(log, "ab") as f:
            # One process group for the whole fleet: a Ctrl-C on the terminal
            # reaches this script only, which then stops the fleet itself. No
            # preexec_fn (it makes every spawn a full fork: 16 ms instead of
            # 1 ms each); the guard kills the fleet if we die.
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 process_group=self._pgid())
        self.procs.add(p)
        self.sidecars[iid] = p
        return p

    def _pgid(self):
        for p in self.sidecars.values():
            if p.poll() is None:
                try:
                    return os.getpgid(p.pid)
                except OSError:
                    pass
        return 0

    def spawn_all(self, avoid):
        ports = free_ports(self.n, avoid)
        for iid, port in zip(self.iids, ports):
            self.spawn(iid, port)
        self.t_spawned = time.monotonic()
        # A sidecar whose admin port another process took in the meantime
        # exits at once (status 1): once more on another port.
        time.sleep(1.0)
        dead = [iid for iid, p in self.sidecars.items() if p.poll() not in (None, 0)]
        if dead:
            note("%d sidecar(s) exited at start (%s): respawned on other ports" % (len(dead), ", ".join(dead[:5])))
            for iid, port in zip(dead, free_ports(len(dead), set(avoid) | set(self.admin.values()))):
                self.spawn(iid, port)
        return len(dead)

    def signal_all(self, sig):
        for p in self.sidecars.values():
            try:
                os.kill(p.pid, sig)
            except OSError:
                pass

    def alive(self):
        return sum(1 for p in self.sidecars.values() if p.poll() is None)

    def _status(self, iid):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.admin[iid], timeout=3)
            c.request("GET", "/status")
            j = json.loads(c.getresponse().read())
            c.close()
            b = j["backend"]
            return b.get("state") == "connected" and b.get("pending", 1) == 0
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            return False

    def not_connected(self):
        """Sidecars whose /status does not say connected with nothing pending."""
        with ThreadPoolExecutor(16) as ex:
            res = list(ex.map(self._status, self.iids))
        return sum(1 for r in res if not r)

    def wait_connected(self, timeout):
        """Until every sidecar says connected twice in a row 0.5 s apart."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and left() > 0:
            if self.not_connected() == 0:
                time.sleep(0.5)
                if self.not_connected() == 0:
                    return True
            time.sleep(0.2)
        return False

    def last_connected_after(self, t_wall):
        """Per sidecar, the wall time of the last 'backend ... connected'
        log line after t_wall (None if none: it never lost the backend)."""
        out = {}
        pat = re.compile(r"^(\S+Z) info  backend \S+ connected")
        for iid, path in self.logs.items():
            last = None
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        m = pat.match(line)
                        if m:
                            ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ") \
                                .replace(tzinfo=timezone.utc).timestamp()
                            if ts >= t_wall:
                                last = ts
            except OSError:
                pass
            out[iid] = last
        return out

    def rss(self):
        rss = pss = 0
        for p in self.sidecars.values():
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
                with open("/proc/%d/smaps_rollup" % p.pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1])
            except OSError:
                pass
        return rss, pss

    def stop(self):
        self.signal_all(signal.SIGCONT)
        for p in self.sidecars.values():
            if p.poll() is None:
                p.kill()
        for p in list(self.sidecars.values()) + self.apps:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
