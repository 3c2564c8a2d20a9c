#!/usr/bin/python3
"""An independent ZooKeeper observer for meshreg's tests (kazoo, not our C client).

  zkwatch.py --hosts H get PATH              JSON of the node (exit 0) or {"exists": false} (exit 3)
  zkwatch.py --hosts H children PATH         JSON list of PATH's children ([] if PATH is absent)
  zkwatch.py --hosts H wait PATH present|gone [--timeout S]
                                             waits; prints the wait in ms; exit 0, or 1 on timeout
  zkwatch.py --hosts H watch PATH [--duration S]
                                             prints one line per event until killed or S seconds:
                                             "<unix ms> <event> <details>", events: present, absent,
                                             created, deleted, changed, recreated (the czxid changed
                                             between two notifications: a delete we did not see),
                                             children (count of PATH's parent's children), state
  zkwatch.py --hosts H hold PATH DATA [--seconds S] [--persistent]
                                             creates PATH (ephemeral unless --persistent, parents
                                             made), prints its session id, keeps the session S
                                             seconds (default: until killed)

Uses the system python3 (/usr/bin/python3), where Debian's python3-kazoo lives.
"""
import argparse
import json
import logging
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


def connect(hosts, timeout):
    zk = KazooClient(hosts=hosts, timeout=timeout)
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
    zk.create(args.path, args.data.encode(), ephemeral=not args.persistent, makepath=True)
    print("0x%x" % zk.client_id[0], flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait(args.seconds if args.seconds else None)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("get")
    p.add_argument("path")
    p = sub.add_parser("children")
    p.add_argument("path")
    p = sub.add_parser("wait")
    p.add_argument("path")
    p.add_argument("what", choices=["present", "gone"])
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("watch")
    p.add_argument("path")
    p.add_argument("--duration", type=float, default=0)
    p = sub.add_parser("hold")
    p.add_argument("path")
    p.add_argument("data")
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--persistent", action="store_true")
    args = ap.parse_args()

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    zk = connect(args.hosts, args.connect_timeout)
    try:
        rc = globals()["cmd_" + args.cmd](zk, args)
    finally:
        zk.stop()
        zk.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
