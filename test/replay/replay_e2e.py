#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `http-event-processor replay` on loopback.

Usage: replay_e2e.py AGENT_BINARY SCENARIO [DOCS_DIR]

The capture is made by the real agent: exchanges are POSTed to its /http-events ingest
listener and read back from its data directory, its /events, or its /events.har. The target
is a small http.server on 127.0.0.1 that records every request it gets (method, target,
headers in order, body bytes) and answers from a table.

Scenarios: exact, filters, timing, har, from-agent, diff, refused, hang, interrupt, https,
help-docs.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AGENT = os.path.abspath(sys.argv[1])
SCENARIO = sys.argv[2]
DOCS = sys.argv[3] if len(sys.argv) > 3 else None
WORK = tempfile.mkdtemp(prefix="replay-e2e-")
BASE_T = 1795830243.0  # 2026-11-29T...Z, captured request times start here


def log(*a):
    print("replay-e2e:", *a, flush=True)


def fail(msg):
    log("FAIL:", msg, f"(files kept in {WORK})")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Agent:
    def __init__(self, *extra):
        self.data = os.path.join(WORK, "data")
        for _ in range(3):
            self.http = free_port()
            spop = free_port()
            self.log = open(os.path.join(WORK, "agent.log"), "ab")
            self.proc = subprocess.Popen(
                [AGENT, "--spop-listen", f"127.0.0.1:{spop}", "--http-listen",
                 f"127.0.0.1:{self.http}", "--data-dir", self.data, *extra],
                stdout=self.log, stderr=self.log)
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1)
                    return
                except OSError:
                    if self.proc.poll() is not None:
                        break
                    time.sleep(0.1)
            self.stop()
        fail("the agent did not start (agent.log)")

    def url(self, path):
        return f"http://127.0.0.1:{self.http}{path}"

    def ingest(self, events, token=None):
        body = "".join(json.dumps(e) + "\n" for e in events).encode()
        rq = urllib.request.Request(self.url("/http-events"), data=body, method="POST",
                                    headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(rq, timeout=10) as r:
            check(r.status == 202, f"ingest answered {r.status}")

    def get(self, path, token=None):
        rq = urllib.request.Request(self.url(path))
        if token:
            rq.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(rq, timeout=10) as r:
            return r.read()

    def wait_stored(self, n, token=None):
        deadline = time.time() + 20
        while time.time() < deadline:
            page = json.loads(self.get("/events?limit=1000", token))
            if len(page["events"]) >= n:
                return
            time.sleep(0.1)
        fail(f"the agent did not store {n} exchanges")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def exchange_events(i, method, path, query=None, headers=(), body=None, status=200,
                    rs_headers=(("content-type", "application/json"),), rs_body=None, t=None):
    t = BASE_T + i * 0.01 if t is None else t
    rq = {"id": f"x{i:04}", "method": method, "path": path + ("?" + query if query else ""),
          "headers": [list(h) for h in headers]}
    if body is not None:
        rq["body"] = body
    rs = {"id": f"x{i:04}", "status": status, "headers": [list(h) for h in rs_headers]}
    if rs_body is not None:
        rs["body"] = rs_body
    return [{"type": "request", "timestamp": t, "data": rq},
            {"type": "response", "timestamp": t + 0.001, "data": rs}]


def standard_capture(n=30):
    """n exchanges of varied shape; returns (events, answers) where answers maps a path to
    the (status, headers, body) the capture has, so that a faithful backend answers the same."""
    events, answers = [], {}
    for i in range(n):
        kind = i % 5
        host = [("host", "shop.local")]
        if kind == 0:
            path, method, query = f"/api/items/{i}", "GET", f"page={i}&sort=-price"
            hs = host + [("accept", "application/json"), ("x-trace", f"t{i}"), ("x-trace", "again")]
            body = None
        elif kind == 1:
            path, method, query = f"/api/items/new{i}", "POST", None
            hs = host + [("content-type", "application/json"), ("authorization", "Bearer abc"),
                         ("connection", "keep-alive, x-hop"), ("x-hop", "1"),
                         ("transfer-encoding", "chunked")]
            body = json.dumps({"name": f"pen {i}", "tags": ["a", "é ü", "\u2603"], "n": i})
        elif kind == 2:
            path, method, query = f"/upload/{i}", "PUT", "x=%20y&z"
            hs = host + [("content-type", "text/plain"), ("content-length", "999")]
            body = "line one\r\nline two\ttab \\ \"quote\" " + "z" * (i * 37)
        elif kind == 3:
            path, method, query = f"/static/app{i}.js", "GET", None
            hs = host + [("user-agent", "Mozilla/5.0 (X11)"), ("cookie", "sid=1")]
            body = None
        else:
            path, method, query = f"/api/items/{i}", "DELETE", None
            hs = [("Host", "shop.local:8443"), ("X-Mixed-Case", "Value")]
            body = None
        rs_body = json.dumps({"ok": True, "i": i, "path": path})
        answers[path] = (200, [("content-type", "application/json")], rs_body.encode())
        events += exchange_events(i, method, path, query, hs, body, 200,
                                  rs_body=rs_body)
    return events, answers


class Recorder:
    """The target: records every request, answers from `answers` (path -> status, headers,
    body) or 200 {} ."""

    def __init__(self, answers=None, tls=None):
        self.requests = []
        self.lock = threading.Lock()
        self.answers = answers or {}
        rec = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def handle_one_request(self):
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if not self.parse_request():
                    return
                n = int(self.headers.get("content-length", "0") or 0)
                body = self.rfile.read(n) if n else b""
                with rec.lock:
                    rec.requests.append({"method": self.command, "target": self.path,
                                         "headers": list(self.headers.items()), "body": body,
                                         "time": time.time()})
                status, hs, rbody = rec.answers.get(self.path.split("?")[0],
                                                    (200, [("content-type", "application/json")],
                                                     b"{}"))
                self.send_response(status)
                for k, v in hs:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(rbody)
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def replay(*args, timeout=60):
    cmd = [AGENT, "replay", *args]
    log("$", " ".join(cmd[1:]))
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(), p.stderr.decode()
    sys.stdout.write(out)
    sys.stdout.write(err)
    return p.returncode, out, err, time.time() - t0


def expected_request(ev_req, target_port, keep_host=False):
    """What the target must receive for one captured request (after the agent's redaction of
    authorization and cookie): the replay rules of replay/request.h."""
    d = ev_req["data"]
    hop = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
           "upgrade", "content-length", "expect"}
    named = set()
    for k, v in d["headers"]:
        if k.lower() == "connection":
            named |= {t.strip().lower() for t in v.split(",")}
    hs = []
    for k, v in d["headers"]:
        k = k.lower()  # the agent stores names lower-case
        if k in hop or k in named or k in ("authorization", "cookie"):
            continue
        if k == "host":
            # libcurl writes the Host header itself, always as "Host".
            k = "Host"
            if not keep_host:
                v = f"127.0.0.1:{target_port}"
        hs.append((k, v))
    body = d.get("body", "").encode()
    if body or d["method"] in ("POST", "PUT", "PATCH"):
        hs.append(("Content-Length", str(len(body))))
    return {"method": d["method"], "target": d["path"], "headers": hs, "body": body}


