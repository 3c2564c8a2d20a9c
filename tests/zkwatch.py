#!/usr/bin/python3
"""An independent ZooKeeper observer for meshreg's tests (kazoo, not our C client).

  zkwatch.py --hosts H get PATH              JSON of the node (exit 0) or {"exists": false} (exit 3)
  zkwatch.py --hosts H children PATH         JSON list of PATH's children ([] if PATH is absent)
  zkwatch.py --hosts H nodes PARENT [--prefix P]
                                             JSON list of PARENT's children named P + 10 digits
                                             (a record's ephemeral sequential nodes; every child
                                             without --prefix), each {"name", "path", "data",
                                             "ephemeralOwner", "czxid", "version"}, by name
  zkwatch.py --hosts H wait PATH present|gone [--timeout S]
                                             waits; prints the wait in ms; exit 0, or 1 on timeout
  zkwatch.py --hosts H watch PATH [--duration S]
                                             prints one line per event until killed or S seconds:
                                             "<unix ms> <event> <details>", events: present, absent,
                                             created, deleted, changed, recreated (the czxid changed
                                             between two notifications: a delete we did not see),
                                             children (count of PATH's parent's children), state
  zkwatch.py --hosts H watch PARENT --prefix P [--duration S]
                                             the same for a record whose node is named P + 10
                                             digits (ephemeral sequential): "created" when one
                                             appears where there was none, "deleted" when the last
                                             goes, "recreated" when the set of such nodes (czxids)
                                             changes otherwise, "changed" on a data change
  zkwatch.py --hosts H hold PATH DATA [--seconds S] [--persistent] [--sequence]
                                             creates PATH (ephemeral unless --persistent,
                                             sequential with --sequence, parents made), prints its
                                             session id and the path made, keeps the session S
                                             seconds (default: until killed)

  zkwatch.py --hosts H [--auth USER:PASS] acl PATH
                                             JSON list of PATH's ACL entries: "scheme:id:perms"
                                             (perms as letters rwcda)
  zkwatch.py --hosts H [--auth USER:PASS] delete|set PATH [DATA]
                                             tries it; prints "ok" or the error's class name
                                             (NoAuthError, ...); exit 0 either way
  zkwatch.py --hosts H [--auth USER:PASS] protect PATH USER:PASS
                                             creates PATH (persistent, parents made) with ACL:
                                             world read, digest USER:PASS all (an admin's parent)

Uses the system python3 (/usr/bin/python3), where Debian's python3-kazoo lives.
"""
import argparse
import json
import logging
import re
import signal
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoNodeError


def now_ms():
    return int(time.time() * 1000)


def emit(*parts):
    print(now_ms(), *parts, flush=True)


def node_json(zk, path):
    try:
        data, stat = zk.get(path)
    except NoNodeError:
        return None
    return {
        "exists": True,
        "data": data.decode("utf-8", "replace") if data is not None else None,
        "ephemeralOwner": "0x%x" % stat.ephemeralOwner,
        "czxid": stat.czxid,
        "version": stat.version,
    }


def connect(hosts, timeout, auth=None):
    zk = KazooClient(hosts=hosts, timeout=timeout,
                     auth_data=[("digest", auth)] if auth else None)
    zk.start(timeout=timeout)
    return zk


def cmd_get(zk, args):
    j = node_json(zk, args.path)
    print(json.dumps(j if j else {"exists": False}, sort_keys=True))
    return 0 if j else 3


def cmd_children(zk, args):
    try:
        kids = sorted(zk.get_children(args.path))
    except NoNodeError:
        kids = []
    print(json.dumps(kids))
    return 0


def seq_match(prefix):
    return re.compile(re.escape(prefix) + r"[0-9]{10}\Z")


def cmd_nodes(zk, args):
    try:
        kids = sorted(zk.get_children(args.parent))
    except NoNodeError:
        kids = []
    if args.prefix is not None:
        m = seq_match(args.prefix)
        kids = [k for k in kids if m.match(k)]
    out = []
    for k in kids:
        path = args.parent.rstrip("/") + "/" + k
        j = node_json(zk, path)
        if j:
            j.pop("exists")
            j.update(name=k, path=path)
            out.append(j)
    print(json.dumps(out, sort_keys=True))
    return 0


def watch_prefix(zk, args, stop):
    """watch PARENT --prefix P: one record's sequential nodes, as one thing."""
    m = seq_match(args.prefix)
    lock = threading.Lock()
    last = {"czxids": None, "watched": set()}

    def on_data(path):
        def cb(data, stat, event=None):
            if event is not None and event.type == "CHANGED" and stat is not None:
                emit("changed", path, "czxid=%d owner=0x%x version=%d data=%s" % (
                    stat.czxid, stat.ephemeralOwner, stat.version,
                    (data or b"").decode("utf-8", "replace")))
            return stat is not None
        return cb

    def refresh(kids):
        with lock:
            nodes = {}
            for k in sorted(kids):
                if not m.match(k):
                    continue
                path = args.parent.rstrip("/") + "/" + k
                stat = zk.exists(path)
                if stat is not None:
                    nodes[path] = stat
            czxids = sorted(s.czxid for s in nodes.values())
            desc = " ".join("%s czxid=%d owner=0x%x version=%d" % (p, s.czxid, s.ephemeralOwner,
                                                                   s.version)
                            for p, s in sorted(nodes.items()))
            if last["czxids"] is None:
                emit("present" if czxids else "absent", args.parent, desc)
            elif czxids != last["czxids"]:
                if not czxids:
                    emit("deleted", args.parent)
                elif not last["czxids"]:
                    emit("created", args.parent, desc)
                else:
                    emit("recreated", args.parent, desc)
            last["czxids"] = czxids
            for p in nodes:
                if p not in last["watched"]:
                    last["watched"].add(p)
                    zk.DataWatch(p, on_data(p))
            emit("children", len(kids), ",".join(sorted(kids)))

    while not stop.is_set():
        if zk.exists(args.parent):
            zk.ChildrenWatch(args.parent, refresh)
            return
        if last["czxids"] is None:
            emit("absent", args.parent)
            last["czxids"] = []
        stop.wait(0.05)


