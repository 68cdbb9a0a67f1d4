#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end checks of the HTTP API against a running agent (see run.sh).

Posts legacy events in every format (JSON object, JSON array, NDJSON, MessagePack), checks
every answer (202, 400, 401, 413, 415, 422, 405), then reads the exchanges back through every
filter of GET /events (JSON and NDJSON, with cursor paging), GET /events/{id}, GET /events.har
(every required HAR 1.2 field), GET /metrics (text format grammar), /status, /healthz, /readyz.

    check.py HTTP_PORT API_TOKEN INGEST_TOKEN
"""
import http.client
import json
import re
import struct
import sys
import time

PORT = int(sys.argv[1])
API = {"Authorization": "Bearer " + sys.argv[2]}
INGEST = {"Authorization": "Bearer " + sys.argv[3]}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def call(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), data)
    c.close()
    return out


def mp(o):
    """A small MessagePack encoder (enough for the envelopes)."""
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if 0 <= o < 2**32:
            return b"\xce" + struct.pack(">I", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, bytes):
        return b"\xc5" + struct.pack(">H", len(o)) + o
    if isinstance(o, str):
        b = o.encode()
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, list):
        return b"\xdc" + struct.pack(">H", len(o)) + b"".join(mp(x) for x in o)
    if isinstance(o, dict):
        return b"\xde" + struct.pack(">H", len(o)) + b"".join(mp(k) + mp(v) for k, v in o.items())
    raise TypeError(o)


T0 = int(time.time()) - 100  # exchange i starts at T0 + i seconds


def req(i, method, path, host, body=None, headers=None):
    h = {"Host": host}
    h.update(headers or {})
    d = {"id": "e%02d" % i, "method": method, "path": path, "headers": h}
    if body is not None:
        d["body"] = body
    return {"type": "request", "timestamp": T0 + i, "data": d}


def res(i, status, body="ok", headers=None):
    d = {"id": "e%02d" % i, "status": status, "headers": headers or [["content-type", "text/plain"]],
         "body": body}
    return {"type": "response", "timestamp": T0 + i + 0.0025, "data": d}


def post(body, ctype, headers=INGEST):
    h = {"Content-Type": ctype}
    h.update(headers)
    return call("POST", "/http-events", body, h)


# ---- ingestion, every format
s, _, b = post(json.dumps(req(1, "GET", "/api/items/1", "shop.local")), "application/json")
check(s == 202 and json.loads(b) == {"accepted": 1}, "json object: %s %s" % (s, b))
s, _, b = post(json.dumps(res(1, 200)), "application/json; charset=utf-8")
check(s == 202, "json object response: %s" % s)

batch = [req(2, "POST", "/api/items", "shop.local",
             body='{"name":"x","password":"hunter2"}', headers={"Content-Type": "application/json"}),
         res(2, 201, body='{"id":2}', headers={"content-type": "application/json"}),
         req(3, "GET", "/static/app.js", "cdn.local:8443"), res(3, 404, body=12)]
s, _, b = post(json.dumps(batch), "application/json")
check(s == 202 and json.loads(b)["accepted"] == 4, "json array: %s %s" % (s, b))

nd = "\n".join(json.dumps(x) for x in [req(4, "DELETE", "/api/items/4", "shop.local"), res(4, 503),
                                         req(5, "GET", "/api/search", "shop.local"), res(5, 500)])
s, _, b = post(nd + "\n", "application/x-ndjson")
check(s == 202 and json.loads(b)["accepted"] == 4, "ndjson: %s %s" % (s, b))

mpb = mp([req(6, "PUT", "/upload/6", "files.local", body=b"\x00\x01\x02\xff"), res(6, 204, body=None)])
s, _, b = post(mpb, "application/msgpack")
check(s == 202 and json.loads(b)["accepted"] == 2, "msgpack: %s %s" % (s, b))

# Halves in two formats pair (same id -> one exchange).
s, _, _ = post(json.dumps(req(7, "GET", "/mixed", "shop.local")), "application/json")
s2, _, _ = post(mp(res(7, 302, headers=[["location", "/elsewhere"]])), "application/msgpack")
check(s == 202 and s2 == 202, "mixed formats: %s %s" % (s, s2))

# A request that never gets its response: stored incomplete after --event-expiry-minutes.
s, _, _ = post(json.dumps(req(8, "GET", "/lonely", "shop.local")), "application/json")
check(s == 202, "lonely: %s" % s)

# 422 keeps the valid items.
bad = [req(9, "GET", "/api/items/9", "shop.local"), {"type": "request", "data": {"method": "GET"}},
       res(9, 200)]
s, _, b = post(json.dumps(bad), "application/json")
j = json.loads(b)
check(s == 422 and j["index"] == 1 and j["field"] == "data.id" and j["accepted"] == 2,
      "422: %s %s" % (s, b))

s, _, b = post('{"type":"request",', "application/json")
check(s == 400 and "offset" in json.loads(b), "400: %s %s" % (s, b))
s, _, b = post(b"\x92\xa1", "application/msgpack")
check(s == 400, "400 msgpack: %s %s" % (s, b))
s, _, b = post("x", "text/plain")
check(s == 415, "415: %s" % s)
s, h, _ = post(json.dumps(req(10, "GET", "/", "h")), "application/json", headers={})
check(s == 401 and h.get("www-authenticate", "").startswith("Bearer"), "401 ingest: %s" % s)
s, _, _ = post(json.dumps(req(10, "GET", "/", "h")), "application/json", headers=API)
check(s == 401, "api token on ingest: %s" % s)
s, _, _ = post("[" + " " * (300 * 1024) + "]", "application/json")
check(s == 413, "413: %s" % s)
s, h, _ = call("GET", "/http-events", headers=INGEST)
check(s == 405 and h.get("allow") == "POST", "405: %s" % s)

EXPECTED = ["e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09"]
# Stored in pairing order; e08 only once it expired.
STORE_ORDER = ["e01", "e02", "e03", "e04", "e05", "e06", "e07", "e09", "e08"]

# ---- wait until everything (e08 incomplete included) is stored
deadline = time.time() + 30
ids = []
while time.time() < deadline:
    s, _, b = call("GET", "/events?limit=1000", headers=API)
    ids = sorted(e["id"] for e in json.loads(b)["events"]) if s == 200 else []
    if ids == EXPECTED:
        break
    time.sleep(0.2)
check(ids == EXPECTED, "stored ids: %s" % ids)


def events(query):
    """Every id through /events?query, following next; checks NDJSON gives the same pages."""
    out, cursor = [], None
    for _ in range(100):
        q = query + ("&cursor=" + cursor if cursor else "")
        s, _, b = call("GET", "/events?" + q, headers=API)
        check(s == 200, "GET /events?%s -> %s %s" % (q, s, b[:200]))
        page = json.loads(b)
        s2, h2, b2 = call("GET", "/events?" + q, headers=dict(API, Accept="application/x-ndjson"))
        lines = [json.loads(x) for x in b2.decode().splitlines() if x]
        check(s2 == 200 and [e["id"] for e in lines] == [e["id"] for e in page["events"]],
              "ndjson differs for %s" % q)
        check(h2.get("x-next-cursor") == page["next"], "ndjson cursor for %s" % q)
        out += [e["id"] for e in page["events"]]
        cursor = page["next"]
        if not cursor:
            break
    return out


def newest_first(ids_):
    return [i for i in reversed(STORE_ORDER) if i in ids_]


check(events("limit=2") == newest_first(EXPECTED), "paging limit=2")
check(events("method=get&limit=1") == newest_first(["e01", "e03", "e05", "e07", "e08", "e09"]),
      "method")
check(events("status=404") == ["e03"], "status=404")
check(events("status=5xx") == ["e05", "e04"], "status=5xx")
check(events("status=2xx&limit=3") == ["e09", "e06", "e02", "e01"], "status=2xx")
check(events("path=/api/items") == ["e09", "e04", "e02", "e01"], "path prefix")
check(events("path=/api/*/1") == ["e01"], "path glob")
check(events("path=*.js") == ["e03"], "path glob suffix")
check(events("host=cdn.local") == ["e03"], "host without port")
check(events("host=SHOP.LOCAL&method=POST") == ["e02"], "host+method")
check(events("id=e06") == ["e06"], "id")
check(events("complete=false") == ["e08"], "complete=false")
check(events("complete=true&limit=1") == newest_first([i for i in EXPECTED if i != "e08"]),
      "complete=true")
since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + 3)) + "Z"
until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + 5)) + "Z"
got = events("since=%s&until=%s" % (since, until))
check(got == ["e05", "e04", "e03"], "since/until (inclusive): %s" % got)
got = events("since=%s&until=%s" % (since.replace("Z", ".000001Z"), until))
check(got == ["e05", "e04"], "since just after e03: %s" % got)
s, _, b = call("GET", "/events?status=6xx", headers=API)
check(s == 400, "bad status 400")
s, h, _ = call("GET", "/events")
check(s == 401 and "bearer" in h.get("www-authenticate", "").lower(), "401 without token")

# ---- one exchange, content checks
s, _, b = call("GET", "/events/e07", headers=API)
e7 = json.loads(b)
check(s == 200 and e7["complete"] and e7["request"]["path"] == "/mixed" and
      e7["response"]["status"] == 302 and e7["source"] == "http", "mixed pair: %s" % b[:300])
s, _, b = call("GET", "/events/e02", headers=API)
e2 = json.loads(b)
check("hunter2" not in e2["request"]["body"] and "body:password" in e2["redacted"],
      "json field redaction: %s" % e2.get("redacted"))
s, _, b = call("GET", "/events/e06", headers=API)
e6 = json.loads(b)
check(e6["request"]["body_encoding"] == "base64" and e6["request"]["body"] == "AAEC/w==",
      "binary body: %s" % e6["request"])
s, _, b = call("GET", "/events/e03", headers=API)
e3 = json.loads(b)
check(e3["response"]["body"] is None and e3["response"]["body_size"] == 12, "length-only body")
s, _, _ = call("GET", "/events/nope", headers=API)
check(s == 404, "unknown id 404")

# ---- HAR
s, h, b = call("GET", "/events.har?host=shop.local", headers=API)
check(s == 200 and h.get("transfer-encoding") == "chunked", "har chunked: %s %s" % (s, h))
har = json.loads(b)
log = har["log"]
check(log["version"] == "1.2" and log["creator"]["name"] == "http-event-processor", "har log")
entries = log["entries"]
check([e["_id"] for e in entries] == newest_first(["e01", "e02", "e04", "e05", "e07", "e08", "e09"]),
      "har entries: %s" % [e["_id"] for e in entries])
for e in entries:
    for f in ("startedDateTime", "time", "request", "response", "cache", "timings"):
        check(f in e, "har entry field %s" % f)
    for f in ("method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize",
              "bodySize"):
        check(f in e["request"], "har request field %s" % f)
    for f in ("status", "statusText", "httpVersion", "cookies", "headers", "content",
              "redirectURL", "headersSize", "bodySize"):
        check(f in e["response"], "har response field %s" % f)
    check("size" in e["response"]["content"] and "mimeType" in e["response"]["content"],
          "har content")
    for f in ("send", "wait", "receive"):
        check(e["timings"][f] >= 0, "har timing %s" % f)
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", e["startedDateTime"]), "har date")
e02 = [e for e in entries if e["_id"] == "e02"][0]
check(e02["request"]["postData"]["mimeType"] == "application/json", "har postData")
check(e02["request"]["url"] == "http://shop.local/api/items", "har url")
e07 = [e for e in entries if e["_id"] == "e07"][0]
check(e07["response"]["redirectURL"] == "/elsewhere", "har redirectURL")

# ---- metrics, probes
s, h, b = call("GET", "/metrics", headers=API)
check(s == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"), "metrics")
types = {}
for line in b.decode().splitlines():
    if line.startswith("# HELP "):
        continue
    m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$", line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_]+="[^"]*"\})? (\S+)$', line)
    check(m is not None, "metrics line: %r" % line)
    if m:
        fam = re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m.group(1) not in types else m.group(1)
        check(fam in types, "metric without TYPE: %s" % m.group(1))
        float(m.group(3).replace("+Inf", "inf"))
check(types.get("hep_correlator_pair_delay_seconds") == "histogram", "pair delay histogram")
check(types.get("hep_spop_ack_latency_seconds") == "histogram", "ack latency histogram")
check("hep_api_ingest_events_total" in types, "ingest counter")
for path in ("/status", "/healthz", "/readyz"):
    s, _, _ = call("GET", path)
    check(s == 200, path)

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("api e2e: all checks passed")
