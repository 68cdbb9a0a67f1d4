#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# stats.sh - GET /events/stats over a full volume (issue 17), next to GET /events?limit=100 in
# the same run: fills a data directory with GIB GiB of realistic exchanges
# (bench/query/make_store.cpp, through storage::store), starts the real agent on it and
# measures over HTTP:
#   latest        GET /events?limit=100, wrk -t1 -c1 --latency, DURATION s
#   stats_*       REPS sequential requests of each /events/stats query below (p50/p99/max of
#                 the wall time, the agent's own took_ms, agent CPU per request, MB/s = stored
#                 bytes / median)
#   latest_during GET /events?limit=100 again, while one client asks /events/stats in a loop
#                 (what a viewer's refresh costs the other readers)
# Page cache: warm (the script reads the segments once, and start-up reads them all).
# The machine is shared: every line records the load average.
#
# Env: GIB=1, DATA (default $OUT/data; an existing dir with .make_store-<GIB>.done is reused),
#      OUT (default /tmp/hep-bench/stats-<time>), BUILD (default build-bench), SKIP_BUILD=1,
#      AGENT, MAKE_STORE, DURATION=10, WARMUP=2, REPS=20, MAX_RECORDS (--stats-max-records,
#      default the agent's), TIMEOUT (whole run, default 1800 s), KEEP_DATA=1.
# Output: $OUT/results.tsv, $OUT/summary.md; logs in $OUT.
set -u
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
    sed -n '3,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-1800}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=stats
. "$HERE/lib.sh"

GIB=${GIB:-1}
DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; REPS=${REPS:-20}
bench_volume_setup stats

bench_volume "$MAKE_STORE" "$DATA" "$GIB" "$OUT" "$DATA/ids.txt" 1000

printf 'what\tvalue\tp50_ms\tp99_ms\tmax_ms\ttook_ms\trps\tagent_cpu_ms_per_req\tload\tnote\n' >"$OUT/results.tsv"
row() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >>"$OUT/results.tsv"; }

read -r API SPOA <<<"$(free_ports 2)"
URL=http://127.0.0.1:$API
extra=()
[ -n "${MAX_RECORDS:-}" ] && extra=(--stats-max-records "$MAX_RECORDS")
"$AGENT" --data-dir "$DATA" --http-listen "127.0.0.1:$API" --spop-listen "127.0.0.1:$SPOA" \
    --retention-bytes 0 --log-level info "${extra[@]}" >"$OUT/agent.log" 2>&1 &
APID=$!; PIDS+=("$APID")
wait_http agent "$APID" "$URL/status" 300
STORED_BYTES=$(status_field "$URL" storage stored_bytes)
INDEXED=$(status_field "$URL" storage indexed)
bench_log "indexed $INDEXED records, $STORED_BYTES bytes"
row stored_bytes "$STORED_BYTES" - - - - - - - -
row indexed "$INDEXED" - - - - - - - -

latest() { # NAME
    local line c0 c1 n0 n1 l0 upr
    wrk -t1 -c1 -d"${WARMUP}s" -s "$HERE/wrk/summary.lua" "$URL/events?limit=100" >/dev/null 2>&1
    l0=$(loadavg); c0=$(cpu_s "$APID"); n0=$(status_field "$URL" http requests)
    wrk -t1 -c1 -d"${DURATION}s" --latency -s "$HERE/wrk/summary.lua" "$URL/events?limit=100" \
        >"$OUT/wrk-$1.txt" 2>&1
    c1=$(cpu_s "$APID"); n1=$(status_field "$URL" http requests)
    line=$(grep '^SUMMARY' "$OUT/wrk-$1.txt") || bench_die "wrk printed no summary ($OUT/wrk-$1.txt)"
    upr=$(awk -v a="$c0" -v b="$c1" -v n="$((n1 - n0 - 1))" 'BEGIN{ if (n>0) printf "%.3f", (b-a)*1e3/n; else print "-" }')
    row "$1" "$(kv "$line" requests)" "$(kv "$line" p50_ms)" "$(kv "$line" p99_ms)" \
        "$(kv "$line" max_ms)" - "$(kv "$line" rps)" "$upr" "$l0" "wrk -t1 -c1"
    bench_log "$1: p50 $(kv "$line" p50_ms) ms p99 $(kv "$line" p99_ms) ms, $(kv "$line" rps) req/s, load $l0"
}