def check_received(rec, events, port, keep_host=False):
    want = [expected_request(e, port, keep_host) for e in events if e["type"] == "request"]
    got = sorted(rec.requests, key=lambda r: r["target"])
    want = sorted(want, key=lambda r: r["target"])
    check(len(got) == len(want), f"the target got {len(got)} requests, expected {len(want)}")
    for g, w in zip(got, want):
        for k in ("method", "target", "body"):
            check(g[k] == w[k], f"{w['target']}: {k} {g[k]!r} != {w[k]!r}")
        check(g["headers"] == w["headers"],
              f"{w['target']}: headers\n  got  {g['headers']}\n  want {w['headers']}")
    log(f"the target received exactly the {len(want)} captured requests")


def requests_of(events):
    return [e for e in events if e["type"] == "request"]


def msgpack(v):
    """The few MessagePack types an ingest envelope needs (bytes become BIN)."""
    import struct
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b
    if isinstance(v, bytes):
        return struct.pack(">BH", 0xc5, len(v)) + v
    if isinstance(v, float):
        return struct.pack(">Bd", 0xcb, v)
    if isinstance(v, int):
        return struct.pack(">BH", 0xcd, v)
    raise TypeError(v)


def s_exact():
    events, answers = standard_capture(30)
    a = Agent()
    a.ingest(events)
    # One more exchange whose request body is not UTF-8 (stored base64): MessagePack BIN.
    binary = bytes(range(256)) + b"\x00\xff\r\n"
    bin_req = {"type": "request", "timestamp": BASE_T + 1,
               "data": {"id": "bin", "method": "POST", "path": "/bin",
                        "headers": [["host", "shop.local"],
                                    ["content-type", "application/octet-stream"]],
                        "body": binary}}
    bin_rs = {"type": "response", "timestamp": BASE_T + 1.001,
              "data": {"id": "bin", "status": 200, "body": binary}}
    rq = urllib.request.Request(a.url("/http-events"), method="POST",
                                data=msgpack(bin_req) + msgpack(bin_rs),
                                headers={"Content-Type": "application/msgpack"})
    with urllib.request.urlopen(rq, timeout=10) as r:
        check(r.status == 202, "msgpack ingest")
    a.wait_stored(31)
    a.stop()
    answers["/bin"] = (200, [], binary)
    rec = Recorder(answers)
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet")
    check(rc == 0, f"exit {rc}, expected 0 (every answer is the captured one)")
    check("31 same, 0 changed, 0 failed" in out, "summary line")
    bins = [r for r in rec.requests if r["target"] == "/bin"]
    check(len(bins) == 1 and bins[0]["body"] == binary, "the binary body, byte for byte")
    rec.requests.remove(bins[0])
    check_received(rec, events, rec.port)
    # --keep-host sends the captured Host.
    rec.requests.clear()
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--keep-host", "--quiet",
                             "--header", "Authorization: Bearer new", "--header", "X-Trace:")
    check(rc == 0, f"--keep-host: exit {rc}")
    for r in rec.requests:
        hs = dict((k.lower(), v) for k, v in r["headers"])
        check(hs["host"].startswith("shop.local"), f"--keep-host: host {hs['host']}")
        check(hs.get("authorization") == "Bearer new", "--header replaces a redacted value")
        check("x-trace" not in hs, "--header 'X-Trace:' removes it")


