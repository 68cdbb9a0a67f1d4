#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Several agents pair one stream of traffic through Kafka (--pairing kafka), on 127.0.0.1.

    fleet.py AGENT MOCK [--haproxy CMD] [--family DIR] [--scenario NAME] [--requests N]

Starts librdkafka's mock cluster (MOCK: test/e2e/fleet/kafka_mock_cluster, 3 brokers), three
agents (AGENT --pairing kafka, one consumer group), test/e2e/backend.py and the real HAProxy
with the shipped capture configuration of FAMILY, its SPOP backend balancing round-robin over
the agents (a 4th server is declared, disabled until the `add` scenario starts a 4th agent).
Clients send N requests through HAProxy; the backend echoes each one's unique-id, so the
clients know every transaction HAProxy completed. Then every agent's segment files are read.

Scenarios:
  steady  three agents all along. Checks: >= 99.9% of the transactions stored exactly once,
          complete, request and response of the same transaction (the echoed unique-id, the
          path); no SPOE error in HAProxy's log.
  kill    agent 2 gets SIGKILL a third of the way through and is started again at two
          thirds. Checks: every transaction whose halves HAProxy handed over (no spoe_err) is
          stored complete, allowing the halves the killed agent had not yet produced to Kafka
          when it died (a few milliseconds' worth, reported); duplicates only of complete
          pairs with identical content (the at-least-once rule of docs/kafka.md).
  add     a 4th agent is started half way and HAProxy's 4th server enabled. Checks as kill.
  broker  broker 1 goes down a third of the way through (its partitions' leadership and the
          group coordinator move to broker 2, as a real cluster would elect) and comes back at
          two thirds. Checks as steady, duplicates allowed as in kill.
Every scenario also pages the fleet read (GET /events?limit=1000 with the cursor), each page
asked of the next agent that is up (every agent has all the others in --peers): it must
return every stored record (copies included) exactly once, and name as failed only the agents
that are down. And a fleet live tail (GET /events/stream on agent 1, opened before the
traffic) must stream every stored record exactly once in `steady` and `broker`; in `kill` and
`add` it streams nothing that was not stored, and its `peers` events tell agent 2 going and
coming back, or agent 4 joining.
Bounded: 240 s in all; every process started is stopped. Exit status 0 when every check passed.
"""
import argparse
import glob
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEADLINE = time.monotonic() + 240
PARTITIONS = 8
TOPIC = "http-halves"
GROUP = "fleet-test"


def log(msg):
    print("fleet: " + msg, flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, limit):
    until = min(time.monotonic() + limit, DEADLINE)
    while time.monotonic() < until:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail("timed out waiting for " + what)


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


class Mock:
    def __init__(self, exe, work):
        self.p = subprocess.Popen([exe, "--brokers", "3", "--topic", "%s:%d" % (TOPIC, PARTITIONS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(work + "/mock.log", "w"), text=True)
        line = self.p.stdout.readline()
        if not line.startswith("BOOTSTRAPS "):
            fail("the mock cluster did not start: %r" % line)
        self.bootstraps = line.split()[1]

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if answer != "ok":
            fail("mock cluster: %s: %s" % (c, answer))

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Agent:
    def __init__(self, exe, work, n, bootstraps):
        self.exe, self.n, self.bootstraps = exe, n, bootstraps
        self.dir = "%s/agent%d" % (work, n)
        os.makedirs(self.dir, exist_ok=True)
        self.spop, self.http = free_port(), free_port()
        self.peers = []  # the other agents' API ports (--peers): the fleet read
        self.p = None
        self.starts = 0

    def start(self):
        self.starts += 1
        args = [self.exe, "--spop-listen", "127.0.0.1:%d" % self.spop,
                "--http-listen", "127.0.0.1:%d" % self.http, "--data-dir", self.dir + "/data",
                "--pairing", "kafka", "--pairing-group", GROUP, "--pairing-topic", TOPIC,
                "--kafka-brokers", self.bootstraps, "--no-kafka-exchanges",
                "--fsync-interval", "0.2", "--log-level", "info",
                "--peers", ",".join("127.0.0.1:%d" % p for p in self.peers),
                # Quick failure detection on loopback: a killed agent's partitions move after
                # 6 s instead of 10.
                "--kafka-option", "session.timeout.ms=6000",
                "--kafka-option", "heartbeat.interval.ms=500",
                "--kafka-option", "topic.metadata.refresh.interval.ms=1000"]
        self.p = subprocess.Popen(args, stdout=open("%s/agent-%d.log" % (self.dir, self.starts), "w"),
                                  stderr=subprocess.STDOUT)
        wait_for("agent %d's API" % self.n, lambda: self.status() is not None, 30)

    def status(self):
        try:
            return get_json("http://127.0.0.1:%d/status" % self.http, timeout=2)
        except (OSError, ValueError):
            return None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                fail("agent %d did not stop within 30 s of SIGTERM" % self.n)
            if rc != 0:
                fail("agent %d exited with status %d after SIGTERM" % (self.n, rc))

    def records(self):
        out = []
        for f in sorted(glob.glob(self.dir + "/data/segments/*/*.jsonl")):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        out.append(json.loads(line))
        return out


def haproxy_config(family, agents, work):
    src = open(os.path.join(ROOT, "haproxy-conf", family, "capture.cfg")).read()
    lines = []
    for line in src.splitlines():
        m = re.match(r'^(\s*)server spoa1 "\$\{CAPTURE_SPOA_ADDR-[^}]*\}"(.*)$', line)
        if not m:
            lines.append(line)
            continue
        indent, rest = m.group(1), m.group(2)
        rest = re.sub(r"check inter \S+", "check inter 1s fall 1 rise 1", rest)
        lines.append(indent + "balance roundrobin")
        for a in agents:
            lines.append("%sserver spoa%d 127.0.0.1:%d%s%s" % (
                indent, a.n, a.spop, rest, " disabled" if a.n == 4 else ""))
    conf = "\n".join(lines) + "\n"
    if "balance roundrobin" not in conf:
        fail("no 'server spoa1' line to replace in %s/capture.cfg" % family)
    path = work + "/capture.cfg"
    open(path, "w").write(conf)
    spoe = open(os.path.join(ROOT, "haproxy-conf", family, "capture-spoe.conf")).read()
    open(work + "/capture-spoe.conf", "w").write(spoe)
    return path


def stats_socket(path, command):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall((command + "\n").encode())
    out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode(errors="replace")


class Load:
    """Clients sending `n` requests through HAProxy, keep-alive, `conc` at a time."""

    def __init__(self, fe_port, n, conc=8):
        self.fe_port, self.n, self.conc = fe_port, n, conc
        self.sent = 0
        self.lock = threading.Lock()
        self.done = {}  # uid -> (path, status)
        self.errors = 0

    def next(self):
        with self.lock:
            if self.sent >= self.n:
                return None
            self.sent += 1
            return self.sent

    def client(self):
        conn = None
        while time.monotonic() < DEADLINE:
            i = self.next()
            if i is None:
                break
            path = "/fleet/%d?i=%d" % (i, i)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.fe_port, timeout=10)
                conn.request("GET", path, headers={"X-Fleet": str(i)})
                r = conn.getresponse()
                r.read()
                uid = r.getheader("X-Echo-Unique-ID")
                with self.lock:
                    if uid:
                        self.done[uid] = (path, r.status)
                    else:
                        self.errors += 1
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                conn = None
            time.sleep(0.004)  # about 250 requests/s per client: a run spans seconds

    def run_async(self):
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.conc)]
        for t in self.threads:
            t.start()

    def progress(self):
        with self.lock:
            return self.sent

    def join(self):
        for t in self.threads:
            t.join(timeout=max(1, DEADLINE - time.monotonic()))


def spoe_errors(haproxy_log):
    """uid -> spoe_err for every logged transaction whose SPOE processing failed."""
    bad = {}
    for line in open(haproxy_log, errors="replace"):
        m = re.search(r" uid=(\S*) spoe_err=(\S*) ", line)
        if m and m.group(2) not in ("", "-", "0"):
            bad[m.group(1)] = m.group(2)
    return bad


def fleet_read(agents):
    """Pages GET /events with the cursor until the end, each page asked of the next of `agents`
    (each has every other agent in --peers), as a load-balanced Service would spread them;
    returns the ids in order and the peers named failed on any page."""
    ids, failed, cursor, prev_time, steps_back, pages = [], set(), None, None, 0, 0
    while True:
        agent = agents[pages % len(agents)]
        pages += 1
        url = "http://127.0.0.1:%d/events?limit=1000" % agent.http
        if cursor:
            url += "&cursor=" + cursor
        page = get_json(url, timeout=30)
        for e in page["events"]:
            ids.append(e["id"])
            t = (e.get("request") or e.get("response"))["time"]
            # Sources are merged by time; each keeps its own storage order (as /events does),
            # in which a pair stored late may step back by its pairing delay.
            if prev_time is not None and t > prev_time:
                steps_back += 1
            prev_time = t
        failed.update(f["peer"] for f in page["peers_failed"])
        if page["partial"] != bool(page["peers_failed"]):
            fail("fleet read: partial is %s with peers_failed %s"
                 % (page["partial"], page["peers_failed"]))
        cursor = page["next"]
        if not cursor:
            log("fleet read: %d records, %d a little newer than the one before" % (len(ids), steps_back))
            return ids, sorted(failed)


class FleetStream:
    """GET /events/stream on `agent` (its --peers: every other agent), read on a thread: the
    exchange ids in order, every `peers` event, and the drops reported."""

    def __init__(self, agent):
        self.lock = threading.Lock()
        self.ids, self.notices, self.dropped, self.error = [], [], 0, None
        self.conn = http.client.HTTPConnection("127.0.0.1", agent.http, timeout=300)
        self.conn.request("GET", "/events/stream")
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            fail("fleet stream: HTTP %d" % self.resp.status)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        # The HTML standard's rules, as far as the agent uses them: LF line ends, one space
        # after the colon, a blank line ends a message.
        event, data = None, []
        try:
            for raw in self.resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        self._dispatch(event or "message", "\n".join(data))
                    event, data = None, []
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
        except Exception as e:  # the agent stopped: the connection ends
            self.error = e

    def _dispatch(self, event, data):
        with self.lock:
            if event == "exchange":
                self.ids.append(json.loads(data)["id"])
            elif event == "peers":
                self.notices.append(json.loads(data))
            elif event == "dropped":
                self.dropped += json.loads(data)["dropped"]

    def snapshot(self):
        with self.lock:
            return list(self.ids), list(self.notices), self.dropped

    def close(self):
        self.conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("agent")
    ap.add_argument("mock")
    ap.add_argument("--haproxy", default="haproxy", help="haproxy command line")
    ap.add_argument("--family", default="haproxy-2.4-3.0", help="haproxy-conf/ folder")
    ap.add_argument("--scenario", default="steady", choices=["steady", "kill", "add", "broker"])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="hep-fleet.")
    procs = []
    mock = Mock(args.mock, work)
    agents = [Agent(args.agent, work, n, mock.bootstraps) for n in (1, 2, 3, 4)]
    for a in agents:
        a.peers = [b.http for b in agents if b is not a]
    ok = False
    try:
        for a in agents[:3]:
            a.start()
        # Traffic starts once the group has settled: every partition owned, each agent owning
        # some (a rebalance while traffic flows is what the other scenarios are for).
        def settled(ags):
            sts = [a.status() for a in ags]
            if any(s is None for s in sts):
                return False
            parts = [s["pairing"]["partitions"] for s in sts]
            return sum(parts) == PARTITIONS and min(parts) > 0
        wait_for("the consumer group to settle", lambda: settled(agents[:3]), 90)
        log("group settled: partitions %s" % [a.status()["pairing"]["partitions"] for a in agents[:3]])

        app_port, fe_port = free_port(), free_port()
        backend_log = work + "/backend-access.jsonl"
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "test", "e2e", "backend.py"), "--port", str(app_port),
             "--quiet", "--access-log", backend_log],
            stdout=subprocess.DEVNULL, stderr=open(work + "/backend.log", "w")))
        def backend_up():
            c = http.client.HTTPConnection("127.0.0.1", app_port, timeout=2)
            c.request("GET", "/health")
            return c.getresponse().status == 200
        wait_for("the backend", backend_up, 20)  # before HAProxy's first health check
        conf = haproxy_config(args.family, agents, work)
        env = dict(os.environ, CAPTURE_FE_ADDR="127.0.0.1:%d" % fe_port,
                   CAPTURE_APP_ADDR="127.0.0.1:%d" % app_port,
                   CAPTURE_STATS_SOCK=work + "/haproxy.sock")
        haproxy_log = work + "/haproxy.log"
        cmd = args.haproxy.split()
        check = subprocess.run(cmd + ["-c", "-q", "-f", conf], env=env, capture_output=True, text=True)
        if check.returncode != 0:
            fail("haproxy -c rejects the fleet configuration:\n" + check.stdout + check.stderr)
        hap = subprocess.Popen(cmd + ["-db", "-f", conf], env=env, cwd=work,
                               stdout=open(haproxy_log, "w"), stderr=subprocess.STDOUT)
        procs.append(hap)

        def fe_up():
            c = http.client.HTTPConnection("127.0.0.1", fe_port, timeout=2)
            c.request("GET", "/haproxy-monitor")
            return c.getresponse().status == 200
        wait_for("HAProxy's frontend", fe_up, 20)
        time.sleep(1.5)  # the first SPOP checks

        # The fleet live tail, on the agent that reads for the fleet: agents 2 and 3 stream,
        # agent 4 is not up yet (named failed).
        stream = FleetStream(agents[0])
        wait_for("the fleet stream's first peers event", lambda: stream.snapshot()[1], 10)
        first = stream.snapshot()[1][0]
        want_failed = ["127.0.0.1:%d" % agents[3].http]
        if first["peers"] != 2 or [f["peer"] for f in first["peers_failed"]] != want_failed:
            fail("fleet stream: first peers event %s, want 2 peers and %s failed"
                 % (first, want_failed))
        log("fleet stream open on agent 1: %s" % json.dumps(first))

        load = Load(fe_port, args.requests)
        t0 = time.monotonic()
        load.run_async()
        third, half = args.requests // 3, args.requests // 2
        if args.scenario == "kill":
            wait_for("a third of the load", lambda: load.progress() >= third, 120)
            agents[1].kill()
            killed_at = time.monotonic()
            log("agent 2 killed (SIGKILL) after %d requests" % load.progress())
            # The group notices after session.timeout.ms (6 s here) and gives its partitions
            # to the survivors.
            wait_for("the survivors to take agent 2's partitions",
                     lambda: settled([agents[0], agents[2]]), 60)
            log("agents 1 and 3 own every partition %.1f s after the kill (%d requests)"
                % (time.monotonic() - killed_at, load.progress()))
            wait_for("two thirds of the load", lambda: load.progress() >= 2 * third, 120)
            agents[1].start()
            log("agent 2 started again after %d requests" % load.progress())
        elif args.scenario == "add":
            wait_for("half the load", lambda: load.progress() >= half, 120)
            agents[3].start()
            out = stats_socket(work + "/haproxy.sock", "enable server be_spoa/spoa4")
            log("agent 4 added after %d requests (stats socket: %r)" % (load.progress(), out.strip()))
        elif args.scenario == "broker":
            wait_for("a third of the load", lambda: load.progress() >= third, 120)
            mock.cmd("down 1")
            for p in range(PARTITIONS):
                if p % 3 == 0:  # led by broker 1
                    mock.cmd("leader %s %d 2" % (TOPIC, p))
            log("broker 1 down after %d requests; its partitions now led by broker 2" % load.progress())
            wait_for("two thirds of the load", lambda: load.progress() >= 2 * third, 120)
            mock.cmd("up 1")
            log("broker 1 back after %d requests" % load.progress())
        load.join()
        took = time.monotonic() - t0
        log("%d requests in %.1f s: %d answered with a unique-id, %d client errors"
            % (load.sent, took, len(load.done), load.errors))
        if len(load.done) < args.requests * 0.99:
            fail("only %d of %d requests were answered" % (len(load.done), args.requests))

        # Everything paired and written: nothing in flight, and the counters still for 3 s
        # (halves whose partner died with a killed agent wait out their TTL: counted below).
        up = [a for a in agents if a.alive()]
        last = {"sig": None, "since": time.monotonic()}
        def drained():
            sts = [a.status() for a in up]
            if any(s is None for s in sts):
                return False
            if any(s["pairing"]["in_flight"] or s["storage"]["queue_depth"] or s["pairing"]["lag"]
                   for s in sts):
                return False
            # Every partition owned (not mid-rebalance) and read to its end.
            if sum(s["pairing"]["partitions"] for s in sts) != PARTITIONS:
                return False
            sig = [(s["pairing"]["consumed"], s["pairing"]["pending"], s["storage"]["stored"])
                   for s in sts]
            if sig != last["sig"]:
                last["sig"], last["since"] = sig, time.monotonic()
                return False
            return time.monotonic() - last["since"] >= 3
        try:
            wait_for("every agent to drain", drained, 60)
        except SystemExit:
            for a in up:
                st = a.status() or {}
                log("agent %d: pairing %s storage.stored %s" % (
                    a.n, st.get("pairing"), st.get("storage", {}).get("stored")))
            raise
        time.sleep(1.0)  # the last fsync interval
        statuses = {a.n: a.status() for a in up}
        waiting = sum(s["pairing"]["pending"] for s in statuses.values())
        fleet_ids, fleet_failed = fleet_read(up)
        streamed, notices, stream_dropped = stream.snapshot()
        stream.close()
        for a in up:
            a.stop()
        hap.send_signal(signal.SIGUSR1)
        try:
            hap.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hap.kill()

        # What was stored, by unique-id, over every agent.
        stored = {}
        for a in agents:
            for r in a.records():
                stored.setdefault(r["id"], []).append((a.n, r))
        spoe_bad = spoe_errors(haproxy_log)
        handed = {u: v for u, v in load.done.items() if u not in spoe_bad}
        exactly_once = missing = incomplete = wrong = 0
        dups = 0
        problems = []
        for uid, (path, status) in handed.items():
            recs = stored.get(uid, [])
            complete = [r for _, r in recs if r.get("complete")]
            if not recs:
                missing += 1
                problems.append("missing %s %s" % (uid, path))
                continue
            if not complete:
                incomplete += 1
                problems.append("incomplete %s %s (agents %s)" % (uid, path, [n for n, _ in recs]))
                continue
            good = all(r["request"]["path"] + "?" + (r["request"].get("query") or "") == path and
                       r["response"]["status"] == status and
                       dict((h[0].lower(), h[1]) for h in r["response"]["headers"]).get(
                           "x-echo-unique-id") == uid
                       for r in complete)
            if not good:
                wrong += 1
                problems.append("mispaired %s" % uid)
                continue
            if len(recs) == 1:
                exactly_once += 1
            else:
                dups += len(recs) - 1
                first = json.dumps(recs[0][1], sort_keys=True)
                if any(not r.get("complete") or json.dumps(r, sort_keys=True) != first
                       for _, r in recs[1:]):
                    problems.append("a duplicate of %s differs from the first copy" % uid)
                    wrong += 1
        total = len(handed)
        share = exactly_once / total if total else 0
        # The fleet read, page after page on the agents in turn, returns every stored record
        # (copies included) once.
        on_disk = {u: len(v) for u, v in stored.items()}
        from_fleet = {}
        for u in fleet_ids:
            from_fleet[u] = from_fleet.get(u, 0) + 1
        down = sorted("127.0.0.1:%d" % a.http for a in agents if a not in up)
        log("fleet /events from agents %s in turn: %d records in pages of 1000, peers failed %s"
            % ([a.n for a in up], len(fleet_ids), fleet_failed))
        if sorted(fleet_failed) != down:
            fail("fleet read: peers failed %s, want only the agents that were down %s"
                 % (fleet_failed, down))
        if from_fleet != on_disk:
            diff = [u for u in set(on_disk) | set(from_fleet)
                    if on_disk.get(u, 0) != from_fleet.get(u, 0)]
            fail("fleet read: %d ids differ from the stored records, e.g. %s"
                 % (len(diff), [(u, on_disk.get(u, 0), from_fleet.get(u, 0)) for u in diff[:5]]))
        # The fleet live tail streamed what was stored, each record once.
        from_stream = {}
        for u in streamed:
            from_stream[u] = from_stream.get(u, 0) + 1
        log("fleet stream on agent 1: %d exchanges, %d dropped, peers events %s" % (
            len(streamed), stream_dropped,
            [(n["peers"], [f["peer"] + " " + f["error"] for f in n["peers_failed"]])
             for n in notices]))
        phantom = [u for u, k in from_stream.items() if k > on_disk.get(u, 0)]
        if phantom:
            fail("fleet stream: %d ids streamed more often than stored, e.g. %s"
                 % (len(phantom), phantom[:5]))
        if args.scenario in ("steady", "broker"):
            if stream_dropped or from_stream != on_disk:
                fail("fleet stream: %d of %d stored records streamed, %d dropped"
                     % (sum(from_stream.values()), sum(on_disk.values()), stream_dropped))
        elif args.scenario == "kill":
            a2 = "127.0.0.1:%d" % agents[1].http
            gone = [i for i, n in enumerate(notices) if a2 in [f["peer"] for f in n["peers_failed"]]]
            if not gone or not any(n["peers"] == 2 for n in notices[gone[0] + 1:]):
                fail("fleet stream: no peers event saw agent 2 go and come back: %s" % notices)
            why = [f["error"] for f in notices[gone[0]]["peers_failed"] if f["peer"] == a2]
            if why != ["connection lost"]:
                fail("fleet stream: agent 2's SIGKILL was reported as %s" % why)
        elif args.scenario == "add":
            if not any(n["peers"] == 3 and not n["partial"] for n in notices):
                fail("fleet stream: no peers event saw agent 4 join: %s" % notices)
        pairing = {n: {k: s["pairing"][k] for k in ("produced", "consumed", "paired", "expired", "commits", "commit_errors", "requeued",
                                                    "handed_over", "rebalances", "dropped",
                                                    "failed", "bad_records")}
                   for n, s in statuses.items()}
        log("pairing counters at the end: %s" % json.dumps(pairing, sort_keys=True))
        log("%d transactions handed over by HAProxy (%d with spoe_err): %d stored exactly once "
            "(%.3f%%), %d duplicate copies, %d incomplete, %d missing, %d wrong; %d halves "
            "still waiting for a partner" % (total, len(spoe_bad), exactly_once, 100 * share,
                                             dups, incomplete, missing, wrong, waiting))
        for p in problems[:10]:
            log("  " + p)
        if wrong:
            fail("%d transactions stored wrongly (see above)" % wrong)
        if args.scenario in ("steady", "broker"):
            if spoe_bad:
                fail("HAProxy logged %d SPOE errors, e.g. %s" % (len(spoe_bad), list(spoe_bad.items())[:3]))
        if args.scenario == "steady":
            if share < 0.999:
                fail("%.3f%% stored exactly once as complete (want >= 99.9%%)" % (100 * share))
        else:
            # Complete at least once: allowed to miss only the halves a killed agent had not
            # produced yet (none in `add` and `broker`).
            lost = missing + incomplete
            allowed = 5 if args.scenario == "kill" else 0
            if lost > allowed:
                fail("%d transactions HAProxy handed over are not stored complete (allowed %d)"
                     % (lost, allowed))
        ok = True
        log("PASS (%s)" % args.scenario)
    finally:
        for a in agents:
            if a.alive():
                a.p.kill()
                a.p.wait()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        mock.stop()
        if ok and not args.keep:
            subprocess.run(["rm", "-rf", work])
        else:
            log("work directory kept: " + work)


if __name__ == "__main__":
    main()
