#!/usr/bin/python3
"""A TCP proxy in front of one ZooKeeper server that can lose a create's reply.

  zkproxy.py --listen PORT --to HOST:PORT [--lose-create-of TEXT] [--lose N]

Forwards every connection to the server. With --lose-create-of, the first N
(default 1) successful creates whose path contains TEXT reach the server and
are applied, but their reply never reaches the client: the proxy drops it and
cuts that connection at once, as a network failure between the two would.
The client sees a connection loss with the create's outcome unknown. Later
connections are forwarded untouched. Prints "ready" once listening, then one
line per lost reply: "lost <xid> <path>".

The protocol (jute, big-endian, each frame length-prefixed): the client's
first frame is the ConnectRequest and the server's the ConnectResponse; then
requests are (xid int, type int, body...), a create's body starting with its
path as (len int, bytes), and replies are (xid int, zxid long, err int, ...).
"""
import argparse
import socket
import struct
import sys
import threading

CREATE_OPS = {1, 15, 19, 21}  # create, create2, createContainer, createTTL


def read_frame(sock, buf):
    """Returns (frame bytes including the length prefix, rest) or None at EOF."""
    while True:
        if len(buf) >= 4:
            n = struct.unpack(">i", buf[:4])[0]
            if n < 0:
                return None
            if len(buf) >= 4 + n:
                return buf[:4 + n], buf[4 + n:]
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk


class Conn:
    def __init__(self, proxy, client, server):
        self.proxy = proxy
        self.client = client
        self.server = server
        self.watched = {}  # xid -> path of creates whose reply we may lose
        self.lock = threading.Lock()
        self.closed = False

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def upstream(self):
        buf, first = b"", True
        try:
            while True:
                got = read_frame(self.client, buf)
                if got is None:
                    break
                frame, buf = got
                if not first and len(frame) >= 16:
                    xid, op = struct.unpack(">ii", frame[4:12])
                    if op in CREATE_OPS:
                        plen = struct.unpack(">i", frame[12:16])[0]
                        path = frame[16:16 + plen].decode("utf-8", "replace")
                        if self.proxy.wants(path):
                            with self.lock:
                                self.watched[xid] = path
                first = False
                self.server.sendall(frame)
        except OSError:
            pass
        self.close()

    def downstream(self):
        buf, first = b"", True
        try:
            while True:
                got = read_frame(self.server, buf)
                if got is None:
                    break
                frame, buf = got
                if not first and len(frame) >= 20:
                    xid, _zxid, err = struct.unpack(">iqi", frame[4:20])
                    with self.lock:
                        path = self.watched.pop(xid, None)
                    if path is not None and err == 0 and self.proxy.take():
                        print("lost %d %s" % (xid, path), flush=True)
                        break
                first = False
                self.client.sendall(frame)
        except OSError:
            pass
        self.close()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.left = args.lose if args.lose_create_of else 0
        self.lock = threading.Lock()

    def wants(self, path):
        with self.lock:
            return self.left > 0 and self.args.lose_create_of in path

    def take(self):
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def serve(self):
        host, port = self.args.to.rsplit(":", 1)
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.args.listen))
        ls.listen(16)
        print("ready", flush=True)
        while True:
            client, _ = ls.accept()
            try:
                server = socket.create_connection((host, int(port)), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            c = Conn(self, client, server)
            threading.Thread(target=c.upstream, daemon=True).start()
            threading.Thread(target=c.downstream, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--lose-create-of")
    ap.add_argument("--lose", type=int, default=1)
    Proxy(ap.parse_args()).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