def s_filters():
    events, answers = standard_capture(30)
    a = Agent("--redact-json-field", "name")
    a.ingest(events)
    a.wait_stored(30)
    a.stop()
    rec = Recorder(answers)
    # The 6 POST bodies had their "name" redacted: said, and sent as captured.
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--dry-run",
                             "--method", "POST")
    check(rc == 0 and "6 request bodies hold" in err, "the redacted-body warning")
    check(out.count("> POST ") == 6 and not rec.requests, "--dry-run sends nothing")
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet",
                             "--method", "post")
    check(rc == 0 and len(rec.requests) == 6, f"--method post: {len(rec.requests)} sent")
    check(all(r["method"] == "POST" for r in rec.requests), "--method post sent others")
    rec.requests.clear()
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet",
                             "--path", "/static/*.js", "--host", "shop.local")
    check(len(rec.requests) == 6, f"--path glob: {len(rec.requests)} sent")
    rec.requests.clear()
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_T)) + ".095Z"
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet",
                             "--since", since, "--limit", "5")
    check(len(rec.requests) == 5, f"--since --limit 5: {len(rec.requests)} sent")
    check(sorted(r["target"] for r in rec.requests)[0] != "/api/items/0", "--since")
    rec.requests.clear()
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet", "--id", "x0007")
    check([r["target"] for r in rec.requests] == ["/upload/7?x=%20y&z"], "--id")
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--status", "abc")
    check(rc == 2 and "invalid --status" in err, "bad --status")


