#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# query.sh - the query side over a full volume (issue 5): fills a data directory with GIB GiB
# of realistic exchanges (bench/query/make_store.cpp, through storage::store), starts the real
# agent on it with --retention-bytes 0 and measures over HTTP:
#   startup   time from exec to the first answer of GET /status (the index is rebuilt before
#             the listeners open), STARTS times; RSS, VmHWM and storage.index_bytes after it
#   latest    GET /events?limit=100, wrk -t1 -c1 and -c4 (--latency), DURATION s each
#   get       GET /events/{id}, ids drawn at random from a uniform sample of the whole volume
#             (bench/query/get_ids.lua), -c1 and -c4
#   scan      filters that match nothing, so the store reads every record: path, host, status,
#             a since/until range before all data; plus a since/until range that matches only
#             the oldest hour (limit=100); SCAN_REPS sequential requests each, MB/s = stored
#             bytes / wall time, agent CPU per scan
# Page cache: warm. Start-up reads every segment (and the script reads them once before), and
# the machine has far more free RAM than the volume; cold-cache numbers are not measured.
# Every wrk run also records the agent's CPU time per request and the load average (the
# machine is shared: latency tails follow the other tenants' builds).
#
# Env: GIB=1, DATA (default $OUT/data; an existing dir with .make_store-<GIB>.done is reused),
#      OUT (default /tmp/hep-bench/query-<time>), BUILD (default build-bench), SKIP_BUILD=1,
#      AGENT, MAKE_STORE (binaries; default $BUILD/...), DURATION=10, WARMUP=2, STARTS=3,
#      SCAN_REPS=5, TIMEOUT (whole run, default 1200 s), KEEP_DATA=1 (keep a generated DATA).
# Output: $OUT/results.tsv (one line per measurement), $OUT/summary.md; logs in $OUT.
set -u
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
    sed -n '3,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-1200}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=query
. "$HERE/lib.sh"

GIB=${GIB:-1}
DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; STARTS=${STARTS:-3}; SCAN_REPS=${SCAN_REPS:-5}
bench_volume_setup query

# ---- the volume -----------------------------------------------------------------------------
IDS=$DATA/ids.txt
bench_volume "$MAKE_STORE" "$DATA" "$GIB" "$OUT" "$IDS" 20000
export IDS

printf 'what\tconns\tvalue\tp50_ms\tp90_ms\tp99_ms\tp999_ms\tmax_ms\trps\terrors\tagent_cpu_us_per_req\tload\n' >"$OUT/results.tsv"
row() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >>"$OUT/results.tsv"; }

read -r API SPOA <<<"$(free_ports 2)"
URL=http://127.0.0.1:$API
APID=""
start_agent() { # TAG: sets APID and STARTUP_S (not in a subshell: PIDS must see the agent)
    local t0
    t0=$(date +%s.%N)
    "$AGENT" --data-dir "$DATA" --http-listen "127.0.0.1:$API" --spop-listen "127.0.0.1:$SPOA" \
        --retention-bytes 0 --log-level info >"$OUT/agent-$1.log" 2>&1 &
    APID=$!; PIDS+=("$APID")
    python3 - "$URL/status" "$APID" "$t0" >"$OUT/startup-$1.txt" <<'EOF' || return 1
import os, sys, time, urllib.request
url, pid, t0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])  # t0: just before exec
while time.time() - t0 < 300:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("agent exited during start-up")
    try:
        urllib.request.urlopen(url, timeout=1).read()
        break
    except Exception:
        time.sleep(0.01)
else:
    sys.exit("agent not up after 300 s")
print(f"{time.time() - t0:.3f}")
EOF
    STARTUP_S=$(cat "$OUT/startup-$1.txt")
}
stop_agent() { stop_pid "$APID" 10; PIDS=(); APID=""; }
st() { status_field "$URL" "$@"; }

# ---- start-up -------------------------------------------------------------------------------
for i in $(seq 1 "$STARTS"); do
    start_agent "start$i" || bench_die "agent did not start (see $OUT/agent-start$i.log)"
    t=$STARTUP_S
    read -r rss hwm <<<"$(rss_kb "$APID")"
    row startup "-" "$t" - - - - - - - - "$(loadavg)"
    row startup_cpu_s "-" "$(cpu_s "$APID")" - - - - - - - - -
    row rss_after_start_kb "-" "$rss" - - - - - - - - -
    row hwm_after_start_kb "-" "$hwm" - - - - - - - - -
    bench_log "start $i: ${t} s, RSS ${rss} kB (peak ${hwm} kB)"
    [ "$i" = "$STARTS" ] || stop_agent
