#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# replay.sh - requests/s of `http-event-processor replay --concurrency 64` against a reply
# HAProxy serves itself (`http-request return status 200`, a 2-byte JSON body, on loopback),
# next to wrk on the same target in the same run, and their ratio.
#
# The capture: N exchanges POSTed to a real agent's /http-events (GET /api/items/<i>?page=<i>
# with five headers), read back by replay from the agent's data directory.
# Each repetition runs wrk (-t1 -c64, DURATION s), then replay of the N exchanges; the
# reported figure for each tool is the median over REPS.
#
# Env: AGENT (default build-bench/agent/http-event-processor, as the other scripts),
#      HAPROXY (haproxy),
#      N=20000 REPS=3 DURATION=10 CONC=64 OUT (default /tmp/hep-bench/replay-<time>).
# Needs: haproxy, wrk, curl, python3 (scripts/deps.sh --with-bench).
# Output: one line per run on stderr, $OUT/runs.tsv, and the summary on stdout.
set -u
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-900}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=replay
. "$HERE/lib.sh"

AGENT=${AGENT:-$ROOT/build-bench/agent/http-event-processor}
HAPROXY=${HAPROXY:-haproxy}
N=${N:-20000}; REPS=${REPS:-3}; DURATION=${DURATION:-10}; CONC=${CONC:-64}
OUT=${OUT:-/tmp/hep-bench/replay-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
[ -x "$AGENT" ] || bench_die "agent not found: $AGENT"
command -v wrk >/dev/null || bench_die "wrk not found (apt-get install wrk)"
command -v "$HAPROXY" >/dev/null || bench_die "haproxy not found"

trap 'bench_cleanup' EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r FE SPOP API <<<"$(free_ports 3)"
cat >"$OUT/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:$FE
    http-request return status 200 content-type application/json string "{}"
CFG
"$HAPROXY" -c -q -f "$OUT/haproxy.cfg" || bench_die "haproxy -c rejects $OUT/haproxy.cfg"
"$HAPROXY" -db -f "$OUT/haproxy.cfg" >"$OUT/haproxy.log" 2>&1 &
PIDS+=($!)
wait_http haproxy "$!" "http://127.0.0.1:$FE/" 10

# The capture.
"$AGENT" --spop-listen "127.0.0.1:$SPOP" --http-listen "127.0.0.1:$API" --data-dir "$OUT/data" \
    >"$OUT/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_http agent "$AGENT_PID" "http://127.0.0.1:$API/healthz" 10
python3 - "$API" "$N" <<'PY' || bench_die "ingest failed"
import json, sys, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
t0 = 1795830243.0
for start in range(0, n, 2000):
    lines = []
    for i in range(start, min(n, start + 2000)):
        rq = {"id": f"b{i}", "method": "GET", "path": f"/api/items/{i}?page={i}",
              "headers": [["host", "shop.local"], ["accept", "application/json"],
                          ["user-agent", "bench/1"], ["x-request-id", f"r{i}"],
                          ["accept-encoding", "identity"]]}
        rs = {"id": f"b{i}", "status": 200, "headers": [["content-type", "application/json"]],
              "body": "{}"}
        lines.append(json.dumps({"type": "request", "timestamp": t0 + i / 1000, "data": rq}))
        lines.append(json.dumps({"type": "response", "timestamp": t0 + i / 1000, "data": rs}))
    body = ("\n".join(lines) + "\n").encode()
    r = urllib.request.Request(f"http://127.0.0.1:{port}/http-events", data=body, method="POST",
                               headers={"Content-Type": "application/x-ndjson"})
    urllib.request.urlopen(r, timeout=30).read()
deadline = time.time() + 60
while time.time() < deadline:
    st = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/status").read())
    if st.get("storage", {}).get("stored", 0) >= n:
        break
    time.sleep(0.2)
else:
    sys.exit("not stored")
PY
stop_pid "$AGENT_PID" 10
bench_log "capture: $N exchanges in $OUT/data"

printf 'rep\twrk_rps\treplay_rps\treplay_same\treplay_changed\treplay_failed\tload\n' >"$OUT/runs.tsv"
for rep in $(seq 1 "$REPS"); do
    wrk -t1 -c"$CONC" -d"${DURATION}s" "http://127.0.0.1:$FE/api/items/1?page=1" >"$OUT/wrk-$rep.txt" 2>&1 ||
        bench_die "wrk failed ($OUT/wrk-$rep.txt)"
    wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/wrk-$rep.txt")
    "$AGENT" replay --from "$OUT/data" --target "http://127.0.0.1:$FE" --concurrency "$CONC" \
        --quiet >"$OUT/replay-$rep.txt" 2>&1
    rc=$?
    line=$(grep '^replayed ' "$OUT/replay-$rep.txt") || bench_die "replay printed no summary ($OUT/replay-$rep.txt)"
    replay_rps=$(sed -E 's/.*\(([0-9.]+) req\/s\).*/\1/' <<<"$line")
    read -r same changed failed < <(sed -E 's/.*: ([0-9]+) same, ([0-9]+) changed, ([0-9]+) failed.*/\1 \2 \3/' <<<"$line")
    [ "$rc" = 0 ] || bench_log "replay exit $rc: $line"
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$wrk_rps" "$replay_rps" "$same" "$changed" \
        "$failed" "$load" >>"$OUT/runs.tsv"
    bench_log "rep $rep: wrk $wrk_rps req/s, replay $replay_rps req/s ($same same, $changed changed, $failed failed), load $load"
done

python3 - "$OUT/runs.tsv" "$CONC" "$N" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
wrk = statistics.median(float(r[1]) for r in rows)
rep = statistics.median(float(r[2]) for r in rows)
print(f"wrk -t1 -c{sys.argv[2]}: {wrk:.0f} req/s (median of {len(rows)})")
print(f"replay --concurrency {sys.argv[2]} of {sys.argv[3]} exchanges: {rep:.0f} req/s (median of {len(rows)})")
print(f"ratio replay/wrk: {rep / wrk:.2f}")
PY
bench_log "raw data in $OUT"