def s_timing():
    # 20 exchanges captured 100 ms apart: 1.9 s of traffic.
    events = []
    for i in range(20):
        events += exchange_events(i, "GET", f"/t/{i}", t=BASE_T + i * 0.1, rs_body="{}")
    a = Agent()
    a.ingest(events)
    a.wait_stored(20)
    a.stop()
    rec = Recorder()

    def span():
        ts = sorted(r["time"] for r in rec.requests)
        return ts[-1] - ts[0]

    rc, out, err, took = replay("--from", a.data, "--target", rec.url(), "--quiet",
                                "--concurrency", "4")
    check(rc == 0 and len(rec.requests) == 20, "asap")
    check(span() < 1.5, f"asap took {span():.2f}s")
    log(f"asap: {span():.2f}s")
    rec.requests.clear()
    rc, out, err, took = replay("--from", a.data, "--target", rec.url(), "--quiet",
                                "--rate", "10")
    check(rc == 0 and len(rec.requests) == 20, "rate")
    check(1.4 < span() < 4.0, f"--rate 10 of 20: {span():.2f}s, expected about 1.9")
    log(f"rate 10/s: {span():.2f}s")
    rec.requests.clear()
    rc, out, err, took = replay("--from", a.data, "--target", rec.url(), "--quiet",
                                "--speed", "2")
    check(rc == 0 and len(rec.requests) == 20, "speed")
    check(0.6 < span() < 2.5, f"--speed 2 of 1.9 s: {span():.2f}s, expected about 0.95")
    log(f"speed 2: {span():.2f}s")
    rec.requests.clear()
    rc, out, err, took = replay("--from", a.data, "--target", rec.url(), "--quiet",
                                "--speed", "1")
    check(1.5 < span() < 4.0, f"--speed 1 of 1.9 s: {span():.2f}s")
    log(f"speed 1: {span():.2f}s")
    rc, out, err, took = replay("--from", a.data, "--target", rec.url(), "--rate", "1",
                                "--speed", "1")
    check(rc >= 100, "--rate with --speed is a usage error")


def s_har():
    events, answers = standard_capture(20)
    a = Agent()
    a.ingest(events)
    a.wait_stored(20)
    har = a.get("/events.har")
    a.stop()
    path = os.path.join(WORK, "capture.har")
    with open(path, "wb") as f:
        f.write(har)
    rec = Recorder(answers)
    rc, out, err, _ = replay("--from", path, "--target", rec.url(), "--quiet")
    check(rc == 0, f"HAR: exit {rc}")
    check_received(rec, events, rec.port)
    rec.requests.clear()
    rc, out, err, _ = replay("--from", path, "--target", rec.url(), "--quiet", "--method", "PUT")
    check(len(rec.requests) == 4, f"HAR --method PUT: {len(rec.requests)}")


def s_from_agent():
    events, answers = standard_capture(30)
    a = Agent("--api-token", "s3cret")
    try:
        a.ingest(events)
        a.wait_stored(30, "s3cret")
        rec = Recorder(answers)
        rc, out, err, _ = replay("--from", a.url(""), "--target", rec.url(), "--quiet")
        check(rc == 2 and "401" in err, f"no token: exit {rc}")
        rc, out, err, _ = replay("--from", a.url("/events"), "--token", "s3cret",
                                 "--target", rec.url(), "--quiet")
        check(rc == 0, f"--from URL: exit {rc}")
        check_received(rec, events, rec.port)
        rec.requests.clear()
        rc, out, err, _ = replay("--from", a.url(""), "--token", "s3cret", "--target", rec.url(),
                                 "--quiet", "--method", "DELETE")
        check(rc == 0 and len(rec.requests) == 6, f"--from URL --method: {len(rec.requests)}")
    finally:
        a.stop()