def cmd_wait(zk, args):
    want = args.what == "present"
    done = threading.Event()
    t0 = time.monotonic()

    def check(event=None):
        exists = zk.exists(args.path, watch=check) is not None
        if exists == want:
            done.set()

    check()
    ok = done.wait(args.timeout)
    print(int((time.monotonic() - t0) * 1000))
    return 0 if ok else 1


def cmd_watch(zk, args):
    parent = args.path.rsplit("/", 1)[0] or "/"
    last = {"czxid": None, "first": True}
    lock = threading.Lock()

    def on_state(state):
        emit("state", state)

    zk.add_listener(on_state)
    if args.prefix is not None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        args.parent = args.path
        threading.Thread(target=watch_prefix, args=(zk, args, stop), daemon=True).start()
        stop.wait(args.duration if args.duration else None)
        return 0

    def on_data(data, stat, event=None):
        with lock:
            if stat is None:
                emit("absent" if last["first"] else "deleted", args.path)
                last["czxid"] = None
            else:
                desc = "czxid=%d owner=0x%x version=%d data=%s" % (
                    stat.czxid, stat.ephemeralOwner, stat.version,
                    (data or b"").decode("utf-8", "replace"))
                if last["first"]:
                    emit("present", args.path, desc)
                elif last["czxid"] is None:
                    emit("created", args.path, desc)
                elif last["czxid"] != stat.czxid:
                    emit("recreated", args.path, desc)
                else:
                    emit("changed", args.path, desc)
                last["czxid"] = stat.czxid
            last["first"] = False

    zk.DataWatch(args.path, on_data)

    # ChildrenWatch stops for good when its node is deleted; the parent of a
    # registration is persistent, so wait for it to exist first.
    def watch_children():
        while not stop.is_set():
            if zk.exists(parent):
                zk.ChildrenWatch(parent, lambda kids: emit("children", len(kids), ",".join(sorted(kids))))
                return
            stop.wait(0.05)

    stop = threading.Event()
    threading.Thread(target=watch_children, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait(args.duration if args.duration else None)
    return 0


def cmd_hold(zk, args):
    path = zk.create(args.path, args.data.encode(), ephemeral=not args.persistent,
                     sequence=args.sequence, makepath=True)
    print("0x%x %s" % (zk.client_id[0], path), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait(args.seconds if args.seconds else None)
    return 0


PERM_LETTERS = [(1, "r"), (2, "w"), (4, "c"), (8, "d"), (16, "a")]


def cmd_acl(zk, args):
    acls, _ = zk.get_acls(args.path)
    out = []
    for a in acls:
        perms = "".join(ch for bit, ch in PERM_LETTERS if a.perms & bit)
        out.append("%s:%s:%s" % (a.id.scheme, a.id.id, perms))
    print(json.dumps(sorted(out)))
    return 0


def cmd_delete(zk, args):
    return try_op(lambda: zk.delete(args.path))


def cmd_set(zk, args):
    return try_op(lambda: zk.set(args.path, (args.data or "").encode()))


def try_op(fn):
    try:
        fn()
        print("ok")
    except Exception as e:  # the class name is what the test compares
        print(type(e).__name__)
    return 0


def cmd_protect(zk, args):
    from kazoo.security import ACL, ANYONE_ID_UNSAFE, Permissions, make_digest_acl
    user, pw = args.identity.split(":", 1)
    zk.ensure_path(args.path.rsplit("/", 1)[0] or "/")
    acl = [make_digest_acl(user, pw, all=True), ACL(Permissions.READ, ANYONE_ID_UNSAFE)]
    zk.create(args.path, b"", acl=acl)
    print("ok")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--auth", help="digest USER:PASS for the session")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("get")
    p.add_argument("path")
    p = sub.add_parser("children")
    p.add_argument("path")
    p = sub.add_parser("nodes")
    p.add_argument("parent")
    p.add_argument("--prefix")
    p = sub.add_parser("wait")
    p.add_argument("path")
    p.add_argument("what", choices=["present", "gone"])
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("watch")
    p.add_argument("path")
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--prefix")
    p = sub.add_parser("hold")
    p.add_argument("path")
    p.add_argument("data")
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--persistent", action="store_true")
    p.add_argument("--sequence", action="store_true")
    p = sub.add_parser("acl")
    p.add_argument("path")
    p = sub.add_parser("delete")
    p.add_argument("path")
    p = sub.add_parser("set")
    p.add_argument("path")
    p.add_argument("data", nargs="?")
    p = sub.add_parser("protect")
    p.add_argument("path")
    p.add_argument("identity")
    args = ap.parse_args()

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    zk = connect(args.hosts, args.connect_timeout, args.auth)
    try:
        rc = globals()["cmd_" + args.cmd](zk, args)
    finally:
        zk.stop()
        zk.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
