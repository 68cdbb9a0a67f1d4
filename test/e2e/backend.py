#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Small threaded HTTP/1.1 origin server for the end-to-end tests and the demo.

It stands behind HAProxy (be_app in haproxy-conf/) and answers the traffic of
test/e2e/drive.sh deterministically, so verify.py can predict every response.
python3 standard library only.

  GET  /health            -> 200 "ok\\n"           (HAProxy's `option httpchk`)
  *    /notfound...       -> 404 small text body
  GET  /big?n=N           -> 200, N bytes of a repeating pattern (default 65536)
  GET  /chunked?n=N       -> 200, the same pattern sent with Transfer-Encoding: chunked
  GET  /slow?ms=N         -> sleeps N ms (default 2000, at most 30000), then 200 "slow\\n"
  POST /api/items         -> 201, JSON {"created":true,"item":<the JSON request body>}
                             (400 if the body is not JSON)
  OPTIONS anything        -> 200, Allow header + the JSON description below
  HEAD anything           -> headers of the matching GET, no body
  any other request with a body -> 200, the body echoed verbatim (same Content-Type)
                             and X-Echo-Length
  anything else           -> 200 JSON describing the request: method, path, query,
                             version, headers (ordered pairs) and body_length,
                             plus two Set-Cookie headers

Every response carries X-Echo-Unique-ID with the request's X-Unique-ID header
(HAProxy's unique-id-header), which lets verify.py check that each stored
response was paired with the right request.  Chunked request bodies are
decoded.  Logging: one line per request on stderr unless --quiet.  With
--access-log FILE, every answered request that carries X-Unique-ID is also
appended to FILE as one JSON object per line ({"uid","method","target",
"status"}): verify.py uses it as a second witness, because HAProxy 2.6 drops
an access-log line now and then when several threads log to stdout at once.

Usage: backend.py [--listen 127.0.0.1:18081] [--quiet] [--access-log FILE]
       backend.py --host 127.0.0.1 --port 18081          (older spelling)
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
MAX_BODY = 64 * 1024 * 1024


def pattern_bytes(n):
    """The deterministic body of /big and /chunked (verify.py has the same function)."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hep-e2e-backend/1.0"
    sys_version = ""
    quiet = False
    access_log = None
    access_lock = threading.Lock()

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write("backend: %s %s\n" % (self.address_string(), fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("chunked body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)  # CRLF after the chunk
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code, body, ctype="text/plain", extra=(), chunked=False):
        head = self.command == "HEAD"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        uid = self.headers.get("X-Unique-ID")
        if uid:
            self.send_header("X-Echo-Unique-ID", uid)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            if chunked:
                for i in range(0, len(body), 4096):
                    part = body[i:i + 4096]
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)
        if uid and self.access_log is not None:
            line = json.dumps({"uid": uid, "method": self.command, "target": self.path,
                               "status": code}) + "\n"
            with self.access_lock:
                self.access_log.write(line)
                self.access_log.flush()

    def _describe(self, body):
        u = urlsplit(self.path)
        info = {"method": self.command, "path": u.path, "query": u.query,
                "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_length": len(body)}
        return (json.dumps(info, sort_keys=True) + "\n").encode()

    def _handle(self):
        try:
            body = self._read_body()
        except ValueError as e:
            self.close_connection = True
            return self._send(413, (str(e) + "\n").encode())
        u = urlsplit(self.path)
        qs = parse_qs(u.query)

        def qint(name, default, cap):
            try:
                return max(0, min(int(qs.get(name, [default])[0]), cap))
            except ValueError:
                return default

        if u.path == "/health":
            return self._send(200, b"ok\n")
        if u.path.startswith("/notfound"):
            return self._send(404, b"not found: " + u.path.encode() + b"\n")
        if u.path == "/big":
            return self._send(200, pattern_bytes(qint("n", 65536, MAX_BODY)),
                              "application/octet-stream")
        if u.path == "/chunked":
            return self._send(200, pattern_bytes(qint("n", 10000, MAX_BODY)),
                              "application/octet-stream", chunked=True)
        if u.path == "/slow":
            time.sleep(qint("ms", 2000, 30000) / 1000.0)
            return self._send(200, b"slow\n")
        if u.path == "/api/items" and self.command == "POST":
            try:
                item = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                return self._send(400, ("bad JSON: %s\n" % e).encode())
            out = json.dumps({"created": True, "item": item}, sort_keys=True).encode()
            return self._send(201, out, "application/json")
        if self.command == "OPTIONS":
            return self._send(200, self._describe(body), "application/json",
                              extra=[("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS")])
        if body:
            return self._send(200, body,
                              self.headers.get("Content-Type") or "application/octet-stream",
                              extra=[("X-Echo-Length", str(len(body)))])
        return self._send(200, self._describe(body), "application/json",
                          extra=[("Set-Cookie", "sid=abc123; Path=/"),
                                 ("Set-Cookie", "theme=dark; Path=/")])

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A peer closing a keep-alive connection is normal; report anything else.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:18081)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--quiet", action="store_true", help="no per-request log line")
    ap.add_argument("--access-log", help="append one JSON line per answered request here")
    a = ap.parse_args()
    host, port = a.host, a.port
    if a.listen:
        host, _, p = a.listen.rpartition(":")
        host, port = host.strip("[]") or "127.0.0.1", int(p)
    Handler.quiet = a.quiet
    if a.access_log:
        Handler.access_log = open(a.access_log, "a", encoding="utf-8")
    srv = Server((host, port), Handler)
    # SIGTERM ends serve_forever() cleanly (exit 0), like Ctrl-C.
    signal.signal(signal.SIGTERM, _stop)
    sys.stderr.write("backend listening on %s:%d\n" % srv.server_address[:2])
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