def s_diff():
    events = []
    events += exchange_events(0, "GET", "/a", rs_body='{"x":1}')
    events += exchange_events(1, "GET", "/b", rs_body=json.dumps(
        {"items": [{"id": 1, "price": 3}, {"id": 2, "price": 4}], "meta": {"ts": 1, "n": 2}}))
    events += exchange_events(2, "GET", "/c", rs_body='{"meta":{"ts":1},"v":"same"}')
    events += exchange_events(3, "GET", "/d", rs_body="plain text",
                              rs_headers=[("content-type", "text/plain"), ("x-version", "1")])
    a = Agent()
    a.ingest(events)
    a.wait_stored(4)
    a.stop()
    answers = {
        "/a": (500, [("content-type", "application/json")], b'{"x":1}'),
        "/b": (200, [("content-type", "application/json")], json.dumps(
            {"meta": {"n": 2, "ts": 99}, "items": [{"price": 3, "id": 7}, {"price": 5, "id": 8}]}
        ).encode()),
        "/c": (200, [("content-type", "application/json")], b'{"v":"same","meta":{"ts":2}}'),
        "/d": (200, [("content-type", "text/plain"), ("x-version", "2")], b"plain text"),
    }
    rec = Recorder(answers)
    report = os.path.join(WORK, "report.jsonl")
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--report", report,
                             "--ignore-json-field", "meta.ts", "--ignore-json-field", "items[].id",
                             "--compare-header", "X-Version")
    check(rc == 1, f"exit {rc}, expected 1")
    lines = [json.loads(l) for l in open(report)]
    got = sorted((l["id"], l["kind"], l["where"], json.dumps(l["expected"]),
                  json.dumps(l["actual"])) for l in lines)
    want = sorted([
        ("x0000", "status", "", "200", "500"),
        ("x0001", "json", "items[1].price", "4", "5"),
        ("x0003", "header", "x-version", '"1"', '"2"'),
    ])
    check(got == want, f"report\n  got  {got}\n  want {want}")
    check(all(l["outcome"] == "changed" for l in lines), "outcome")
    check("1 same, 3 changed, 0 failed" in out, "summary")
    check("json items[1].price: 4 -> 5" in out, "the difference on stdout")
    # Without the ignore rules, the ignored fields are reported too.
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--report", report,
                             "--quiet", "--id", "x0002")
    lines = [json.loads(l) for l in open(report)]
    check(rc == 1 and [(l["where"], l["expected"], l["actual"]) for l in lines]
          == [("meta.ts", 1, 2)], f"unignored: {lines}")
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url(), "--quiet",
                             "--ignore-json-field", "a..b")
    check(rc == 2 and "ignore-json-field" in err, "bad ignore path")


def error_capture(n):
    events = []
    for i in range(n):
        events += exchange_events(i, "GET", f"/e/{i}", rs_body="{}")
    a = Agent()
    a.ingest(events)
    a.wait_stored(n)
    a.stop()
    return a


def check_failures(rc, report, n, pattern):
    check(rc == 2, f"exit {rc}, expected 2")
    lines = [json.loads(l) for l in open(report)]
    check(len(lines) == n, f"{len(lines)} report lines, expected {n}")
    for l in lines:
        check(l["outcome"] == "failed" and l["kind"] == "error", f"line {l}")
        check(re.search(pattern, l["error"], re.I), f"error {l['error']!r} !~ {pattern}")


