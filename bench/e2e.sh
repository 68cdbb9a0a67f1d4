#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e.sh - wrk -> HAProxy 2.6 (bench/haproxy/bench.cfg, the project's capture configuration
# with HAProxy answering as the application, 500-byte JSON bodies) in three interleaved modes:
#   nospoe   no SPOE filter at all (the baseline)
#   capture  SPOE filter -> our agent, pairing and storage on
#   discard  SPOE filter -> our agent with --discard (decode + ACK only)
# Each (repetition, mode) run starts a fresh HAProxy (and agent), warms up, then measures one
# wrk run. Recorded per run: req/s, p50/p99, SPOE errors (spoe_err in HAProxy's access log,
# over warm-up and measurement), CPU seconds of HAProxy and of the agent over the measured
# window (/proc/<pid>/stat), NOTIFYs in that window (agent /status), agent CPU per NOTIFY,
# agent RSS peak, storage drops, the kernel's share of the agent's CPU (stime), and the load
# average (the machine is shared).
#
# Env: AGENT (default build-bench/agent/http-event-processor), HAPROXY (haproxy),
#      REPS=3 DURATION=10 WARMUP=3 CONNS=32 THREADS=1 MODES="nospoe capture discard"
#      OUT (default /tmp/hep-bench/e2e-<time>), TIMEOUT (whole run, default 900 s),
#      PERF_AGENT=1 (perf record -e cpu-clock -g of the agent during each measured window).
# Output: $OUT/runs.tsv (one line per run), $OUT/summary.md (medians, ratios); logs in $OUT.
set -u
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-900}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=e2e
. "$HERE/lib.sh"

