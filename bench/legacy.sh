#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# legacy.sh - wrk POST /http-events against our agent and against the Node stand-in of
# ../shared/bench/seed-standin (the seed's design) in the same run, interleaved:
#   single    one envelope per POST, request/response alternating (the stand-in's own
#             post_events.lua, ~0.8 KB JSON, 500-byte bodies)
#   batch100  a JSON array of 100 envelopes per POST (wrk/post_batch.lua, same envelopes);
#             the stand-in takes one envelope per POST only, so it runs `single` only.
# Every run starts the server fresh on an empty data directory, so RSS peaks are per run.
# Recorded: events/s (accepted: 2xx answers only), req/s, p50/p99, non-2xx and socket errors, RSS (VmHWM) of the server.
#
# Env: TARGETS="standin ours", AGENT (default build-bench/agent/http-event-processor), STANDIN (the seed-standin dir),
#      REPS=3 DURATION=10 CONNS=32 THREADS=1 BATCH=100 OUT (default /tmp/hep-bench/legacy-<time>)
# Exits 3 without measuring when our POST /http-events does not answer 202 yet.
set -u
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-900}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=legacy
. "$HERE/lib.sh"

AGENT=${AGENT:-$ROOT/build-bench/agent/http-event-processor}
STANDIN=${STANDIN:-$(cd "$ROOT/../shared/bench/seed-standin" 2>/dev/null && pwd)}
TARGETS=${TARGETS:-standin ours}
REPS=${REPS:-3}; DURATION=${DURATION:-10}; CONNS=${CONNS:-32}; THREADS=${THREADS:-1}
export BATCH=${BATCH:-100}
OUT=${OUT:-/tmp/hep-bench/legacy-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
[ -x "$AGENT" ] || bench_die "agent not found: $AGENT"
[ -f "$STANDIN/server.js" ] || bench_die "stand-in not found: $STANDIN"
command -v node >/dev/null || bench_die "node not found"
command -v wrk >/dev/null || bench_die "wrk not found"

trap 'bench_cleanup' EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r OURS SPOA STAND <<<"$(free_ports 3)"
ONE='{"type":"request","timestamp":1700000000.000,"data":{"id":"legacy-probe-1","method":"GET","path":"/","headers":{"host":"x"},"body":""}}'

start_server() { # TARGET DATA -> sets SPID, SURL
    local target=$1 data=$2
    rm -rf "$data"; mkdir -p "$data"
    if [ "$target" = ours ]; then
        "$AGENT" --spop-listen "127.0.0.1:$SPOA" --http-listen "127.0.0.1:$OURS" \
            --data-dir "$data" --log-level warn >>"$OUT/agent.log" 2>&1 &
        SPID=$!; SURL=http://127.0.0.1:$OURS
    else
        STORAGE_DIR=$data PORT=$STAND HOST=127.0.0.1 LOG_LEVEL=warn node "$STANDIN/server.js" \
            >>"$OUT/standin.log" 2>&1 &
        SPID=$!; SURL=http://127.0.0.1:$STAND
    fi
    PIDS+=("$SPID")
    wait_http "$target" "$SPID" "$SURL/status" 15
}

# Our endpoint must exist (another change implements it).
case " $TARGETS " in *" ours "*)
start_server ours "$OUT/data-probe"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "$ONE" "$SURL/http-events" 2>/dev/null)
stop_pid "$SPID" 10; PIDS=(); rm -rf "$OUT/data-probe"
if [ "$code" != 202 ]; then
    bench_log "our POST /http-events answers $code, not 202: not implemented yet, nothing measured"
    exit 3
fi
;; esac

printf 'target\tkind\trep\tevents_per_s\trps\tp50_ms\tp99_ms\terrors\trss_kb\thwm_kb\tload\n' >"$OUT/runs.tsv"
run_one() { # TARGET KIND REP
    local target=$1 kind=$2 rep=$3 tag="$1-$2-$3" script per=1 line
    start_server "$target" "$OUT/data-$tag"
    if [ "$kind" = single ]; then script=$STANDIN/post_events.lua; else script=$HERE/wrk/post_batch.lua; per=$BATCH; fi
    local l0; l0=$(loadavg)
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "$SURL" >"$OUT/wrk-$tag.txt" 2>&1
    sleep 1
    local rss; rss=$(rss_kb "$SPID")
    curl -sS --max-time 5 "$SURL/status" >"$OUT/status-$tag.json" 2>/dev/null
    stop_pid "$SPID" 10; PIDS=()
    rm -rf "$OUT/data-$tag"
    line=$(grep '^SUMMARY' "$OUT/wrk-$tag.txt")
    [ -n "$line" ] || bench_die "wrk printed no summary ($OUT/wrk-$tag.txt)"
    local rps errs ev
    rps=$(kv "$line" rps)
    errs=$(( $(kv "$line" errors_connect) + $(kv "$line" errors_read) + $(kv "$line" errors_write) + $(kv "$line" errors_status) + $(kv "$line" errors_timeout) ))
    # Events accepted: only requests answered 2xx/3xx count (wrk's errors_status are the rest,
    # e.g. 503 when the pipeline is full).
    ev=$(awk -v n="$(kv "$line" requests)" -v e="$(kv "$line" errors_status)" -v d="$(kv "$line" duration_s)" \
        -v p="$per" 'BEGIN{printf "%.1f", (n-e)*p/d}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$kind" "$rep" "$ev" "$rps" \
        "$(kv "$line" p50_ms)" "$(kv "$line" p99_ms)" "$errs" "${rss%% *}" "${rss##* }" "$l0" >>"$OUT/runs.tsv"
    bench_log "$target $kind rep $rep: $ev events/s ($rps req/s) p99 $(kv "$line" p99_ms) ms errors $errs rss_hwm ${rss##* } kB load $l0"
}

bench_log "out $OUT; wrk -t$THREADS -c$CONNS -d${DURATION}s; $REPS reps; batch $BATCH"
for rep in $(seq 1 "$REPS"); do
    for target in $TARGETS; do
        run_one "$target" single "$rep"
        [ "$target" = ours ] && run_one ours batch100 "$rep"
    done
done
python3 "$HERE/summarize.py" legacy "$OUT/runs.tsv" | tee "$OUT/summary.md"
