#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks what http-event-processor stored against what HAProxy logged.

python3 standard library only.  Sub-commands:

  verify.py fetch --api http://127.0.0.1:PORT --out events.json
                  [--haproxy-log LOG [--backend-log FILE] --wait SECONDS]
                  [--page-size N]
      Pages through GET /events (newest first, following "next") and saves
      every page plus GET /status into one JSON file.  With --haproxy-log and
      --wait it first polls until every transaction HAProxy sent to a server
      is visible (or the time is up), so the agent has settled.

  verify.py check --haproxy-log LOG --data-dir DIR [--events events.json]
                  [--backend-log FILE] [--load N] [--scenarios]
      Reads HAProxy's access log (log-format of
      haproxy-conf/haproxy-2.4-3.0/capture.cfg) and the stored segment files
      DIR/segments/<date>/*.jsonl, and asserts that every transaction HAProxy
      sent to a server is stored exactly once, as a complete pair, with the
      right method, path, query, version, status, client, frontend, backend,
      server, headers (X-Scenario, order, redaction) and bodies (bytes,
      encoding, sizes, truncation), that nothing else is stored, and that
      HAProxy logged no SPOE error.  With --scenarios the transactions of
      drive.sh are checked in detail (payloads recomputed like drive.sh
      does); --load N expects the N load requests of drive.sh.  With --events
      the pages saved by "fetch" must hold exactly the stored records.
      --backend-log is backend.py's --access-log: a transaction HAProxy failed
      to log (2.6 drops log lines when threads contend for stdout) is then
      still expected, and checked against what the backend saw.
      Prints one line per failure and a summary; exit status 1 on any failure.

  verify.py parse-log LOG
      Prints the parsed access-log lines and SPOE lines (to debug the format).
"""
import argparse
import base64
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime
from urllib.parse import urlsplit

# ---------------------------------------------------------------------------
# HAProxy log

# "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc uid=%ID
#  spoe_err=%[var(txn.cap.err)] spoe_ms=%[...ptime]/%[...ttime] %{+Q}r"
ACCESS_RE = re.compile(
    r'^(?P<ip>[^ ]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/ ]+)/(?P<srv>\S+) '
    r'(?P<timers>\S+) (?P<status>-?\d+) (?P<bytes>-?\d+) (?P<tsc>\S+) uid=(?P<uid>\S*) '
    r'spoe_err=(?P<err>\S*) spoe_ms=(?P<ms>\S*) "(?P<req>.*)"$')
SPOE_RE = re.compile(r'^SPOE: \[(?P<agent>[^\]]+)\] <(?P<kind>EVENT|GROUP):(?P<name>[^>]+)> '
                     r'sid=(?P<sid>-?\d+) st=(?P<st>-?\d+) (?P<rest>.*)$')
NOSRV = "<NOSRV>"


class LogLine:
    def __init__(self, m, lineno):
        g = m.groupdict()
        self.lineno = lineno
        self.ip, self.port = g["ip"], int(g["port"])
        self.fe, self.be, self.srv = g["fe"], g["be"], g["srv"]
        self.status, self.tsc = int(g["status"]), g["tsc"]
        t = g["timers"].split("/")
        self.timers, self.date = t, g["date"]
        # %Tr = -1: no response came from the server (e.g. the client aborted first), so no
        # response message can exist.
        self.got_response = not (len(t) == 5 and t[3] == "-1")
        self.uid, self.err, self.req = g["uid"], g["err"], g["req"]
        parts = self.req.split(" ")
        self.method = parts[0] if len(parts) == 3 else None
        self.uri = parts[1] if len(parts) == 3 else None
        self.version = parts[2].replace("HTTP/", "") if len(parts) == 3 else None
        self.path = self.query = None
        if self.uri is not None:
            uri = self.uri
            if "://" in uri:  # absolute form (HTTP/2): keep path + query only
                s = urlsplit(uri)
                uri = (s.path or "/") + ("?" + s.query if "?" in uri else "")
            self.path, sep, q = uri.partition("?")
            self.query = q if sep else None

    def start_time(self):
        """Epoch seconds (local time, as HAProxy logs it) when the request arrived (%tr)."""
        try:
            start = time.mktime(time.strptime(self.date.split(".")[0], "%d/%b/%Y:%H:%M:%S"))
            start += float("0." + self.date.split(".")[1]) if "." in self.date else 0.0
        except ValueError:
            return 0.0
        return start

    def end_time(self):
        """Epoch seconds when the transaction ended: its arrival plus its total active time
        (%Ta)."""
        start = self.start_time()
        if start == 0.0:
            return 0.0
        ta = self.timers[4] if len(self.timers) == 5 else "0"
        return start + max(int(ta), 0) / 1000.0 if ta.lstrip("-").isdigit() else start

    @property
    def to_server(self):
        """True when HAProxy sent the request to a server (both NOTIFYs expected)."""
        return self.srv != NOSRV and self.status > 0

    def __str__(self):
        return "%s %s" % (self.uid, self.req)


def parse_haproxy_log(path):
    access, spoe, other = [], [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = ACCESS_RE.match(line)
            if m:
                access.append(LogLine(m, n))
                continue
            m = SPOE_RE.match(line)
            if m:
                spoe.append(m.groupdict())
                continue
            if line.strip():
                other.append(line)
    return access, spoe, other


class BackendLine(LogLine):
    """A transaction only backend.py's --access-log saw (HAProxy dropped its log line).

    It knows the unique-id, method, origin-form target and status; client address,
    frontend and the client's HTTP version are unknown (None) and not checked."""

    def __init__(self, entry, lineno):  # noqa: super().__init__ expects a regex match
        self.lineno = lineno
        self.ip = self.port = self.fe = self.version = None
        self.be, self.srv, self.tsc, self.err = "be_app", "app1", "----", "-"
        self.uid, self.method, self.uri = entry["uid"], entry["method"], entry["target"]
        self.got_response = True
        self.status = int(entry["status"])
        self.req = "%s %s (backend log only)" % (self.method, self.uri)
        self.path, sep, q = self.uri.partition("?")
        self.query = q if sep else None


def parse_backend_log(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                out.append(BackendLine(json.loads(line), n))
    return out


# ---------------------------------------------------------------------------
# Stored records


def segment_files(data_dir):
    root = os.path.join(data_dir, "segments")
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(".jsonl")]
    return sorted(out)


def read_segments(data_dir, fail):
    records = []
    files = segment_files(data_dir)
    for p in files:
        with open(p, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            fail("segment %s: last line is not terminated by a newline (torn write?)" % p)
        for n, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, ValueError) as e:
                fail("segment %s line %d: not valid JSON: %s" % (p, n, e))
    return files, records


# ---------------------------------------------------------------------------
# Payloads, computed exactly like drive.sh / backend.py do.

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz\n"


def pattern_bytes(n):
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def payloads():
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    rnd = random.Random(1234)
    return {
        "100k": (line * (102400 // len(line) + 1))[:102400],
        "bin4k": bytes(rnd.randrange(256) for _ in range(4096)),
        "2k": (b"expect-continue-payload-" * 100)[:2048],
        "chunk": b"chunked upload body " * 150,
    }


SENSITIVE = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
REDACTED = "[REDACTED]"
JSON_03 = b'{"user":"alice","n":42,"tags":["a","b"],"nested":{"ok":true}}'


# tune.bufsize of the run (verify.py check --bufsize): decides which bodies HAProxy cuts.
BUFSIZE = 16384
MAXREWRITE = 1024


def cut_by_buffer(size):
    """True when HAProxy cannot buffer a body of `size` bytes whole: req.body/res.body hold
    at most tune.bufsize - tune.maxrewrite minus the header bytes."""
    return size >= BUFSIZE - MAXREWRITE - 512


def version_tuple(v):
    try:
        return tuple(int(x) for x in v.split(".")[:2])
    except ValueError:
        return (0, 0)


def scenario_of(line):
    """Scenario name drive.sh gave this (method, path, query), or None."""
    p, q, m = line.path, line.query, line.method
    fixed = {
        ("GET", "/", None): "01-get-simple",
        ("GET", "/search", "q=hello%20world&lang=en&empty=&flag"): "02-get-query",
        ("POST", "/api/items", None): "03-post-json",
        ("POST", "/upload/100k", None): "04-post-100k",
        ("POST", "/upload/bin", None): "05-post-binary",
        ("GET", "/headers", None): "06-many-headers",
        ("GET", "/notfound/page.html", None): "07-get-404",
        ("GET", "/ka/1", None): "08-keepalive-x2",
        ("GET", "/ka/2", "second=1"): "08-keepalive-x2",
        ("GET", "/http10", "v=1.0"): "09-http10",
        ("HEAD", "/head", None): "10-head",
        ("PUT", "/upload/chunked", None): "11-put-chunked",
        ("DELETE", "/items/42", None): "12-delete",
        ("GET", "/big", "n=65536"): "13-big-response",
        ("GET", "/chunked", "n=10000"): "14-chunked-response",
        ("OPTIONS", "/api", None): "15-options",
        ("POST", "/form", None): "16-form-urlencoded",
        ("POST", "/expect", None): "17-expect-100",
        ("GET", "/caf%C3%A9/%E2%9C%93", "x=%F0%9F%98%80"): "18-utf8-path",
        ("POST", "/h2", "x=1"): "19-h2c-prior-knowledge",
        ("GET", "/haproxy-monitor", None): "20-monitor-uri",
        ("POST", "/empty", None): "21-empty-post",
        ("GET", "/bigcookie", None): "22-8k-cookie",
        ("GET", "/slow", "ms=1500"): "24-client-timeout",
        ("POST", "/abort", None): "25-abort-mid-body",
    }
    if (m, p, q) in fixed:
        return fixed[(m, p, q)]
    mm = re.fullmatch(r"i=([1-5])", q or "")
    if m == "GET" and p == "/pipeline" and mm:
        return "23-pipeline-" + mm.group(1)
    mm = re.fullmatch(r"/load/(\d+)", p or "")
    if mm and re.fullmatch(r"i=%s&c=\d+" % mm.group(1), q or ""):
        return "30-load-" + mm.group(1)
    return None


# Scenarios HAProxy sends to a server; 20 and 25 never produce a NOTIFY.
SCENARIOS_TO_SERVER = ["01-get-simple", "02-get-query", "03-post-json", "04-post-100k",
                       "05-post-binary", "06-many-headers", "07-get-404", "08-keepalive-x2",
                       "09-http10", "10-head", "11-put-chunked", "12-delete", "13-big-response",
                       "14-chunked-response", "15-options", "16-form-urlencoded",
                       "17-expect-100", "18-utf8-path", "19-h2c-prior-knowledge",
                       "21-empty-post", "22-8k-cookie"] + ["23-pipeline-%d" % i
                                                           for i in range(1, 6)] + [
                       "24-client-timeout"]


# ---------------------------------------------------------------------------
# Checks


class Checker:
    def __init__(self):
        self.failures = []
        self.mismatched = set()
        self.notes = []

    def fail(self, msg, uid=None):
        self.failures.append(msg)
        if uid is not None:
            self.mismatched.add(uid)

    def note(self, msg):
        self.notes.append(msg)


def body_bytes(half, what, ck, ctx, uid):
    """Decodes half["body"]; checks encoding, body_bytes, body_size, truncated."""
    body, enc = half.get("body"), half.get("body_encoding")
    nbytes, size, trunc = half.get("body_bytes"), half.get("body_size"), half.get("truncated")
    for k, v in (("body_bytes", nbytes), ("body_size", size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            ck.fail("%s: %s.%s is %r, want a non-negative integer" % (ctx, what, k, v), uid)
            return None
    if not isinstance(trunc, bool):
        ck.fail("%s: %s.truncated is %r, want a boolean" % (ctx, what, trunc), uid)
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        ck.fail("%s: %s.body is %r, want a string or null" % (ctx, what, type(body)), uid)
        return None
    elif enc == "utf8":
        raw = body.encode("utf-8")
    elif enc == "base64":
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError as e:
            ck.fail("%s: %s.body is not valid base64: %s" % (ctx, what, e), uid)
            return None
    else:
        ck.fail("%s: %s.body_encoding is %r, want utf8 or base64" % (ctx, what, enc), uid)
        return None
    if enc == "base64" and body is not None:
        try:
            raw.decode("utf-8")
            ck.fail("%s: %s.body is valid UTF-8 but stored as base64" % (ctx, what), uid)
        except UnicodeDecodeError:
            pass
    if len(raw) != nbytes:
        ck.fail("%s: %s.body holds %d bytes but body_bytes says %d" % (ctx, what, len(raw), nbytes),
                uid)
    if size < nbytes:
        ck.fail("%s: %s.body_size %d < body_bytes %d" % (ctx, what, size, nbytes), uid)
    if isinstance(trunc, bool) and trunc != (nbytes < size):
        ck.fail("%s: %s.truncated is %s but body_bytes=%d body_size=%d" % (ctx, what, trunc,
                                                                           nbytes, size), uid)
    return raw


def check_headers(hdrs, redacted, what, ck, ctx, uid):
    if not isinstance(hdrs, list) or not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            for h in hdrs):
        ck.fail("%s: %s.headers is not a list of [name, value] string pairs" % (ctx, what), uid)
        return []
    for n, v in hdrs:
        if n.lower() in SENSITIVE:
            if v != REDACTED:
                ck.fail("%s: %s header %s not redacted (value %.40r)" % (ctx, what, n, v), uid)
            if n.lower() not in [r.lower() for r in redacted]:
                ck.fail("%s: %s header %s redacted but not listed in \"redacted\" %r"
                        % (ctx, what, n, redacted), uid)
    return hdrs


def hget(hdrs, name):
    return [v for n, v in hdrs if n.lower() == name]


def parse_time(s):
    if not isinstance(s, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", s):
        return None
    s2 = s.replace("Z", "+00:00")
    m = re.match(r"(.*\.\d{6})\d*(.*)", s2)  # fromisoformat takes at most 6 digits
    if m:
        s2 = m.group(1) + m.group(2)
    try:
        return datetime.fromisoformat(s2)
    except ValueError:
        return None


def check_record(rec, line, ck, pl, scenarios):
    """One stored record against its access-log line (and its scenario, if any)."""
    uid = rec.get("id")
    sc = scenario_of(line)
    ctx = "%s [%s] %s" % (uid, sc or "?", line.req)

    def want(cond, msg):
        if not cond:
            ck.fail("%s: %s" % (ctx, msg), uid)
        return cond

    want(rec.get("source") == "spop", "source is %r, want \"spop\"" % rec.get("source"))
    if not want(rec.get("complete") is True, "complete is %r, want true (request=%s response=%s)"
                % (rec.get("complete"), "present" if rec.get("request") else "null",
                   "present" if rec.get("response") else "null")):
        return
    req, res = rec.get("request"), rec.get("response")
    if not want(isinstance(req, dict) and isinstance(res, dict), "request/response not objects"):
        return
    redacted = rec.get("redacted")
    if not want(isinstance(redacted, list), "redacted is %r, want a list" % (redacted,)):
        redacted = []
    dur = rec.get("duration_us")
    want(isinstance(dur, int) and dur >= 0, "duration_us is %r" % (dur,))

    # request line, version, client, frontend
    want(req.get("method") == line.method, "method %r, HAProxy logged %r" % (req.get("method"),
                                                                             line.method))
    want(req.get("path") == line.path, "path %r, HAProxy logged %r" % (req.get("path"), line.path))
    want(req.get("query") == line.query, "query %r, HAProxy logged %r" % (req.get("query"),
                                                                          line.query))
    cl = req.get("client") or {}
    if isinstance(line, BackendLine):  # HAProxy's log line is missing: weaker checks
        want(req.get("version") in ("1.0", "1.1", "2.0"), "version %r" % (req.get("version"),))
        want(isinstance(cl.get("ip"), str) and isinstance(cl.get("port"), int),
             "client %r" % (cl,))
        want(req.get("frontend") == "fe_capture", "frontend %r" % (req.get("frontend"),))
    else:
        want(req.get("version") == line.version, "version %r, HAProxy logged %r"
             % (req.get("version"), line.version))
        want(cl.get("ip") == line.ip and cl.get("port") == line.port,
             "client %r, HAProxy logged %s:%d" % (cl, line.ip, line.port))
        want(req.get("frontend") == line.fe, "frontend %r, want %r" % (req.get("frontend"),
                                                                     line.fe))
    # response
    want(res.get("status") == line.status, "status %r, HAProxy logged %d" % (res.get("status"),
                                                                             line.status))
    want(res.get("backend") == line.be, "backend %r, want %r" % (res.get("backend"), line.be))
    want(res.get("server") == line.srv, "server %r, want %r" % (res.get("server"), line.srv))
    want(isinstance(res.get("version"), str) and res.get("version") in ("1.0", "1.1", "2.0"),
         "response version %r" % (res.get("version"),))
    el = res.get("elapsed_us")
    want(el is None or (isinstance(el, int) and el >= 0), "elapsed_us is %r" % (el,))
    t0, t1 = parse_time(req.get("time")), parse_time(res.get("time"))
    if want(t0 is not None and t1 is not None, "request.time %r / response.time %r not RFC 3339"
            % (req.get("time"), res.get("time"))):
        want(t1 >= t0, "response.time %s before request.time %s" % (res.get("time"),
                                                                      req.get("time")))
    qh = check_headers(req.get("headers"), redacted, "request", ck, ctx, uid)
    sh = check_headers(res.get("headers"), redacted, "response", ck, ctx, uid)
    for r in redacted:
        want(isinstance(r, str) and (hget(qh, r.lower()) or hget(sh, r.lower())),
             "\"redacted\" lists %r but no such header is stored" % (r,))
    qb = body_bytes(req, "request", ck, ctx, uid)
    sb = body_bytes(res, "response", ck, ctx, uid)
    # Pairing proof: backend.py echoes the X-Unique-ID HAProxy added.
    if line.be == "be_app":
        want(hget(sh, "x-echo-unique-id") == [uid], "response x-echo-unique-id %r, want [%r] "
             "(response paired with the wrong request?)" % (hget(sh, "x-echo-unique-id"), uid))
    if not scenarios or sc is None:
        return
    want(hget(qh, "x-scenario") == [sc],
         "request x-scenario %r, want %r" % (hget(qh, "x-scenario"), sc))
    if qb is None or sb is None:
        return
    n = sc[:2]

    def req_body(expect, size=None, trunc=False):
        if size is None:
            size = len(expect)
        if trunc:
            want(req.get("truncated") is True and req.get("body_size") == size
                 and 0 < len(qb) < size and qb == expect[:len(qb)],
                 "request body: want a truncated prefix of %d bytes (body_size %d), got "
                 "body_bytes=%r body_size=%r truncated=%r prefix-match=%s"
                 % (size, size, req.get("body_bytes"), req.get("body_size"),
                    req.get("truncated"), qb == expect[:len(qb)]))
        else:
            want(qb == expect and req.get("truncated") is False and req.get("body_size") == size,
                 "request body: want %d bytes %.60r, got body_bytes=%r body_size=%r "
                 "truncated=%r body=%.60r" % (len(expect), expect, req.get("body_bytes"),
                                              req.get("body_size"), req.get("truncated"), qb))

    def res_body(expect, size=None, trunc=False):
        if size is None:
            size = len(expect)
        if trunc:
            want(res.get("truncated") is True and res.get("body_size") == size
                 and 0 < len(sb) < size and sb == expect[:len(sb)],
                 "response body: want a truncated prefix (body_size %d), got body_bytes=%r "
                 "body_size=%r truncated=%r prefix-match=%s" % (size, res.get("body_bytes"),
                                                                res.get("body_size"),
                                                                res.get("truncated"),
                                                                sb == expect[:len(sb)]))
        else:
            want(sb == expect and res.get("truncated") is False and res.get("body_size") == size,
                 "response body: want %d bytes %.60r, got body_bytes=%r body_size=%r "
                 "truncated=%r body=%.60r" % (len(expect), expect, res.get("body_bytes"),
                                              res.get("body_size"), res.get("truncated"), sb))

    def res_describe():
        try:
            d = json.loads(sb)
        except ValueError:
            want(False, "response body is not the backend's JSON description: %.80r" % sb)
            return None
        want(d.get("method") == line.method and d.get("path") == line.path
             and d.get("query") == (line.query or ""),
             "response body describes %s %s?%s, not this request"
             % (d.get("method"), d.get("path"), d.get("query")))
        return d

    no_body = (b"", 0, False)
    if n in ("01", "02", "06", "07", "08", "09", "10", "12", "13", "14", "15", "18", "22", "23",
             "24") \
            or sc.startswith("30") and line.method == "GET":
        want((qb, req.get("body_size"), req.get("truncated")) == no_body,
             "request body: want none, got body_bytes=%r body_size=%r truncated=%r"
             % (req.get("body_bytes"), req.get("body_size"), req.get("truncated")))
    if n in ("01", "02", "06", "08", "09", "12", "15", "18", "22", "23", "21") \
            or sc.startswith("30") and line.method == "GET":
        d = res_describe()
        want(hget(sh, "set-cookie") == [REDACTED, REDACTED] or n == "15",
             "response set-cookie %r, want two redacted values" % hget(sh, "set-cookie"))
        if d and n == "06":
            names = [h[0].lower() for h in d.get("headers", [])]
            want(names.count("x-custom-header-1") == 1, "backend did not see the 60 headers")
    if n == "03":
        req_body(JSON_03)
        want(req.get("body_encoding") == "utf8", "request body_encoding %r, want utf8"
             % req.get("body_encoding"))
        want(hget(qh, "content-type") == ["application/json"], "request content-type %r"
             % hget(qh, "content-type"))
        try:
            want(json.loads(sb) == {"created": True, "item": json.loads(JSON_03)},
                 "response body %.80r is not the created item" % sb)
        except ValueError:
            want(False, "response body %.80r is not JSON" % sb)
    elif n == "04":
        req_body(pl["100k"], trunc=cut_by_buffer(len(pl["100k"])))
        res_body(pl["100k"], trunc=cut_by_buffer(len(pl["100k"])))
        want(hget(qh, "content-length") == ["102400"], "request content-length %r"
             % hget(qh, "content-length"))
    elif n == "05":
        req_body(pl["bin4k"])
        want(req.get("body_encoding") == "base64", "request body_encoding %r, want base64"
             % req.get("body_encoding"))
        res_body(pl["bin4k"])
        want(res.get("body_encoding") == "base64", "response body_encoding %r, want base64"
             % res.get("body_encoding"))
    elif n == "06":
        custom = [(h[0].lower(), h[1]) for h in qh if h[0].lower().startswith("x-custom-header-")]
        exp = [("x-custom-header-%d" % i, "value-%d-%s" % (i, "x" * i)) for i in range(1, 61)]
        want(custom == exp, "the 60 X-Custom-Header-N headers are not stored in order with "
             "their values (got %d, first difference at %s)"
             % (len(custom), next((i + 1 for i, (a, b) in enumerate(zip(custom, exp)) if a != b),
                                  min(len(custom), len(exp)) + 1)))
        want(hget(qh, "cookie") == [REDACTED, REDACTED], "request cookie headers %r, want two "
             "redacted values" % hget(qh, "cookie"))
        want("cookie" in [r.lower() for r in redacted], "\"cookie\" not in redacted %r"
             % (redacted,))
        want(hget(qh, "accept") == ["text/html", "application/json"], "request accept headers %r"
             % hget(qh, "accept"))
    elif n == "07":
        res_body(b"not found: /notfound/page.html\n")
    elif n == "08":
        pass  # same client connection: checked across the pair in check()
    elif n == "10":
        want((sb, res.get("truncated")) == (b"", False), "HEAD response: want no body, got "
             "body_bytes=%r truncated=%r" % (res.get("body_bytes"), res.get("truncated")))
    elif n == "11":
        req_body(pl["chunk"])
        res_body(pl["chunk"])
        want(hget(qh, "transfer-encoding") == ["chunked"], "request transfer-encoding %r"
             % hget(qh, "transfer-encoding"))
    elif n == "13":
        res_body(pattern_bytes(65536), trunc=cut_by_buffer(65536))
    elif n == "14":
        res_body(pattern_bytes(10000))
        want(hget(sh, "transfer-encoding") == ["chunked"], "response transfer-encoding %r"
             % hget(sh, "transfer-encoding"))
    elif n == "15":
        want(hget(sh, "allow") != [], "OPTIONS response has no Allow header")
    elif n == "16":
        req_body(b"a=1&b=two+words&c=%C3%A9")
        res_body(b"a=1&b=two+words&c=%C3%A9")
    elif n == "17":
        req_body(pl["2k"])
        res_body(pl["2k"])
    elif n == "19":
        req_body(b'{"proto":"h2c"}')
        res_body(b'{"proto":"h2c"}')
    elif n == "21":
        want((qb, req.get("body_size"), req.get("truncated")) == no_body,
             "empty POST: want body_bytes 0, body_size 0, got %r/%r"
             % (req.get("body_bytes"), req.get("body_size")))
    elif n == "22":
        want(hget(qh, "cookie") == [REDACTED], "8 KB cookie stored as %.60r, want [\"%s\"]"
             % (hget(qh, "cookie"), REDACTED))
    elif n == "24":
        res_body(b"slow\n")
    elif n == "30" and line.method == "POST":
        i = sc.split("-")[-1]
        req_body(("load-body-%s" % i).encode())
        res_body(("load-body-%s" % i).encode())


def check(args):
    global BUFSIZE
    BUFSIZE = args.bufsize
    v3 = version_tuple(args.haproxy_version) >= (3, 1)
    ck = Checker()
    access, spoe, other = parse_haproxy_log(args.haproxy_log)
    files, records = read_segments(args.data_dir, ck.fail)
    pl = payloads()

    # HAProxy side: SPOE errors.  With --gap (the agent was restarted on purpose) they are the
    # gap and must be there; otherwise any is a failure.
    if not access:
        ck.fail("no access-log line parsed from %s (log-format changed?)" % args.haproxy_log)
    gap_lines = []
    for ln in access:
        if ln.err in ("-", ""):
            continue
        if args.gap or ln.err in (args.tolerate_err or "").split(","):
            gap_lines.append(ln)
        elif v3 and ln.err == "4" and scenario_of(ln) == "25-abort-mid-body":
            # 3.1+ ends the body wait when the client aborts, sends the request message with
            # the partial body, then interrupts the event.
            ck.note("3.1+: the client abort of 25-abort-mid-body is logged spoe_err=4 "
                    "(request message sent, event interrupted)")
        else:
            ck.fail("HAProxy logged spoe_err=%s for %s (SPOE failed for this transaction)"
                    % (ln.err, ln))
    spoe_bad = [s for s in spoe if s["st"] != "0"]
    tolerated = {str(int(c) - 256) if c.isdigit() and int(c) >= 256 else c
                 for c in (args.tolerate_err or "").split(",") if c}
    tolerated |= set((args.tolerate_err or "").split(","))
    if not args.gap:
        spoe_bad = [s for s in spoe_bad if s["st"] not in tolerated]
        for s in spoe_bad[:20]:
            ck.fail("HAProxy SPOE log: <%s:%s> sid=%s st=%s (non-zero status = error)"
                    % (s["kind"], s["name"], s["sid"], s["st"]))
        if len(spoe_bad) > 20:
            ck.fail("... %d more SPOE lines with a non-zero status" % (len(spoe_bad) - 20))
        for o in other:
            if re.search(r"be_spoa/\S+ is DOWN|be_spoa has no server|SPOE.*(rror|fail)", o):
                ck.fail("HAProxy: %s" % o)

    # Stored side: one record per id.
    by_id = defaultdict(list)
    for r in records:
        by_id[r.get("id")].append(r)
    gap_uids = {ln.uid for ln in gap_lines}
    split = set()
    for uid, rs in by_id.items():
        if len(rs) > 1:
            halves = sorted("request" if r.get("request") else "response" for r in rs)
            if args.gap and len(rs) == 2 and halves == ["request", "response"] and \
                    not any(r.get("complete") for r in rs):
                split.add(uid)  # one half before the restart, the other after it
                continue
            ck.fail("%s: stored %d times (want exactly once)" % (uid, len(rs)), uid)

    to_server = [ln for ln in access if ln.to_server]
    generated = [ln for ln in access if not ln.to_server]
    logged_ids = Counter(ln.uid for ln in access)
    # HAProxy 2.6 drops a log line when several threads write to stdout at the same time
    # (fd_write_frag_line gives up after 200 lock attempts), so backend.py's own log is a
    # second witness of what reached the server.
    backend_only = []
    if args.backend_log:
        for bl in parse_backend_log(args.backend_log):
            if bl.uid not in logged_ids:
                backend_only.append(bl)
                logged_ids[bl.uid] += 1
        if backend_only:
            ck.note("HAProxy's access log lacks %d transaction(s) that backend.py answered "
                    "(HAProxy drops log lines under contention); checked from the backend log "
                    "instead: %s" % (len(backend_only), ", ".join(str(b) for b in
                                                                   backend_only[:5])))
        to_server += backend_only
    for uid, c in logged_ids.items():
        if c > 1:
            ck.fail("HAProxy logged unique-id %s %d times (unique-id-format not unique?)" % (uid, c))
    gap_missing = gap_incomplete = 0
    crash_lost = []  # not stored, but ended within --crash-window of the kill
    write_lost = []  # not stored, to be explained by the agent's write errors
    for ln in to_server:
        rs = by_id.get(ln.uid)
        if (args.gap or args.tolerate_err) and (ln.uid in gap_uids or ln.uid in split or
                         (rs and rs[0].get("complete") is False)):
            # The agent was down for one half, or the halves straddle the restart.
            if not rs:
                gap_missing += 1
            elif rs[0].get("complete") is not True:
                gap_incomplete += 1
            else:
                check_record(rs[0], ln, ck, pl, args.scenarios)
            continue
        if not ln.got_response:
            # The client left before the server answered and HAProxy gave up on the server
            # (3.4 does for 24-client-timeout; 2.6 waits for the response): request only.
            if rs and rs[0].get("complete") is not False:
                ck.fail("%s: HAProxy got no response (%%Tr=-1) yet the record is complete"
                        % ln, ln.uid)
            ck.note("%s [%s]: HAProxy got no server response (%s), stored %s"
                    % (ln.uid, scenario_of(ln), ln.tsc,
                       "incomplete" if rs else "nothing"))
            continue
        if not rs and args.crash_at and not isinstance(ln, BackendLine) and \
                ln.end_time() >= args.crash_at - args.crash_window:
            crash_lost.append(ln)
            continue
        if not rs and args.lost_to_write_errors:
            write_lost.append(ln)
            continue
        if not rs:
            ck.fail("%s [%s] %s: not stored (HAProxy sent it to %s/%s, status %d)"
                    % (ln.uid, scenario_of(ln) or "?", ln.req, ln.be, ln.srv, ln.status), ln.uid)
            continue
        check_record(rs[0], ln, ck, pl, args.scenarios)
    for ln in generated:
        if ln.uid in by_id:
            ck.note("%s [%s] %s: answered by HAProxy itself (%s/%s %d %s) yet stored, complete=%r"
                    % (ln.uid, scenario_of(ln) or "?", ln.req, ln.be, ln.srv, ln.status, ln.tsc,
                       by_id[ln.uid][0].get("complete")))
    for uid in by_id:
        if uid not in logged_ids:
            r = by_id[uid][0]
            rq = r.get("request") or {}
            ck.fail("%s: stored (complete=%r, %s %s) but HAProxy never logged this unique-id"
                    % (uid, r.get("complete"), rq.get("method"), rq.get("path")), uid)

    if args.crash_at:
        ck.note("crash: %d transactions ended within %.1f s before the kill (or after it) and "
                "are not stored; every one that ended earlier is stored exactly once"
                % (len(crash_lost), args.crash_window))
    if args.lost_to_write_errors:
        with open(args.events) as f:
            status = json.load(f).get("status") or {}
        counted = (status.get("storage") or {}).get("write_errors")
        if counted != len(write_lost):
            ck.fail("%d transactions are not stored but the agent counted %s write errors "
                    "(loss must be counted exactly): %s"
                    % (len(write_lost), counted, ", ".join(str(ln) for ln in write_lost[:5])))
        else:
            ck.note("write errors: %d transactions not stored, exactly the %d the agent counted"
                    % (len(write_lost), counted))
    if args.tolerate_err and not args.gap:
        ck.note("tolerated: %d transactions with spoe_err in %s, %d of them not stored, %d "
                "stored incomplete; all others stored complete"
                % (len(gap_lines), args.tolerate_err, gap_missing, gap_incomplete))
    if args.gap:
        # After a SIGKILL HAProxy may ride out the short downtime on its connect and hello
        # timeouts without any error; after a SIGTERM it always sees the DISCONNECT.
        if not gap_lines and not args.crash_at:
            ck.fail("--gap: HAProxy logged no SPOE error: the agent's downtime is not visible")
        # "After" by arrival, not by log position: a transaction caught in the gap may wait
        # out HAProxy's SPOE processing timeout and be logged after the whole load (seen with
        # 2.6 after a SIGTERM: a response group that waited 4.96 s).
        last_gap = max((ln.start_time() for ln in gap_lines), default=0.0)
        after = [ln for ln in to_server if not isinstance(ln, BackendLine)
                 and ln.start_time() > last_gap]
        if args.crash_at:
            # The transaction cut by the kill is logged only after HAProxy's SPOE timeouts,
            # possibly after the whole load: count what ended after the kill instead.
            after = [ln for ln in to_server if not isinstance(ln, BackendLine)
                     and ln.end_time() > args.crash_at]
        resumed = [ln for ln in after if by_id.get(ln.uid) and by_id[ln.uid][0].get("complete")]
        if len(resumed) < 5:
            ck.fail("--gap: only %d transactions after the last SPOE error are stored complete "
                    "(capture did not resume?)" % len(resumed))
        ck.note("gap: %d transactions with spoe_err (codes %s), %d of them not stored, %d "
                "stored incomplete, %d split into two halves across the restart; %d SPOE "
                "log lines with st!=0; %d transactions after the gap stored complete"
                % (len(gap_lines), dict(Counter(ln.err for ln in gap_lines)), gap_missing,
                   gap_incomplete, len(split), len(spoe_bad), len(resumed)))

    # drive.sh coverage.
    seen = Counter(scenario_of(ln) for ln in to_server)
    if args.scenarios:
        only = args.only.split() if args.only else None
        for sc in SCENARIOS_TO_SERVER:
            if only is not None and sc[:2] not in only:
                continue
            want_n = 2 if sc.startswith("08") else 1
            if seen.get(sc, 0) != want_n:
                ck.fail("scenario %s: HAProxy logged %d transaction(s) to a server, want %d"
                        % (sc, seen.get(sc, 0), want_n))
        # 20-monitor-uri is answered so early that HAProxy does not even log it.
        if (only is None or "25" in only) and \
                not any(scenario_of(ln) == "25-abort-mid-body" for ln in generated):
            ck.fail("scenario 25-abort-mid-body: not in HAProxy's log as a request that never "
                    "reached a server")
        ka = [by_id[ln.uid][0] for ln in to_server if scenario_of(ln) == "08-keepalive-x2"
              and ln.uid in by_id]
        if len(ka) == 2:
            ports = {((r.get("request") or {}).get("client") or {}).get("port") for r in ka}
            if len(ports) != 1:
                ck.fail("08-keepalive-x2: the two requests show different client ports %r"
                        % ports)
    if args.load:
        loads = sorted(int(s.split("-")[-1]) for s in seen if s and s.startswith("30-load-"))
        if loads != list(range(args.load)):
            ck.fail("load phase: HAProxy logged %d distinct load requests to a server, want %d"
                    % (len(loads), args.load))
    if args.scenarios or args.load:
        unknown = [ln for ln in to_server if scenario_of(ln) is None]
        for ln in unknown[:10]:
            ck.fail("HAProxy logged a transaction drive.sh did not send: %s" % ln)

    # The read API must return exactly the stored records.
    api_count = None
    if args.events:
        with open(args.events) as f:
            dump = json.load(f)
        for e in dump.get("errors", []):
            ck.fail("GET /events: %s" % e)
        events = dump.get("events", [])
        api_count = len(events)
        api_ids = Counter(e.get("id") for e in events)
        for uid, c in api_ids.items():
            if c > 1:
                ck.fail("GET /events paging returned %s %d times" % (uid, c), uid)
        # Halves still waiting when the agent stops are stored incomplete at that moment,
        # after the pages were fetched.
        missing = [u for u in by_id if u not in api_ids and by_id[u][0].get("complete") is True]
        extra = [u for u in api_ids if u not in by_id]
        if missing:
            ck.fail("GET /events paging is missing %d stored record(s), e.g. %s"
                    % (len(missing), missing[:3]))
        if extra:
            ck.fail("GET /events returned %d record(s) not in the segment files, e.g. %s"
                    % (len(extra), extra[:3]))
        diff = [e.get("id") for e in events
                if e.get("id") in by_id and by_id[e.get("id")][0] != e]
        if diff:
            e = next(x for x in events if x.get("id") == diff[0])
            r = by_id[diff[0]][0]
            keys = sorted(k for k in set(e) | set(r) if e.get(k) != r.get(k))
            ck.fail("GET /events: %d record(s) differ from the segment files, e.g. %s "
                    "(keys %s)" % (len(diff), diff[0], keys))
        # Newest first: the pages should list the records in the reverse of the order the
        # writer appended them to the segment files.
        written = [r.get("id") for r in records]
        if [e.get("id") for e in events] != written[::-1]:
            ck.note("GET /events: the pages are not in the reverse of the segment files' order")
        pages = dump.get("pages", [])
        ck.note("GET /events: %d page(s) of up to %s, %d events" % (len(pages),
                                                                   dump.get("page_size"),
                                                                   api_count))
        st = dump.get("status")
        if st is not None:
            ck.note("GET /status: %s" % json.dumps(st, separators=(",", ":"))[:1500])
            flat = {}

            def walk(prefix, v):
                if isinstance(v, dict):
                    for k, x in v.items():
                        walk(prefix + "." + k if prefix else k, x)
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    flat[prefix] = v
            walk("", st)
            bad = {k: v for k, v in flat.items() if v and re.search(
                r"(error|bad|drop|evict|torn|fail|overflow|reject)", k.split(".")[-1])}
            if bad:
                ck.note("GET /status: non-zero error counters after the run: %s" % bad)

    complete = sum(1 for r in records if r.get("complete") is True)
    to_server_ids = {ln.uid for ln in to_server}
    stored_logged = sum(1 for u in by_id if u in to_server_ids)
    for n in ck.notes:
        print("note: " + n)
    limit = 60
    for f in ck.failures[:limit]:
        print("FAIL: " + f)
    if len(ck.failures) > limit:
        print("FAIL: ... and %d more failures" % (len(ck.failures) - limit))
    print("summary: haproxy logged %d transactions (%d to a server, %d answered by HAProxy "
          "itself; %d more only in the backend log), SPOE log lines %d (errors %d); "
          "stored %d records in %d segment file(s) (%d distinct ids, %d of the logged ones): "
          "complete %d, incomplete %d; records with mismatches %d; GET /events returned %s; "
          "failures %d"
          % (len(access), len(to_server) - len(backend_only), len(generated), len(backend_only),
             len(spoe), len(spoe_bad), len(records),
             len(files), len(by_id), stored_logged, complete, len(records) - complete,
             len(ck.mismatched), "n/a" if api_count is None else api_count, len(ck.failures)))
    print("verify: %s" % ("FAILED" if ck.failures else "OK"))
    return 1 if ck.failures else 0


# ---------------------------------------------------------------------------
# fetch


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, json.loads(r.read().decode("utf-8"))


def page_all(api, page_size, errors, max_pages=1000):
    events, pages, cursor = [], [], None
    for _ in range(max_pages):
        url = "%s/events?limit=%d" % (api, page_size)
        if cursor is not None:
            url += "&cursor=" + urllib.request.quote(str(cursor), safe="")
        try:
            st, body = http_json(url)
        except (OSError, ValueError, urllib.error.URLError) as e:
            errors.append("%s: %s" % (url, e))
            break
        evs = body.get("events") if isinstance(body, dict) else None
        if not isinstance(evs, list) or "next" not in body:
            errors.append("%s: answer is not {\"events\":[...],\"next\":...}: %.200r" % (url, body))
            break
        if len(evs) > page_size:
            errors.append("%s: %d events in a page of limit %d" % (url, len(evs), page_size))
        pages.append({"url": url, "count": len(evs), "next": body["next"]})
        events += evs
        cursor = body["next"]
        if cursor is None:
            break
        if not evs:
            errors.append("%s: empty page but next=%r" % (url, cursor))
            break
    else:
        errors.append("paging did not end after %d pages" % max_pages)
    return events, pages


def fetch(args):
    api = args.api.rstrip("/")
    expected = set()
    if args.haproxy_log:
        access, _, _ = parse_haproxy_log(args.haproxy_log)
        expected = {ln.uid for ln in access if ln.to_server}
    if args.backend_log:
        expected |= {bl.uid for bl in parse_backend_log(args.backend_log)}
    deadline = time.monotonic() + args.wait
    while True:
        errors = []
        events, pages = page_all(api, args.page_size, errors)
        have = {e.get("id") for e in events}
        missing = expected - have
        if (not missing and not errors) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if expected:
        print("fetch: %d/%d logged transactions visible in GET /events (%d events, %d pages)"
              % (len(expected) - len(missing), len(expected), len(events), len(pages)))
    status = None
    try:
        _, status = http_json(api + "/status")
    except (OSError, ValueError, urllib.error.URLError) as e:
        errors.append("GET /status: %s" % e)
    with open(args.out, "w") as f:
        json.dump({"page_size": args.page_size, "pages": pages, "events": events,
                   "status": status, "errors": errors}, f)
    for e in errors:
        print("fetch: error: %s" % e)
    return 0


def expect(args):
    """Rules `path OP value` on {"status": GET /status, "proxy": spop_proxy.py's counters}.
    OP is one of == != >= <= > < (numbers) or ~ (the JSON text of the value contains it)."""
    with open(args.events) as f:
        doc = {"status": json.load(f).get("status") or {}}
    if args.proxy_stats:
        try:
            with open(args.proxy_stats) as f:
                doc["proxy"] = json.load(f)
        except (OSError, ValueError) as e:
            print("expect: FAIL: proxy stats unreadable: %s" % e)
            return 1
    st = doc["status"]
    summary = ["spop.%s=%s" % (k, st.get("spop", {}).get(k)) for k in (
        "connections_total", "hello", "notify", "fragments", "resets", "disconnects_received",
        "read_errors", "errors")]
    print("expect: status %s" % " ".join(summary))
    if "proxy" in doc:
        p = doc["proxy"]
        print("expect: proxy connections=%s notify=%s max_inflight=%s out_of_order_acks=%s "
              "max_streams_per_connection=%s fragments=%s hello_offers=%s agent_hello=%s "
              "closed_by_haproxy_fin=%s closed_by_haproxy_reset=%s disconnect_from_haproxy=%s"
              % tuple(p.get(k) for k in (
                  "connections", "notify", "max_inflight", "out_of_order_acks",
                  "max_streams_per_connection", "fragments", "hello_offers", "agent_hello",
                  "closed_by_haproxy_fin", "closed_by_haproxy_reset",
                  "disconnect_from_haproxy")))
    bad = 0
    for rule in args.rules:
        m = re.fullmatch(r"([\w.-]+)(==|!=|>=|<=|>|<|~)(.*)", rule)
        if not m:
            print("expect: FAIL: bad rule %r" % rule)
            bad += 1
            continue
        path, op, want = m.groups()
        v = doc
        for k in path.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if op == "~":
            ok = want in json.dumps(v)
        else:
            try:
                got, w = float(v), float(want)
            except (TypeError, ValueError):
                ok = False
            else:
                ok = {"==": got == w, "!=": got != w, ">=": got >= w, "<=": got <= w,
                      ">": got > w, "<": got < w}[op]
        print("expect: %s %s (got %s)" % ("ok  " if ok else "FAIL", rule, json.dumps(v)[:200]))
        bad += not ok
    return 1 if bad else 0


def parse_log_cmd(args):
    access, spoe, other = parse_haproxy_log(args.log)
    for ln in access:
        print("%-5s %-4s %s/%s %d uid=%s err=%s %s %s ? %s v%s [%s]" % (
            "srv" if ln.to_server else "local", ln.tsc, ln.be, ln.srv, ln.status, ln.uid, ln.err,
            ln.method, ln.path, ln.query, ln.version, scenario_of(ln)))
    print("access lines %d (to a server %d), SPOE lines %d (st!=0: %d), other lines %d" % (
        len(access), sum(ln.to_server for ln in access), len(spoe),
        sum(s["st"] != "0" for s in spoe), len(other)))
    return 0


def main():
    ap = argparse.ArgumentParser(description="end-to-end verifier (see the module docstring)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("--api", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--haproxy-log")
    f.add_argument("--backend-log")
    f.add_argument("--wait", type=float, default=0)
    f.add_argument("--page-size", type=int, default=97)
    c = sub.add_parser("check")
    c.add_argument("--haproxy-log", required=True)
    c.add_argument("--data-dir", required=True)
    c.add_argument("--events")
    c.add_argument("--backend-log", help="backend.py --access-log file (second witness)")
    c.add_argument("--load", type=int, default=0)
    c.add_argument("--scenarios", action="store_true")
    c.add_argument("--tolerate-err", help="comma list of spoe_err values HAProxy may log "
                   "(e.g. 256 on a 2.x reload); such transactions may be missing")
    c.add_argument("--only", help="drive.sh's ONLY: the scenario numbers that were sent")
    c.add_argument("--haproxy-version", default="2.6")
    c.add_argument("--bufsize", type=int, default=16384, help="tune.bufsize of the run")
    c.add_argument("--gap", action="store_true",
                   help="the agent was restarted during the run: SPOE errors are expected")
    c.add_argument("--crash-at", type=float, default=0.0,
                   help="epoch seconds when the agent was killed (SIGKILL)")
    c.add_argument("--crash-window", type=float, default=1.5,
                   help="transactions that ended this long before the kill may be lost")
    c.add_argument("--lost-to-write-errors", action="store_true",
                   help="transactions not stored must number exactly status.storage."
                        "write_errors of --events")
    e = sub.add_parser("expect")
    e.add_argument("--events", required=True)
    e.add_argument("--proxy-stats")
    e.add_argument("rules", nargs="*")
    p = sub.add_parser("parse-log")
    p.add_argument("log")
    a = ap.parse_args()
    return {"fetch": fetch, "check": check, "parse-log": parse_log_cmd, "expect": expect}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
