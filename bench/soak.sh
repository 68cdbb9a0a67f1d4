#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# soak.sh - N minutes of steady, varied traffic through a real HAProxy 2.6 into the agent with
# its default storage settings (issue 5: durability and bounded resources).
#
#   bash bench/soak.sh [--minutes N] [--rate REQ_PER_S] [--conns C] [--help]
#
#   wrk (bench/soak/traffic.lua: GET/POST/PUT/PATCH/DELETE/HEAD, ~30 path shapes, 8 hosts,
#   JSON request bodies of 0.5-4 KiB, paced by a per-connection delay to about --rate req/s)
#   -> HAProxy 2.6 with bench/haproxy/bench.cfg (the shipped capture configuration, HAProxy
#   answering as the application with 500 bytes of JSON, one access-log line per transaction
#   with its unique-id) -> SPOE -> the agent (default storage: 64 MiB segments, 1 GiB
#   retention, fsync every second).
#   Every SAMPLE_S seconds: the agent's VmRSS, open descriptors (/proc/PID/fd), GET /status
#   counters, HAProxy's RSS. bench/soak/harvest.py reads every segment while it is written
#   (and before retention deletes it), so at the end every stored id is known; after HAProxy
#   and then the agent are stopped (SIGTERM: the agent stores halves still waiting as
#   incomplete and flushes), bench/soak/compare.py compares the stored ids with the unique-ids
#   HAProxy logged: lost, duplicated, stored-but-not-logged (set against HAProxy's DroppedLogs
#   and fe_capture's req_tot from `show info;show stat`); RSS flat within 10% after the
#   first WARMUP_S seconds; descriptors over time.
#
# Defaults: --minutes 10, --rate 1500, --conns 4. Everything on 127.0.0.1; the whole run is
# bounded by `timeout` (minutes + 5 min) and every process it starts is stopped by PID.
# Env: AGENT (default $BUILD/agent/http-event-processor, BUILD default build-bench), HAPROXY
#      (haproxy), OUT (default /tmp/hep-bench/soak-<time>), SAMPLE_S=10, WARMUP_S=60,
#      KEEP_DATA=1 (keep the agent's data directory).
# Output: $OUT/summary.md, $OUT/samples.tsv, $OUT/verdict.txt; logs in $OUT.
set -u
usage() { sed -n '3,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
MINUTES=10; RATE=1500; CONNS=4
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) MINUTES=${2:?}; shift 2 ;;
    --rate) RATE=${2:?}; shift 2 ;;
    --conns) CONNS=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
case $MINUTES$RATE$CONNS in *[!0-9.]*) echo "soak.sh: --minutes, --rate and --conns take numbers" >&2; exit 2 ;; esac
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "$(awk -v m="$MINUTES" 'BEGIN{printf "%d", m * 60 + 300}')" \
        bash "$0" --minutes "$MINUTES" --rate "$RATE" --conns "$CONNS"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=soak
. "$HERE/lib.sh"

BUILD=${BUILD:-$ROOT/build-bench}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=${AGENT:-$BUILD/agent/http-event-processor}
HAPROXY=${HAPROXY:-haproxy}
SAMPLE_S=${SAMPLE_S:-10}; WARMUP_S=${WARMUP_S:-60}
OUT=${OUT:-/tmp/hep-bench/soak-$(date +%Y%m%dT%H%M%S)}
DATA=$OUT/data
DURATION_S=$(awk -v m="$MINUTES" 'BEGIN{printf "%d", m * 60}')
mkdir -p "$OUT"
[ -x "$AGENT" ] || bench_die "agent not found: $AGENT (ninja -C build-bench http-event-processor)"
command -v wrk >/dev/null || bench_die "wrk not found (scripts/deps.sh --with-bench)"
command -v "$HAPROXY" >/dev/null || bench_die "haproxy not found"

HARVEST_PID=""
cleanup() {
    [ -n "$HARVEST_PID" ] && stop_pid "$HARVEST_PID" 10
    bench_cleanup
    [ -z "${KEEP_DATA:-}" ] && rm -rf "$DATA"
}
trap cleanup EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r FE ORIGIN SPOA API <<<"$(free_ports 4)"
export BENCH_FE_ADDR=127.0.0.1:$FE BENCH_ORIGIN_ADDR=127.0.0.1:$ORIGIN
export BENCH_SPOA_ADDR=127.0.0.1:$SPOA BENCH_STATS_SOCK=$OUT/haproxy.sock
export BENCH_BODY_FILE=$HERE/haproxy/body500.json BENCH_SPOE=1
# The shipped SPOE configuration minus its per-event `log global`, as bench/e2e.sh runs it: the
# access log keeps exactly one line per transaction.
sed 's/^\([[:space:]]*\)log global$/\1# log global (removed by bench\/soak.sh)/' \
    "$ROOT/haproxy-conf/haproxy-2.4-3.0/capture-spoe.conf" >"$OUT/soak-spoe.conf"
grep -q 'removed by bench' "$OUT/soak-spoe.conf" || bench_die "capture-spoe.conf has no 'log global' line to remove"
export BENCH_SPOE_CONF=$OUT/soak-spoe.conf
"$HAPROXY" -c -q -f "$HERE/haproxy/bench.cfg" >"$OUT/haproxy-check.log" 2>&1 ||
    { cat "$OUT/haproxy-check.log"; bench_die "haproxy -c rejects bench.cfg"; }
