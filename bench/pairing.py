#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pairing.py - issue 14: what pairing through Kafka costs, per exchange, next to local pairing.

    python3 bench/pairing.py [--reps N] [--rate NOTIFY_PER_S] [--duration S] [--modes LIST]

Modes (run A/B/C, rep after rep, in one run on one machine):
  base1    with --base-agent PATH: that agent binary (e.g. built before a change), local
           pairing: the A/B for "the single-agent path stays as fast"
  local1   one agent, local pairing (the single-agent path as shipped)
  kafka1   one agent, --pairing kafka --no-kafka-exchanges
  kafka3   three agents, --pairing kafka, one consumer group; spop-load spreads its connections
           over them and sends each response on another connection than its request (--split),
           so every pair is made of halves received by two different agents
  stream1  local1 with one GET /events/stream client on the agent (what a live tail costs)
  relay2   local1 plus a second agent with --peers the first, storing nothing, and one fleet
           GET /events/stream client on the second: what relaying a peer's stream costs (the
           second agent's CPU, "relay µs per pair") and what serving it costs the first
spop-load plays HAProxy 2.6 (request/response NOTIFY pairs, 500-byte bodies) at --rate NOTIFY/s
for --duration s; the Kafka modes talk to librdkafka's mock cluster (3 brokers, topic
http-halves with 3 partitions) in a process of its own (kafka_bench --serve-mock), so the
agents' CPU excludes the brokers'. Measured per mode: pairs stored per second from the first
NOTIFY until every agent has drained (counters still for 1 s), the agents' CPU (all threads,
from /proc) per stored pair, the mock cluster's CPU per pair, and spop-load's ACK p99.
Everything on 127.0.0.1; every process started is stopped by PID.
Env: BUILD (default build-bench, configured with -DHEP_BENCH=ON, Release), OUT (default
/tmp/hep-bench/pairing-<time>). Output: OUT/runs.tsv and a summary table on stdout.
"""
import argparse
import json
import threading
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("pairing: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except OSError:
        return 0.0


def status(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=2) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def wait(what, cond, limit, show=None):
    until = time.monotonic() + limit
    while time.monotonic() < until:
        if cond():
            return
        time.sleep(0.1)
    raise SystemExit("pairing: timed out waiting for %s%s" % (what, " (%s)" % show() if show else ""))


class StreamCounter:
    """One GET /events/stream client on 127.0.0.1:port, read on a thread as fast as it comes:
    counts the exchanges and the `peers` events, keeps nothing else."""

    def __init__(self, port):
        self.exchanges = self.peers_events = 0
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"GET /events/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        tail = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                return
            if not chunk:
                return
            # Messages may straddle reads: count in the last bytes of the previous read too.
            data = tail + chunk
            self.exchanges += data.count(b"event: exchange\n")
            self.peers_events += data.count(b"event: peers\n")
            tail = data[-15:]
            self.exchanges -= tail.count(b"event: exchange\n")
            self.peers_events -= tail.count(b"event: peers\n")

    def close(self):
        self.sock.close()


def run_mode(mode, args, binaries, out):
    agent, spop_load, kafka_bench = binaries
    if mode == "base1":
        agent = args.base_agent
    procs = []
    n = 3 if mode == "kafka3" else 1
    kafka = mode.startswith("kafka")
    try:
        brokers = None
        mock = None
        if kafka:
            mock = subprocess.Popen([kafka_bench, "--serve-mock", "3600", "--topic", "http-halves"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            procs.append(mock)
            line = mock.stdout.readline()
            if not line.startswith("BOOTSTRAPS "):
                raise SystemExit("pairing: the mock cluster did not start")
            brokers = line.split()[1]
        agents = []
        group = "bench-%s-%d" % (mode, time.monotonic_ns())  # one group per run of a mode
        for i in range(n):
            spop, http = free_port(), free_port()
            cmd = [agent, "--spop-listen", "127.0.0.1:%d" % spop, "--http-listen",
                   "127.0.0.1:%d" % http, "--data-dir", "%s/data-%s-%d" % (out, mode, i),
                   "--log-level", "info"]
            if kafka:
                cmd += ["--pairing", "kafka", "--kafka-brokers", brokers, "--no-kafka-exchanges",
                        "--pairing-group", group]
            p = subprocess.Popen(cmd, stdout=open("%s/agent-%s-%d.log" % (out, mode, i), "a"),
                                 stderr=subprocess.STDOUT)
            procs.append(p)
            agents.append((p, spop, http))
        for p, spop, http in agents:
            wait("an agent's API", lambda h=http: status(h) is not None, 30)
        if kafka:
            wait("the group to own the 3 partitions",
                 lambda: sum(status(h)["pairing"]["partitions"] for _, _, h in agents) == 3 and
                 all(status(h)["pairing"]["partitions"] > 0 for _, _, h in agents), 90,
                 lambda: "partitions per agent: %s" % [status(h)["pairing"]["partitions"]
                                                       for _, _, h in agents])
        relay, stream = None, None
        if mode == "relay2":
            http = free_port()
            relay = subprocess.Popen(
                [agent, "--spop-listen", "127.0.0.1:%d" % free_port(), "--http-listen",
                 "127.0.0.1:%d" % http, "--data-dir", "%s/data-%s-relay" % (out, mode),
                 "--log-level", "info", "--peers", "127.0.0.1:%d" % agents[0][2]],
                stdout=open("%s/agent-%s-relay.log" % (out, mode), "a"), stderr=subprocess.STDOUT)
            procs.append(relay)
            wait("the relay agent's API", lambda: status(http) is not None, 30)
            stream = StreamCounter(http)
            wait("the fleet stream's peers event", lambda: stream.peers_events > 0, 10)
        elif mode == "stream1":
            stream = StreamCounter(agents[0][2])
            wait("the stream's first bytes", lambda: status(agents[0][2])["http"]["live_streams_active"] == 1, 10)
        r0 = cpu_s(relay.pid) if relay else 0.0
        pairs_key = ("pairing", "paired") if kafka else ("correlator", "paired")

        def paired():
            return sum(status(h)[pairs_key[0]][pairs_key[1]] for _, _, h in agents)

        def stored():
            return sum(status(h)["storage"]["stored"] for _, _, h in agents)

        p0, s0 = paired(), stored()
        c0 = [cpu_s(p.pid) for p, _, _ in agents]
        m0 = cpu_s(mock.pid) if mock else 0.0
        t0 = time.monotonic()
        load = [spop_load, "--rate", str(args.rate), "--duration", str(args.duration),
                "--warmup", "0", "--conns", str(3 * n if n > 1 else 4), "--window", "64",
                "--ports", ",".join(str(s) for _, s, _ in agents)]
        if n > 1:
            load += ["--split", "1"]
        r = subprocess.run(load, capture_output=True, text=True, timeout=args.duration + 120)
        result = dict(kv.split("=", 1) for kv in
                      next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")),
                           "RESULT").split()[1:])
        # Drained: the pair count still for one second.
        last, since = None, time.monotonic()
        while time.monotonic() - since < 1.0:
            cur = (paired(), stored())
            if cur != last:
                last, since = cur, time.monotonic()
            time.sleep(0.1)
            if time.monotonic() - t0 > args.duration + 120:
                break
        t1 = since
        pairs = last[0] - p0
        cpu = sum(cpu_s(p.pid) - c for (p, _, _), c in zip(agents, c0))
        mock_cpu = (cpu_s(mock.pid) - m0) if mock else 0.0
        relay_cpu = (cpu_s(relay.pid) - r0) if relay else 0.0
        if stream:
            # What was stored is streamed at once; give the last messages a moment.
            wait("the stream to catch up", lambda: stream.exchanges >= last[1] - s0, 10,
                 lambda: "%d streamed of %d stored" % (stream.exchanges, last[1] - s0))
            stream.close()
        took = t1 - t0
        return {
            "mode": mode, "agents": n, "rate": args.rate, "pairs": pairs,
            "stored": last[1] - s0, "seconds": round(took, 2),
            "pairs_per_s": round(pairs / took) if took > 0 else 0,
            "agent_cpu_s": round(cpu, 2),
            "agent_us_per_pair": round(1e6 * cpu / pairs, 1) if pairs else 0,
            "mock_us_per_pair": round(1e6 * mock_cpu / pairs, 1) if pairs else 0,
            "streamed": stream.exchanges if stream else "-",
            "relay_us_per_pair": round(1e6 * relay_cpu / pairs, 1) if relay and pairs else 0,
            "ack_p99_us": result.get("p99_us", "?"), "spop_load_rc": r.returncode,
            "notify_sent": result.get("sent", "?"),
        }
    finally:
        for p in reversed(procs):  # the agents first, the mock cluster last
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rate", type=int, default=20000, help="NOTIFY/s in total (2 per pair)")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--modes", default="local1,kafka1,kafka3")
    ap.add_argument("--base-agent", help="another agent binary, run as mode base1 (first)")
    args = ap.parse_args()
    if args.base_agent and "base1" not in args.modes.split(","):
        args.modes = "base1," + args.modes
    build = os.environ.get("BUILD", os.path.join(ROOT, "build-bench"))
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    binaries = [os.path.join(build, "agent", "http-event-processor"),
                os.path.join(build, "bench", "spop-load"), os.path.join(build, "bench", "kafka_bench")]
    for b in binaries:
        if not os.access(b, os.X_OK):
            raise SystemExit("pairing: not found: %s (cmake -S . -B build-bench -G Ninja "
                             "-DCMAKE_BUILD_TYPE=Release -DHEP_BENCH=ON -DHEP_TESTS=OFF && ninja -C "
                             "build-bench http-event-processor spop-load kafka_bench)" % b)
    out = os.environ.get("OUT", "/tmp/hep-bench/pairing-" + time.strftime("%Y%m%dT%H%M%S"))
    os.makedirs(out, exist_ok=True)
    rows = []
    log("machine: %d cores, load %s; out %s" % (os.cpu_count(), open("/proc/loadavg").read().split()[:3], out))
    for rep in range(args.reps):
        for mode in args.modes.split(","):
            row = run_mode(mode, args, binaries, out)
            row["rep"] = rep + 1
            row["load"] = open("/proc/loadavg").read().split()[0]
            log(json.dumps(row))
            rows.append(row)
    keys = ["rep", "mode", "agents", "rate", "pairs", "stored", "seconds", "pairs_per_s",
            "agent_cpu_s", "agent_us_per_pair", "mock_us_per_pair", "streamed",
            "relay_us_per_pair", "ack_p99_us", "load"]
    with open(out + "/runs.tsv", "w") as f:
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(str(r[k]) for k in keys) + "\n")
    ref = "base1" if any(r["mode"] == "base1" for r in rows) else "local1"
    base = statistics.median(r["agent_us_per_pair"] for r in rows if r["mode"] == ref) \
        if any(r["mode"] == ref for r in rows) else None
    print("| mode | agents | pairs/s (median) | agent CPU µs per pair (median) | vs %s | mock µs per pair | relay µs per pair | streamed/stored | ACK p99 µs |" % ref)
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        rs = [r for r in rows if r["mode"] == mode]
        us = statistics.median(r["agent_us_per_pair"] for r in rs)
        print("| %s | %d | %d | %.1f | %s | %.1f | %.1f | %s | %s |" % (
            mode, rs[0]["agents"], statistics.median(r["pairs_per_s"] for r in rs), us,
            "%.2fx" % (us / base) if base else "-",
            statistics.median(r["mock_us_per_pair"] for r in rs),
            statistics.median(r["relay_us_per_pair"] for r in rs),
            " ".join("%s/%s" % (r["streamed"], r["stored"]) for r in rs),
            "/".join(str(r["ack_p99_us"]) for r in rs)))


if __name__ == "__main__":
    main()