def s_refused():
    a = error_capture(5)
    port = free_port()  # nothing listens there
    report = os.path.join(WORK, "report.jsonl")
    rc, out, err, took = replay("--from", a.data, "--target", f"http://127.0.0.1:{port}",
                                "--report", report, "--timeout", "5", timeout=30)
    check_failures(rc, report, 5, r"Connection refused")
    check("0 same, 0 changed, 5 failed" in out, "summary")
    check(took < 10, f"took {took:.1f}s")


def s_hang():
    a = error_capture(4)
    # Accepts connections and never answers.
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        lsn.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(lsn.accept()[0])
            except socket.timeout:
                pass

    threading.Thread(target=accept, daemon=True).start()
    report = os.path.join(WORK, "report.jsonl")
    rc, out, err, took = replay("--from", a.data, "--target",
                                f"http://127.0.0.1:{lsn.getsockname()[1]}", "--report", report,
                                "--timeout", "1", "--concurrency", "2", timeout=30)
    stop.set()
    check_failures(rc, report, 4, r"timed? ?out")
    check(took < 8, f"4 hung requests, 2 at a time, 1 s timeout took {took:.1f}s")
    log(f"hang: {took:.1f}s")


def s_interrupt():
    # 50 exchanges at 10/s to a target that answers: SIGINT after about 1 s stops the
    # sending, the summary still comes, exit 130.
    events = []
    for i in range(50):
        events += exchange_events(i, "GET", f"/i/{i}", rs_body="{}")
    a = Agent()
    a.ingest(events)
    a.wait_stored(50)
    a.stop()
    rec = Recorder()
    p = subprocess.Popen([AGENT, "replay", "--from", a.data, "--target", rec.url(), "--rate", "10",
                          "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    out = out.decode()
    sys.stdout.write(out)
    check(p.returncode == 130, f"exit {p.returncode}, expected 130")
    m = re.search(r"interrupted: (\d+) of 50 exchanges not sent", out)
    check(m and 30 < int(m.group(1)) < 50, "the interrupted line")
    check(len(rec.requests) == 50 - int(m.group(1)), "sent = 50 - not sent")
    check(re.search(r"^replayed \d+ exchanges", out, re.M), "the summary")


def s_https():
    key, cert = os.path.join(WORK, "key.pem"), os.path.join(WORK, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    events, answers = standard_capture(10)
    a = Agent()
    a.ingest(events)
    a.wait_stored(10)
    a.stop()
    rec = Recorder(answers, tls=(cert, key))
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url("https"), "--quiet",
                             "--insecure")
    check(rc == 0, f"https --insecure: exit {rc}")
    check_received(rec, events, rec.port)
    rec.requests.clear()
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url("https"), "--quiet",
                             "--cacert", cert)
    check(rc == 0 and len(rec.requests) == 10, f"https --cacert: exit {rc}")
    report = os.path.join(WORK, "report.jsonl")
    rc, out, err, _ = replay("--from", a.data, "--target", rec.url("https"), "--quiet",
                             "--report", report)
    check_failures(rc, report, 10, r"certificate|SSL")


def s_help_docs():
    rc, out, err, _ = replay("--help")
    check(rc == 0, "--help")
    flags = sorted(set(re.findall(r"^\s+(?:-\w,)?(--[a-z][a-z-]*)", out, re.M)))
    check(len(flags) > 20, f"flags found in --help: {flags}")
    doc = open(os.path.join(DOCS, "replay.md")).read()
    missing = [f for f in flags if f"`{f}" not in doc]
    check(not missing, f"flags of replay --help not documented in docs/replay.md: {missing}")
    log(f"all {len(flags)} flags documented")


SCENARIOS = {"exact": s_exact, "filters": s_filters, "timing": s_timing, "har": s_har,
             "from-agent": s_from_agent, "diff": s_diff, "refused": s_refused, "hang": s_hang, "interrupt": s_interrupt,
             "https": s_https, "help-docs": s_help_docs}

if __name__ == "__main__":
    SCENARIOS[SCENARIO]()
    shutil.rmtree(WORK, ignore_errors=True)
    log(SCENARIO, "ok")
