#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""10,000 idle connections against the real agent, on 127.0.0.1.

    idle_connections.py AGENT [--count N]

Starts AGENT on free ports, then, one listener at a time: opens N connections (SPOP ones send
HAProxy's HELLO and read the AGENT-HELLO; HTTP ones send nothing) and holds them idle while a
fresh client is still served at once (a NOTIFY is ACKed; GET /status answers), then closes
them all. Checks: every connection was accepted and answered, the agent's memory per idle
connection stays small (an idle SPOP connection holds no receive buffer), and after the close
the agent's descriptor count is back where it started (no leak). Bounded: 120 s in all.
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tools"))
from spop_fixture import recv_frame  # noqa: E402

DEADLINE = time.monotonic() + 120


def fail(msg):
    print("idle: FAIL: " + msg, flush=True)
    sys.exit(1)


def varint(n):
    # SPOP varint (doc/SPOE.txt 3.1).
    if n < 240:
        return bytes([n])
    out = [(n | 240) & 0xFF]
    n = (n - 240) >> 4
    while n >= 128:
        out.append((n | 128) & 0xFF)
        n = (n - 128) >> 7
    out.append(n)
    return bytes(out)


def kv_str(name, value):
    nb, vb = name.encode(), value.encode()
    return varint(len(nb)) + nb + bytes([8]) + varint(len(vb)) + vb  # type 8: string


def kv_u32(name, value):
    nb = name.encode()
    return varint(len(nb)) + nb + bytes([3]) + varint(value)  # type 3: uint32


def frame(ftype, flags, sid, fid, payload):
    body = bytes([ftype]) + struct.pack(">I", flags) + varint(sid) + varint(fid) + payload
    return struct.pack(">I", len(body)) + body


HELLO = frame(1, 1, 0, 0, kv_str("supported-versions", "2.0") + kv_u32("max-frame-size", 16380) +
              kv_str("capabilities", "pipelining"))


def notify(sid, uid):
    args = kv_str("unique_id", uid) + kv_str("method", "GET") + kv_str("path", "/idle")
    name = b"http-req"
    msg = varint(len(name)) + name + bytes([3]) + args  # 3 arguments
    return frame(3, 1, sid, 1, msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def agent_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def agent_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def status(api):
    with urllib.request.urlopen(api + "/status", timeout=5) as r:
        return json.load(r)


def open_many(port, count, hello):
    """Opens `count` connections (non-blocking connect, then blocking I/O), HELLO on each."""
    socks = []
    for i in range(count):
        if time.monotonic() > DEADLINE:
            fail("out of time after %d connections" % i)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    if hello:
        sel = selectors.DefaultSelector()
        for s in socks:
            s.sendall(HELLO)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        answered = set()
        while len(answered) < len(socks) and time.monotonic() < DEADLINE:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    fail("an idle SPOP connection was closed by the agent")
                if data[4] != 101:  # AGENT-HELLO
                    fail("expected AGENT-HELLO, got frame type %d" % data[4])
                answered.add(s)
                sel.unregister(s)
        if len(answered) < len(socks):
            fail("only %d of %d HELLOs answered" % (len(answered), len(socks)))
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("agent")
    ap.add_argument("--count", type=int, default=10000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.count + 64
    if hard < need + 64:
        fail("RLIMIT_NOFILE hard limit %d is below the %d this test needs" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    spop_port, http_port = free_port(), free_port()
    api = "http://127.0.0.1:%d" % http_port
    work = tempfile.mkdtemp(prefix="hep-idle.")
    agent = subprocess.Popen(
        [args.agent, "--spop-listen", "127.0.0.1:%d" % spop_port,
         "--http-listen", "127.0.0.1:%d" % http_port, "--data-dir", work + "/data",
         # Above the defaults on purpose: this test is about what idle connections cost,
         # not about the limits (test/agent/hardening_test.cpp covers those). At the default
         # --max-spop-connections (10,000) the probe would be the 10,001st and be refused, and
         # HTTP connections that send nothing would meet the 5 s first-byte timeout.
         "--max-spop-connections", str(args.count + 100),
         "--max-http-connections", str(args.count + 100), "--http-request-timeout", "600",
         "--http-first-byte-timeout", "600", "--http-idle-timeout", "600",
         "--log-level", "warn"],
        stdout=open(work + "/agent.log", "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                status(api)
                break
            except OSError:
                time.sleep(0.1)
        else:
            fail("the agent did not come up (see %s/agent.log)" % work)
        base_fds = agent_fds(agent.pid)
        base_rss = agent_rss_kib(agent.pid)

        for kind, port in (("SPOP", spop_port), ("HTTP", http_port)):
            t0 = time.monotonic()
            socks = open_many(port, args.count, hello=(kind == "SPOP"))
            time.sleep(0.5)
            held_fds = agent_fds(agent.pid)
            rss = agent_rss_kib(agent.pid)
            if held_fds < base_fds + args.count - 8:  # the probe connections may come and go
                fail("%s: the agent holds %d descriptors, want >= %d"
                     % (kind, held_fds, base_fds + args.count))
            # Still served at once while they idle.
            probe = socket.create_connection(("127.0.0.1", spop_port), timeout=5)
            probe.sendall(HELLO)
            if recv_frame(probe, 5.0) is None:
                fail("%s: a fresh SPOP client got no AGENT-HELLO" % kind)
            probe.sendall(notify(1, "idle-probe-" + kind))
            ack = recv_frame(probe, 5.0)
            if ack is None or ack[0] != 103:  # ACK
                fail("%s: a fresh NOTIFY was not ACKed" % kind)
            probe.close()
            st = status(api)
            per_conn = (rss - base_rss) * 1024 / args.count
            print("idle: %s: %d connections open in %.1f s; agent holds %d descriptors, RSS "
                  "%d -> %d KiB (%.0f bytes per connection); a fresh client is served; "
                  "spop.connections_active=%d http.connections_active=%d"
                  % (kind, args.count, time.monotonic() - t0, held_fds, base_rss, rss, per_conn,
                     st["spop"]["connections_active"], st["http"]["connections_active"]),
                  flush=True)
            # ASan builds pay redzones and shadow memory on every allocation; 16 KiB still
            # tells an idle connection without a buffer from one holding a 64 KiB one.
            if per_conn > 16 * 1024:
                fail("%s: %.0f bytes of RSS per idle connection (want <= 16 KiB)" % (kind, per_conn))
            for s in socks:
                s.close()
            socks = []
            for _ in range(100):
                if agent_fds(agent.pid) <= base_fds:
                    break
                time.sleep(0.1)
            left = agent_fds(agent.pid)
            if left > base_fds:
                fail("%s: after closing them all the agent holds %d descriptors, %d at start "
                     "(leak)" % (kind, left, base_fds))
            print("idle: %s: all closed; descriptors back to %d" % (kind, left), flush=True)
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=20)
        if rc != 0:
            fail("the agent exited with status %d after SIGTERM" % rc)
        print("idle: PASS", flush=True)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
