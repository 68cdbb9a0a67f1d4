#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# drive.sh - the HTTP traffic of the end-to-end test, sent through HAProxy.
#
#   drive.sh [base_url]        (default http://127.0.0.1:18080)
#
# Phase 1: the 25 scenarios used to record the SPOP fixtures
#   (shared/spop/tools/drive_requests.sh); every request carries
#   "X-Scenario: NN-name".  verify.py knows what each one must produce.
# Phase 2: load -- LOAD_N (1000) small requests from LOAD_CONC (32) concurrent
#   keep-alive clients, each with a distinct path and query
#   (/load/<i>?i=<i>&c=<client>), X-Scenario: 30-load-<i>; every 4th one is a
#   POST with the body "load-body-<i>".  Bounded by LOAD_DEADLINE seconds (60).
#   LOAD_RATE=R paces it to R requests per second overall (default: as fast as possible).
#
# Env: ONLY="01 05 30" restricts the run to the listed scenario numbers
# (30 = the load phase).  Exit status: 0 when every request got the expected
# kind of answer from HAProxy, 1 otherwise (the summary says which).
set -u
BASE=${1:-http://127.0.0.1:18080}
HOSTPORT=${BASE#http://}
HOSTPORT=${HOSTPORT%%/*}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CT="--connect-timeout 5 --max-time 20"

# Deterministic payloads; verify.py computes the same bytes.
python3 - "$TMP" <<'EOF'
import sys, random
d = sys.argv[1]
line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
open(d + "/100k.txt", "wb").write((line * (102400 // len(line) + 1))[:102400])
rnd = random.Random(1234)
open(d + "/bin4k.bin", "wb").write(bytes(rnd.randrange(256) for _ in range(4096)))
open(d + "/2k.txt", "wb").write((b"expect-continue-payload-" * 100)[:2048])
open(d + "/chunk.txt", "wb").write(b"chunked upload body " * 150)
EOF

want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" ${1:0:2} "* ]]; }

# C <scenario> <expected status> <curl args...>: one request, one result line.
C() {
    local sc=$1 exp=$2; shift 2
    want "$sc" || return 0
    local out
    # shellcheck disable=SC2086
    out=$(curl -sS $CT -o /dev/null \
          -w '%{http_code} %{http_version} up=%{size_upload} down=%{size_download}' \
          -H "X-Scenario: $sc" "$@" 2>&1) || true
    if [ "${out%% *}" = "$exp" ]; then
        printf '%-28s %s\n' "$sc" "$out"
    else
        printf '%-28s %s   FAIL: expected %s\n' "$sc" "$out" "$exp"
        FAILS=$((FAILS + 1))
    fi
}

C 01-get-simple        200 "$BASE/"
C 02-get-query         200 "$BASE/search?q=hello%20world&lang=en&empty=&flag"
C 03-post-json         201 -H 'Content-Type: application/json' \
                       --data '{"user":"alice","n":42,"tags":["a","b"],"nested":{"ok":true}}' "$BASE/api/items"
C 04-post-100k         200 -H 'Content-Type: text/plain' --data-binary @"$TMP/100k.txt" "$BASE/upload/100k"
C 05-post-binary       200 -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/bin4k.bin" "$BASE/upload/bin"
H=(); for i in $(seq 1 60); do H+=(-H "X-Custom-Header-$i: value-$i-$(printf 'x%.0s' $(seq 1 "$i"))"); done
C 06-many-headers      200 "${H[@]}" -H 'Cookie: a=1; b=2' -H 'Cookie: c=3' -H 'Accept: text/html' \
                       -H 'Accept: application/json' "$BASE/headers"
C 07-get-404           404 "$BASE/notfound/page.html"
# keep-alive: two URLs on one TCP connection (curl reuses it)
if want 08; then
    # shellcheck disable=SC2086
    out=$(curl -sS $CT -o /dev/null -o /dev/null -w '%{http_code} new-connections=%{num_connects} ' \
          -H 'X-Scenario: 08-keepalive-x2' "$BASE/ka/1" "$BASE/ka/2?second=1" 2>&1) || true
    printf '%-28s %s\n' 08-keepalive-x2 "$out"
    [[ "$out" == "200 "*" 200 "* ]] || FAILS=$((FAILS + 1))
fi
C 09-http10            200 -0 "$BASE/http10?v=1.0"
C 10-head              200 -I "$BASE/head"
C 11-put-chunked       200 -X PUT -H 'Transfer-Encoding: chunked' -H 'Content-Type: text/plain' \
                       --data-binary @"$TMP/chunk.txt" "$BASE/upload/chunked"
C 12-delete            200 -X DELETE "$BASE/items/42"
C 13-big-response      200 "$BASE/big?n=65536"
C 14-chunked-response  200 "$BASE/chunked?n=10000"
C 15-options           200 -X OPTIONS "$BASE/api"
C 16-form-urlencoded   200 --data 'a=1&b=two+words&c=%C3%A9' "$BASE/form"
C 17-expect-100        200 -H 'Expect: 100-continue' --data-binary @"$TMP/2k.txt" "$BASE/expect"
C 18-utf8-path         200 "$BASE/caf%C3%A9/%E2%9C%93?x=%F0%9F%98%80"
C 19-h2c-prior-knowledge 200 --http2-prior-knowledge -H 'Content-Type: application/json' \
                       --data '{"proto":"h2c"}' "$BASE/h2?x=1"
# answered by HAProxy itself: no SPOE event, nothing stored
C 20-monitor-uri       200 "$BASE/haproxy-monitor"
C 21-empty-post        200 -X POST -H 'Content-Length: 0' "$BASE/empty"
BIGCOOKIE=$(python3 -c 'print("big=" + "c"*8000)')
C 22-8k-cookie         200 -H "Cookie: $BIGCOOKIE" "$BASE/bigcookie"
# 5 concurrent requests: several NOTIFY frames in flight at once
if want 23; then
    for i in 1 2 3 4 5; do C "23-pipeline-$i" 200 "$BASE/pipeline?i=$i" >"$TMP/23-$i" & done
    wait
    for i in 1 2 3 4 5; do cat "$TMP/23-$i"; grep -q FAIL "$TMP/23-$i" && FAILS=$((FAILS + 1)); done
fi
# the client gives up while the server is slow; HAProxy still gets the
# response (both NOTIFYs are sent and the pair is complete, status 200)
if want 24; then
    out=$(curl -sS --max-time 0.5 -o /dev/null -w '%{http_code}' \
          -H 'X-Scenario: 24-client-timeout' "$BASE/slow?ms=1500" 2>/dev/null)
    printf '%-28s %s (client timed out on purpose)\n' 24-client-timeout "$out"
    sleep 1.5
fi
# the client aborts in the middle of the request body: HAProxy is still
# waiting for the body (http-buffer-request), so no SPOE event fires.
if want 25; then
    printf '%-28s ' 25-abort-mid-body
    python3 - "$HOSTPORT" <<'EOF'
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=5)
s.sendall(b"POST /abort HTTP/1.1\r\nHost: x\r\nX-Scenario: 25-abort-mid-body\r\n"
          b"Content-Type: text/plain\r\nContent-Length: 5000\r\n\r\n" + b"A" * 1000)
time.sleep(0.3)
s.close()
print("sent headers + 1000/5000 body bytes, closed")
EOF
    sleep 0.5
fi

# Phase 2: load.
if want 30; then
    python3 - "$HOSTPORT" "${LOAD_N:-1000}" "${LOAD_CONC:-32}" "${LOAD_DEADLINE:-60}" <<'EOF' || FAILS=$((FAILS + 1))
import http.client, os, sys, threading, time
hostport, n, conc, deadline_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
host, port = hostport.rsplit(":", 1)
deadline = time.monotonic() + deadline_s
lock = threading.Lock()
next_i = [0]
ok, bad = [0], []

rate = float(os.environ.get("LOAD_RATE") or 0)  # requests/s overall; 0 = as fast as possible
t_start = time.monotonic()

def take():
    with lock:
        if next_i[0] >= n or time.monotonic() > deadline:
            return None
        next_i[0] += 1
        i = next_i[0] - 1
    if rate > 0:
        delay = t_start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return i

def client(c):
    conn = None
    while True:
        i = take()
        if i is None:
            break
        path = "/load/%d?i=%d&c=%d" % (i, i, c)
        post = i % 4 == 0
        body = ("load-body-%d" % i).encode() if post else None
        hdrs = {"X-Scenario": "30-load-%d" % i}
        if post:
            hdrs["Content-Type"] = "text/plain"
        for attempt in (1, 2):  # one retry on a stale keep-alive connection
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request("POST" if post else "GET", path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                good = r.status == 200 and (not post or data == body)
                with lock:
                    if good:
                        ok[0] += 1
                    else:
                        bad.append("%s -> %d" % (path, r.status))
                if r.will_close:
                    conn.close()
                    conn = None
                break
            except Exception as e:  # noqa: BLE001 -- any failure is a failed request
                if conn is not None:
                    conn.close()
                conn = None
                if attempt == 2:
                    with lock:
                        bad.append("%s -> %s" % (path, e))
    if conn is not None:
        conn.close()

t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(c,)) for c in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
el = time.monotonic() - t0
print("%-28s %d/%d ok in %.1fs (%.0f req/s), %d failed%s" % (
    "30-load", ok[0], n, el, ok[0] / el if el else 0, len(bad),
    ": " + "; ".join(bad[:5]) if bad else ""))
sys.exit(0 if ok[0] == n and not bad else 1)
EOF
fi

if [ "$FAILS" -gt 0 ]; then
    echo "drive: $FAILS scenario(s) did not get the expected answer"
    exit 1
fi
echo "drive: all scenarios answered as expected"