done
curl -sS "$URL/status" >"$OUT/status-after-start.json"
for k in indexed stored_bytes live_segments index_bytes; do
    row "$k" "-" "$(st storage "$k")" - - - - - - - - -
done
STORED_BYTES=$(st storage stored_bytes)
INDEXED=$(st storage indexed)
bench_log "indexed $INDEXED records, $STORED_BYTES bytes, index $(st storage index_bytes) bytes"

# ---- wrk: /events?limit=100 and /events/{id} -------------------------------------------------
wrk_run() { # NAME CONNS SCRIPT PATH
    local name=$1 c=$2 script=$3 path=$4 line c0 c1 n0 n1 l0
    wrk -t1 -c"$c" -d"${WARMUP}s" -s "$script" "$URL$path" >/dev/null 2>&1
    l0=$(loadavg); c0=$(cpu_s "$APID"); n0=$(st http requests)
    wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$script" "$URL$path" >"$OUT/wrk-$name-c$c.txt" 2>&1
    c1=$(cpu_s "$APID"); n1=$(st http requests)
    line=$(grep '^SUMMARY' "$OUT/wrk-$name-c$c.txt") || bench_die "wrk printed no summary ($OUT/wrk-$name-c$c.txt)"
    local errs upr
    errs=$(( $(kv "$line" errors_connect) + $(kv "$line" errors_read) + $(kv "$line" errors_write) + $(kv "$line" errors_status) + $(kv "$line" errors_timeout) ))
    upr=$(awk -v a="$c0" -v b="$c1" -v n="$((n1 - n0 - 1))" 'BEGIN{ if (n>0) printf "%.1f", (b-a)*1e6/n; else print "-" }')
    row "$name" "$c" "$(kv "$line" requests)" "$(kv "$line" p50_ms)" "$(kv "$line" p90_ms)" \
        "$(kv "$line" p99_ms)" "$(kv "$line" p999_ms)" "$(kv "$line" max_ms)" "$(kv "$line" rps)" \
        "$errs" "$upr" "$l0"
    bench_log "$name -c$c: p50 $(kv "$line" p50_ms) ms p99 $(kv "$line" p99_ms) ms, $(kv "$line" rps) req/s, errors $errs, agent ${upr} us/req, load $l0"
}
curl -sS -o "$OUT/latest-page.json" "$URL/events?limit=100"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["events"])==100 and d["next"], "short page"' \
    "$OUT/latest-page.json" || bench_die "GET /events?limit=100 did not return a full page"
row latest_page_bytes "-" "$(stat -c %s "$OUT/latest-page.json")" - - - - - - - - -
for c in 1 4; do wrk_run latest "$c" "$HERE/wrk/summary.lua" "/events?limit=100"; done
for c in 1 4; do wrk_run get "$c" "$HERE/query/get_ids.lua" "/"; done