stats() { # NAME QUERY
    local name=$1 q=$2 c0 c1 l0 out
    l0=$(loadavg); c0=$(cpu_s "$APID")
    python3 - "$URL/events/stats?$q" "$REPS" >"$OUT/stats-$name.txt" <<'PY' || bench_die "stats $name failed: $(cat "$OUT/stats-$name.txt")"
import http.client, json, math, sys, time, urllib.parse
url, reps = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
times, took = [], []
for _ in range(reps):
    t0 = time.monotonic()
    conn.request("GET", u.path + "?" + u.query)
    r = conn.getresponse()
    body = r.read()
    times.append((time.monotonic() - t0) * 1000)
    assert r.status == 200, (r.status, body[:200])
    d = json.loads(body)
    took.append(d["took_ms"])
times.sort(); took.sort()
rank = lambda v, p: v[max(1, math.ceil(p / 100 * len(v))) - 1]
print(f"{rank(times, 50):.1f} {rank(times, 99):.1f} {times[-1]:.1f} {rank(took, 50)} "
      f"{d['matched']} {d['scanned']} {str(d['partial']).lower()} {len(d['buckets'])} {d['route_count']} {len(body)}")
PY
    c1=$(cpu_s "$APID")
    read -r p50 p99 mx took matched scanned partial nb nr bytes <"$OUT/stats-$name.txt"
    local cpu mbs
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$REPS" 'BEGIN{printf "%.1f", (b-a)*1e3/n}')
    mbs=$(awk -v b="$STORED_BYTES" -v t="$p50" 'BEGIN{printf "%.0f", b/(t/1000)/1e6}')
    row "stats_$name" "$mbs" "$p50" "$p99" "$mx" "$took" - "$cpu" "$l0" \
        "matched=$matched scanned=$scanned partial=$partial buckets=$nb routes=$nr bytes=$bytes q=$q"
    bench_log "stats $name: p50 $p50 ms p99 $p99 ms max $mx ms (took_ms p50 $took), $mbs MB/s, CPU $cpu ms/req, matched $matched, partial $partial, load $l0"
}

latest latest
stats all ''
stats host_p99 'group=host&sort=p99&top=1000'
stats errors 'status=5xx&sort=errors'
stats oldest_hour_1m 'since=2026-11-27T00:00:00Z&until=2026-11-27T00:59:59Z&bucket=1m'
stats route 'route=/api/v1/items/%7Bid%7D'

# /events?limit=100 while one client refreshes /events/stats back to back.
python3 - "$URL/events/stats" >"$OUT/background.txt" 2>&1 <<'PY' &
import http.client, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
n = 0
end = time.monotonic() + 600
while time.monotonic() < end:
    conn.request("GET", u.path)
    conn.getresponse().read()
    n += 1
    print(n, flush=True)
PY
BG=$!; PIDS+=("$BG")
sleep 1
latest latest_during_stats
stop_pid "$BG" 2
row background_stats_requests "$(tail -n1 "$OUT/background.txt")" - - - - - - - -
stop_pid "$APID" 10
PIDS=()

python3 - "$OUT/results.tsv" "$OUT/make_store.txt" <<'PY' | tee "$OUT/summary.md"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
one = lambda w: next(r for r in rows if r["what"] == w)
sb = int(one("stored_bytes")["value"])
print(f"volume: {int(one('indexed')['value']):,} records, {sb:,} bytes ({sb / 2**30:.2f} GiB); "
      f"make_store: {open(sys.argv[2]).read().strip()}\n")
print("| request | p50 ms | p99 ms | max ms | agent took_ms p50 | MB/s or req/s | agent CPU ms/req | load | note |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["what"].startswith("latest"):
        print(f"| GET /events?limit=100 ({r['what']}) | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | - | {float(r['rps']):,.0f} req/s | {r['agent_cpu_ms_per_req']} | {r['load']} | {r['note']} |")
    elif r["what"].startswith("stats_"):
        print(f"| GET /events/stats ({r['what'][6:]}) | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['took_ms']} | {int(r['value']):,} MB/s | {r['agent_cpu_ms_per_req']} | {r['load']} | {r['note']} |")
lat = float(one("latest")["p50_ms"]); st = float(one("stats_all")["p50_ms"])
print(f"\nratio p50 /events/stats (all) : /events?limit=100 = {st / lat:,.0f} : 1; "
      f"background /events/stats requests during latest_during_stats: {one('background_stats_requests')['value']}")
PY
bench_log "done: $OUT/summary.md"