APIURL=http://127.0.0.1:$API

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD) + $(git -C "$ROOT" status --porcelain | wc -l) uncommitted paths"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "haproxy: $("$HAPROXY" -v | head -n1)"
    echo "agent: $AGENT"
    echo "load avg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

rm -rf "$DATA"; mkdir -p "$DATA"
"$AGENT" --spop-listen "$BENCH_SPOA_ADDR" --http-listen "127.0.0.1:$API" --data-dir "$DATA" \
    --log-level info >"$OUT/agent.log" 2>&1 &
APID=$!; PIDS+=("$APID")
wait_http agent "$APID" "$APIURL/status" 15
"$HAPROXY" -db -f "$HERE/haproxy/bench.cfg" >"$OUT/haproxy.log" 2>&1 &
HPID=$!; PIDS+=("$HPID")
# A real transaction (logged and captured like the rest), not the monitor URI.
wait_http haproxy "$HPID" "http://127.0.0.1:$FE/soak-ready" 10
python3 "$HERE/soak/harvest.py" "$DATA" "$OUT/harvest.tsv" 2>"$OUT/harvest.log" &
HARVEST_PID=$!

DELAY_MS=$(awk -v c="$CONNS" -v r="$RATE" 'BEGIN{d = c * 1000 / r - 0.5; if (d < 0) d = 0; printf "%.3f", d}')
export DELAY_MS
bench_log "out $OUT; $MINUTES min, ~$RATE req/s (wrk -t1 -c$CONNS, $DELAY_MS ms between requests per connection)"
DELAY_MS=$DELAY_MS wrk -t1 -c"$CONNS" -d"${DURATION_S}s" --timeout 10s --latency \
    -s "$HERE/soak/traffic.lua" "http://127.0.0.1:$FE/" >"$OUT/wrk.txt" 2>&1 &
WPID=$!; PIDS+=("$WPID")
T0=$(date +%s.%N)

printf 't_s\trss_kb\thwm_kb\tfds\thaproxy_rss_kb\tlog_lines\tnotify\tacks\tspop_errors\tpending\tpaired\tstored\tdropped\twrite_errors\tstored_bytes\tlive_segments\tindex_bytes\tdeleted_records\tqueue_depth\tfsyncs\tload\n' >"$OUT/samples.tsv"
sample() {
    local t rss hwm fds hrss lines
    t=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
    read -r rss hwm <<<"$(rss_kb "$APID")"
    fds=$(ls "/proc/$APID/fd" 2>/dev/null | wc -l)
    hrss=$(rss_kb "$HPID" | cut -d' ' -f1)
    lines=$(grep -c ' uid=' "$OUT/haproxy.log")
    curl -sS --max-time 5 "$APIURL/status" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    d = {}
s, p, c = d.get("storage", {}), d.get("spop", {}), d.get("correlator", {})
print("\t".join(str(x) for x in (p.get("notify", "-"), p.get("acks", "-"), p.get("errors", "-"),
    c.get("pending", "-"), c.get("paired", "-"), s.get("stored", "-"), s.get("dropped", "-"),
    s.get("write_errors", "-"), s.get("stored_bytes", "-"), s.get("live_segments", "-"),
    s.get("index_bytes", "-"), s.get("deleted_records", "-"), s.get("queue_depth", "-"),
    s.get("fsyncs", "-"))))' | {
        IFS= read -r st
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rss" "$hwm" "$fds" "$hrss" "$lines" "$st" "$(loadavg)"
    } >>"$OUT/samples.tsv"
}
next=0
while kill -0 "$WPID" 2>/dev/null; do
    now=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%d", b - a}')
    if [ "$now" -ge "$next" ]; then
        sample
        [ $(( next % 60 )) = 0 ] && bench_log "t=${next}s: $(tail -n1 "$OUT/samples.tsv" | awk -F'\t' '{printf "RSS %.1f MiB, fds %s, stored %s, dropped %s, pending %s, load %s", $2/1024, $4, $12, $13, $10, $21}')"
        next=$(( next + SAMPLE_S ))
    fi
    sleep 0.5
done
wait "$WPID"
sample
bench_log "wrk done: $(grep '^SUMMARY' "$OUT/wrk.txt" | cut -c1-160)"

# HAProxy's own counts: fe_capture's req_tot (HTTP requests of the captured frontend; CumReq
# would count the origin frontend too) and DroppedLogs (log lines it gave up
# on: with nbthread 2 a thread that cannot take the log lock in 200 tries drops its line rather
# than block, so a transaction can be stored but missing from the log).
sleep 2
python3 - "$BENCH_STATS_SOCK" >"$OUT/haproxy-info.txt" 2>&1 <<'EOF' || bench_log "show info failed"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"show info;show stat\n")
print(s.makefile(errors="replace").read(), end="")
EOF
# Stop HAProxy, then the agent (it stores halves still waiting, flushes), then the harvester's
# last pass over the closed segments.
stop_pid "$HPID" 10
stop_pid "$APID" 30
PIDS=()
stop_pid "$HARVEST_PID" 60
HARVEST_PID=""
echo "load avg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
grep -E 'stopped| error | warn ' "$OUT/agent.log" | tail -n 5 >&2

{
    echo "# soak: $MINUTES min, ~$RATE req/s offered (wrk -t1 -c$CONNS, $DELAY_MS ms per-connection delay)"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    python3 "$HERE/soak/compare.py" "$OUT" "$WARMUP_S"
} >"$OUT/summary.md" || bench_die "compare failed"
cat "$OUT/summary.md"
bench_log "verdict: $(cat "$OUT/verdict.txt")"