# ---- scans ----------------------------------------------------------------------------------
scan() { # NAME QUERY EXPECT(empty|full)
    local name=$1 q=$2 expect=$3 c0 c1 l0
    l0=$(loadavg); c0=$(cpu_s "$APID")
    python3 - "$URL/events?$q" "$SCAN_REPS" "$expect" >"$OUT/scan-$name.txt" <<'EOF' || bench_die "scan $name failed: $(cat "$OUT/scan-$name.txt")"
import http.client, json, sys, time, urllib.parse
url, reps, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
times = []
for _ in range(reps):
    t0 = time.monotonic()
    conn.request("GET", u.path + "?" + u.query)
    r = conn.getresponse()
    body = r.read()
    times.append(time.monotonic() - t0)
    d = json.loads(body)
    assert r.status == 200, (r.status, body[:200])
    if expect == "empty":
        assert d["events"] == [] and d["next"] is None, body[:200]
    else:
        assert len(d["events"]) == 100, len(d["events"])
times.sort()
print(" ".join(f"{t:.4f}" for t in times))
EOF
    c1=$(cpu_s "$APID")
    local times med best cpu
    times=$(cat "$OUT/scan-$name.txt")
    med=$(tr ' ' '\n' <<<"$times" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    best=$(tr ' ' '\n' <<<"$times" | head -n1)
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$SCAN_REPS" 'BEGIN{printf "%.3f", (b-a)/n}')
    # value = MB/s at the median time; p50/max columns hold seconds per scan.
    row "scan_$name" 1 "$(awk -v b="$STORED_BYTES" -v t="$med" 'BEGIN{printf "%.0f", b/t/1e6}')" \
        "$med" - - - "$(tr ' ' '\n' <<<"$times" | tail -n1)" - 0 "$cpu" "$l0"
    bench_log "scan $name: median $med s (best $best s) = $(awk -v b="$STORED_BYTES" -v t="$med" 'BEGIN{printf "%.0f", b/t/1e6}') MB/s, agent CPU $cpu s/scan, load $l0"
}
scan path 'path=/no-such-path&limit=100' empty
scan host 'host=no-such-host.example&limit=100' empty
scan status 'status=418&limit=100' empty
scan time_before 'since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z&limit=100' empty
# The oldest hour of make_store's default span (2026-11-27T00:00Z + 24 h): ~23/24 of the
# volume is read before the first match.
scan time_oldest_hour 'since=2026-11-27T00:00:00Z&until=2026-11-27T01:00:00Z&limit=100' full

read -r rss hwm <<<"$(rss_kb "$APID")"
row rss_after_queries_kb "-" "$rss" - - - - - - - - -
row hwm_after_queries_kb "-" "$hwm" - - - - - - - - -
stop_agent

python3 - "$OUT/results.tsv" "$OUT/make_store.txt" <<'EOF' | tee "$OUT/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
gen = open(sys.argv[2]).read().split()
g = dict(kv.split("=", 1) for kv in gen if "=" in kv)
def one(what):
    v = [r for r in rows if r["what"] == what]
    return v[-1]["value"] if v else ""
starts = [float(r["value"]) for r in rows if r["what"] == "startup"]
cpus = [float(r["value"]) for r in rows if r["what"] == "startup_cpu_s"]
loads = [r["load"] for r in rows if r["what"] == "startup"]
sb = int(one("stored_bytes")); gib = sb / 2**30
print(f"volume: {int(one('indexed')):,} records, {sb:,} bytes ({gib:.2f} GiB) in "
      f"{one('live_segments')} segments; written by make_store in {g.get('seconds', '?')} s\n")
print(f"start-up (exec -> first /status answer): {', '.join(f'{s:.2f}' for s in starts)} s "
      f"(median {statistics.median(starts):.2f} s, {sb / 1e6 / statistics.median(starts):,.0f} MB/s indexed); "
      f"agent CPU {', '.join(f'{c:.2f}' for c in cpus)} s; load {', '.join(loads)}")
print(f"RSS after start-up: {int(one('rss_after_start_kb')) / 1024:.1f} MiB (VmHWM "
      f"{int(one('hwm_after_start_kb')) / 1024:.1f} MiB); storage.index_bytes "
      f"{int(one('index_bytes')):,} = {int(one('index_bytes')) / gib / 2**20:.1f} MiB per GiB stored, "
      f"{int(one('index_bytes')) / int(one('indexed')):.1f} B per record")
print(f"RSS after the queries: {int(one('rss_after_queries_kb')) / 1024:.1f} MiB (VmHWM "
      f"{int(one('hwm_after_queries_kb')) / 1024:.1f} MiB)\n")
print("| request | conns | requests | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | agent CPU µs/req | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["what"] in ("latest", "get"):
        name = "GET /events?limit=100" if r["what"] == "latest" else "GET /events/{id} (random)"
        print(f"| {name} | {r['conns']} | {int(r['value']):,} | {float(r['rps']):,.0f} | {r['p50_ms']} | {r['p90_ms']} | "
              f"{r['p99_ms']} | {r['p999_ms']} | {r['max_ms']} | {r['errors']} | {r['agent_cpu_us_per_req']} | {r['load']} |")
print(f"\n(a /events?limit=100 page is {int(one('latest_page_bytes')):,} bytes)\n")
print("| scan (sequential, warm page cache) | median s | max s | MB/s (stored bytes / median) | agent CPU s/scan | load |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r["what"].startswith("scan_"):
        print(f"| {r['what'][5:]} | {r['p50_ms']} | {r['max_ms']} | {int(r['value']):,} | {r['agent_cpu_us_per_req']} | {r['load']} |")
EOF
bench_log "done: $OUT/summary.md"