AGENT=${AGENT:-$ROOT/build-bench/agent/http-event-processor}
HAPROXY=${HAPROXY:-haproxy}
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}; THREADS=${THREADS:-1}
MODES=${MODES:-nospoe capture discard}
OUT=${OUT:-/tmp/hep-bench/e2e-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
[ -x "$AGENT" ] || bench_die "agent not found: $AGENT"
command -v wrk >/dev/null || bench_die "wrk not found (apt-get install wrk)"
command -v "$HAPROXY" >/dev/null || bench_die "haproxy not found"

trap 'bench_cleanup' EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r FE ORIGIN SPOA API <<<"$(free_ports 4)"
export BENCH_FE_ADDR=127.0.0.1:$FE BENCH_ORIGIN_ADDR=127.0.0.1:$ORIGIN
export BENCH_SPOA_ADDR=127.0.0.1:$SPOA BENCH_STATS_SOCK=$OUT/haproxy.sock
export BENCH_BODY_FILE=$HERE/haproxy/body500.json
# The shipped SPOE configuration, minus its one-log-line-per-event (see bench.cfg).
sed 's/^\([[:space:]]*\)log global$/\1# log global (removed by bench\/e2e.sh)/' \
    "$ROOT/haproxy-conf/haproxy-2.4-3.0/capture-spoe.conf" >"$OUT/bench-spoe.conf"
grep -q 'removed by bench' "$OUT/bench-spoe.conf" || bench_die "capture-spoe.conf has no 'log global' line to remove"
export BENCH_SPOE_CONF=$OUT/bench-spoe.conf
BENCH_SPOE=1 "$HAPROXY" -c -q -f "$HERE/haproxy/bench.cfg" >"$OUT/haproxy-check.log" 2>&1 ||
    { cat "$OUT/haproxy-check.log"; bench_die "haproxy -c rejects bench.cfg"; }
URL=http://127.0.0.1:$FE/api/items?page=2
APIURL=http://127.0.0.1:$API

printf 'mode\trep\trps\tp50_ms\tp99_ms\twrk_errors\tspoe_err\tlog_lines\thaproxy_cpu_s\tagent_cpu_s\tnotify\tagent_us_per_notify\thaproxy_us_per_req\tstored\tdropped\tagent_hwm_kb\tload_before\tload_after\tctx_per_notify\tsyscalls_per_notify\tagent_sys_pct\n' >"$OUT/runs.tsv"

run_one() { # MODE REP
    local mode=$1 rep=$2 tag="$1-$2" apid="" hpid wline
    local data=$OUT/data-$tag
    if [ "$mode" != nospoe ]; then
        rm -rf "$data"; mkdir -p "$data"
        local extra=()
        [ "$mode" = discard ] && extra=(--discard)
        "$AGENT" --spop-listen "$BENCH_SPOA_ADDR" --http-listen "127.0.0.1:$API" \
            --data-dir "$data" --log-level warn "${extra[@]}" >"$OUT/agent-$tag.log" 2>&1 &
        apid=$!; PIDS+=("$apid")
        wait_http agent "$apid" "$APIURL/status" 15
    fi
    if [ "$mode" = nospoe ]; then unset BENCH_SPOE; else export BENCH_SPOE=1; fi
    "$HAPROXY" -db -f "$HERE/haproxy/bench.cfg" >"$OUT/haproxy-$tag.log" 2>&1 &
    hpid=$!; PIDS+=("$hpid")
    wait_http haproxy "$hpid" "http://127.0.0.1:$FE/haproxy-monitor" 10

    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$URL" >/dev/null 2>&1
    local l0 h0 a0=0 n0=0 h1 a1=0 n1=0 l1
    l0=$(loadavg); h0=$(cpu_s "$hpid")
    local c0=0 c1=0 s0=0 s1=0 k0=0 k1=0 ppid=""
    if [ -n "$apid" ]; then
        a0=$(cpu_s "$apid"); k0=$(cpu_sys_s "$apid"); n0=$(status_field "$APIURL" spop notify); c0=$(ctx_switches "$apid"); s0=$(syscalls "$apid")
        if [ -n "${PERF_AGENT:-}" ]; then
            perf record -e cpu-clock -F 999 -g -p "$apid" -o "$OUT/perf-$tag.data" \
                >"$OUT/perf-$tag.log" 2>&1 &
            ppid=$!
        fi
    fi
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$HERE/wrk/summary.lua" "$URL" \
        >"$OUT/wrk-$tag.txt" 2>&1
    h1=$(cpu_s "$hpid")
    if [ -n "$apid" ]; then
        a1=$(cpu_s "$apid"); k1=$(cpu_sys_s "$apid"); n1=$(status_field "$APIURL" spop notify); c1=$(ctx_switches "$apid"); s1=$(syscalls "$apid")
    fi
    if [ -n "$ppid" ]; then kill -INT "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null; fi
    l1=$(loadavg)
    local stored="" dropped="" hwm=0
    if [ -n "$apid" ]; then
        sleep 1
        stored=$(status_field "$APIURL" storage stored)
        dropped=$(status_field "$APIURL" storage dropped)
        hwm=$(rss_kb "$apid" | cut -d' ' -f2)
    fi
    stop_pid "$hpid" 5
    [ -n "$apid" ] && stop_pid "$apid" 10
    PIDS=()
    rm -rf "$data"
    wline=$(grep '^SUMMARY' "$OUT/wrk-$tag.txt")
    [ -n "$wline" ] || bench_die "wrk printed no summary ($OUT/wrk-$tag.txt)"
    local rps p50 p99 werr errs lines
    rps=$(kv "$wline" rps); p50=$(kv "$wline" p50_ms); p99=$(kv "$wline" p99_ms)
    werr=$(( $(kv "$wline" errors_connect) + $(kv "$wline" errors_read) + $(kv "$wline" errors_write) + $(kv "$wline" errors_status) + $(kv "$wline" errors_timeout) ))
    lines=$(grep -c ' spoe_err=' "$OUT/haproxy-$tag.log")
    errs=$(grep -c ' spoe_err=[0-9]' "$OUT/haproxy-$tag.log")
    local hcpu acpu notify upn hupr
    hcpu=$(awk -v a="$h0" -v b="$h1" 'BEGIN{printf "%.2f", b-a}')
    acpu=$(awk -v a="$a0" -v b="$a1" 'BEGIN{printf "%.2f", b-a}')
    notify=$(( ${n1:-0} - ${n0:-0} ))
    upn=$(awk -v c="$acpu" -v n="$notify" 'BEGIN{ if (n>0) printf "%.2f", c*1e6/n; else print "-" }')
    hupr=$(awk -v c="$hcpu" -v r="$rps" -v d="$DURATION" 'BEGIN{ if (r>0) printf "%.2f", c*1e6/(r*d); else print "-" }')
    local cpn spn ksh
    ksh=$(awk -v k0="$k0" -v k1="$k1" -v a0="$a0" -v a1="$a1" 'BEGIN{ if (a1>a0) printf "%.0f", 100*(k1-k0)/(a1-a0); else print "-" }')
    cpn=$(awk -v c="$((c1 - c0))" -v n="$notify" 'BEGIN{ if (n>0) printf "%.2f", c/n; else print "-" }')
    spn=$(awk -v c="$((s1 - s0))" -v n="$notify" 'BEGIN{ if (n>0) printf "%.2f", c/n; else print "-" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$mode" "$rep" "$rps" "$p50" "$p99" "$werr" "$errs" "$lines" "$hcpu" "$acpu" "$notify" \
        "$upn" "$hupr" "${stored:--}" "${dropped:--}" "$hwm" "$l0" "$l1" "$cpn" "$spn" "$ksh" >>"$OUT/runs.tsv"
    bench_log "$mode rep $rep: $rps req/s p99 ${p99} ms, spoe_err $errs/$lines, haproxy cpu ${hcpu}s, agent cpu ${acpu}s, ${upn} us/NOTIFY, load $l0->$l1"
}

bench_log "out $OUT; wrk -t$THREADS -c$CONNS -d${DURATION}s (warm-up ${WARMUP}s), $REPS reps of: $MODES"
bench_log "haproxy: $("$HAPROXY" -v | head -n1)"
for rep in $(seq 1 "$REPS"); do
    for mode in $MODES; do run_one "$mode" "$rep"; done
done
python3 "$HERE/summarize.py" e2e "$OUT/runs.tsv" | tee "$OUT/summary.md"
