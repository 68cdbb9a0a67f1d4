#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# load.sh - spop-load against our agent, interleaved configurations, a fresh agent (and empty
# data directory) per run. Each configuration is "NAME:MODE:RATE" (MODE capture|discard,
# RATE NOTIFY/s in total, 0 = flat out). Recorded per run: the RESULT line of spop-load
# (throughput, ACK latency p50/p99/p99.9, verification), the agent's CPU per NOTIFY over the
# measured window, storage stored/dropped (GET /status, after the writer caught up), the
# agent's RSS peak and the load average.
#
# Env: AGENT, SPOP_LOAD (default build-bench/...), REPS=3 DURATION=10 WARMUP=2 CONNS=4 WINDOW=64
#      CONFIGS (default below), OUT (default /tmp/hep-bench/load-<time>)
# Output: $OUT/runs.tsv and $OUT/summary.md.
set -u
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-1200}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=load
. "$HERE/lib.sh"

AGENT=${AGENT:-$ROOT/build-bench/agent/http-event-processor}
SPOP_LOAD=${SPOP_LOAD:-$ROOT/build-bench/bench/spop-load}
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}
CONNS=${CONNS:-4}; WINDOW=${WINDOW:-64}
CONFIGS=${CONFIGS:-"max-capture:capture:0 max-discard:discard:0 r50k:capture:50000 r100k:capture:100000 r200k:capture:200000 r50k-tmpfs:capture:50000:tmpfs r200k-tmpfs:capture:200000:tmpfs r50k-discard:discard:50000 r5k-discard:discard:5000"}
OUT=${OUT:-/tmp/hep-bench/load-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
[ -x "$AGENT" ] || bench_die "agent not found: $AGENT"
[ -x "$SPOP_LOAD" ] || bench_die "spop-load not found: $SPOP_LOAD"
trap 'bench_cleanup' EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r SPOA API <<<"$(free_ports 2)"
APIURL=http://127.0.0.1:$API
printf 'config\tmode\trate\trep\tnotify_per_s\tp50_us\tp99_us\tp999_us\tverified\tagent_us_per_notify\tgen_cpu_s\tpairs\tstored\tdropped\tqueue_after\tagent_hwm_kb\tload\tbytes_written\tdata\n' >"$OUT/runs.tsv"

run_one() { # NAME MODE RATE REP [tmpfs]
    local name=$1 mode=$2 rate=$3 rep=$4 tag="$1-$4" data="$OUT/data-$1-$4" apid extra=()
    if [ "${5:-}" = tmpfs ]; then data=/dev/shm/hep-bench-load-$$-$tag; fi
    rm -rf "$data"; mkdir -p "$data"
    [ "$mode" = discard ] && extra=(--discard)
    "$AGENT" --spop-listen "127.0.0.1:$SPOA" --http-listen "127.0.0.1:$API" --data-dir "$data" \
        --log-level warn "${extra[@]}" >"$OUT/agent-$tag.log" 2>&1 &
    apid=$!; PIDS+=("$apid")
    wait_http agent "$apid" "$APIURL/status" 15
    local l0; l0=$(loadavg)
    "$SPOP_LOAD" --port "$SPOA" --conns "$CONNS" --window "$WINDOW" --rate "$rate" \
        --duration "$DURATION" --warmup "$WARMUP" --agent-pid "$apid" >"$OUT/load-$tag.txt" 2>"$OUT/load-$tag.err"
    # Let the writer catch up (bounded), then read what was stored and dropped.
    local q=1 n=0
    while [ "$n" -lt 50 ]; do
        q=$(status_field "$APIURL" storage queue_depth); [ "${q:-1}" = 0 ] && break
        sleep 0.2; n=$((n + 1))
    done
    local paired stored dropped hwm line bytes
    bytes=$(status_field "$APIURL" storage bytes_written)
    paired=$(status_field "$APIURL" correlator paired)
    stored=$(status_field "$APIURL" storage stored)
    dropped=$(status_field "$APIURL" storage dropped)
    hwm=$(rss_kb "$apid" | cut -d' ' -f2)
    stop_pid "$apid" 10; PIDS=()
    rm -rf "$data"
    line=$(grep '^RESULT' "$OUT/load-$tag.txt")
    [ -n "$line" ] || { cat "$OUT/load-$tag.err" >&2; bench_die "spop-load printed no RESULT"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$rate" "$rep" \
        "$(kv "$line" notify_per_s)" "$(kv "$line" p50_us)" "$(kv "$line" p99_us)" "$(kv "$line" p999_us)" \
        "$(kv "$line" verified)" "$(kv "$line" agent_us_per_notify)" "$(kv "$line" gen_cpu_s)" \
        "${paired:--}" "${stored:--}" "${dropped:--}" "${q:--}" "$hwm" "$l0" "${bytes:--}" \
        "${5:-disk}" >>"$OUT/runs.tsv"
    bench_log "$name rep $rep: $(kv "$line" notify_per_s) NOTIFY/s p99 $(kv "$line" p99_us) us verified=$(kv "$line" verified) agent $(kv "$line" agent_us_per_notify) us/NOTIFY stored $stored dropped $dropped hwm ${hwm} kB load $l0"
}

bench_log "out $OUT; $CONNS conns, window $WINDOW, ${DURATION}s (+${WARMUP}s warm-up), $REPS reps of: $CONFIGS"
for rep in $(seq 1 "$REPS"); do
    for c in $CONFIGS; do
        IFS=: read -r name mode rate where <<<"$c"
        run_one "$name" "$mode" "$rate" "$rep" "$where"
    done
done
python3 "$HERE/summarize.py" load "$OUT/runs.tsv" | tee "$OUT/summary.md"
