#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kafka.sh - issue 8: what the Kafka sink delivers to librdkafka's mock cluster with the file
# sink on, and what it costs the SPOP path. The real agent is fed by spop-load (HAProxy 2.6's
# capture messages, 500-byte bodies, a unique id per pair, every ACK checked) in interleaved
# modes, a fresh agent (and empty data directory) per run:
#
#   file     the file sink only
#   kafka    file sink + Kafka sink to a mock cluster (3 brokers, 3 partitions) in a separate
#            process (`kafka_bench --serve-mock`), so the agent's CPU excludes the brokers'
#   inproc   file sink + Kafka sink to a mock cluster inside the agent
#            (--kafka-brokers localhost:1 --kafka-option test.mock.num.brokers=3: 4 partitions)
#
# For every phase (a fixed NOTIFY/s rate, or 0 = flat out) and mode: spop-load's ACK rate and
# ACK latency p50/p99/p99.9, and from GET /status sampled every 0.5 s (bench/kafka/poll.py):
# exchanges/s delivered to Kafka (kafka.delivered) and stored on disk over spop-load's measured
# window, drops (kafka.dropped, storage.dropped), and the agent's CPU (/proc/PID/stat, all
# threads) from load start until both sinks have drained, per exchange; the mock process's CPU
# in mode kafka.
#
#   bash bench/kafka.sh [--reps N] [--duration S] [--warmup S] [--phases "NAME:RATE ..."]
#                       [--modes "NAME:KIND[:KEY=VALUE,...] ..."] [--kafka-option KEY=VALUE]...
#                       [--help]
#
# Defaults: --reps 3 --duration 10 --warmup 2 --phases "r50k:50000 max:0"
#           --modes "file:file kafka:kafka inproc:inproc"
# A mode's list is passed to that mode only: KEY=VALUE as --kafka-option, --FLAG=VALUE to the
# agent as it is (e.g. "lz4:kafka:compression.type=lz4,linger.ms=20",
# "nofile:kafka:--no-file-storage", "mp:kafka:--kafka-format=msgpack"); --kafka-option applies
# to every Kafka mode.
# Order: rep, then phase, then mode (A/B/A/B). Everything on 127.0.0.1; the whole run is
# bounded by `timeout` and every process it starts is stopped by PID.
# Env: BUILD (build-bench), AGENT, SPOP_LOAD, KAFKA_BENCH (default $BUILD/...; copied to
#      $OUT/bin first, so a rebuild during the run changes nothing), CONNS=4 WINDOW=64,
#      OUT (default /tmp/hep-bench/kafka-<time>), KEEP_DATA=1.
# Output: $OUT/runs.tsv, $OUT/summary.md, per run samples-*.tsv and logs.
set -u
usage() { sed -n '3,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
REPS=3; DURATION=10; WARMUP=2
PHASES="r50k:50000 max:0"
MODES="file:file kafka:kafka inproc:inproc"
KOPTS=()
ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --reps) REPS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --warmup) WARMUP=${2:?}; shift 2 ;;
    --phases) PHASES=${2:?}; shift 2 ;;
    --modes) MODES=${2:?}; shift 2 ;;
    --kafka-option) KOPTS+=("${2:?}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "kafka.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
case $REPS$DURATION$WARMUP in *[!0-9.]*) echo "kafka.sh: --reps, --duration and --warmup take numbers" >&2; exit 2 ;; esac
for m in $MODES; do
    case $(cut -d: -f2 <<<"$m") in file|kafka|inproc) ;; *) echo "kafka.sh: mode $m: KIND is file, kafka or inproc" >&2; exit 2 ;; esac
done
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    n=$(( REPS * $(wc -w <<<"$PHASES") * $(wc -w <<<"$MODES") ))
    exec timeout -k 10 "$(awk -v n="$n" -v d="$DURATION" -v w="$WARMUP" 'BEGIN{printf "%d", n * (d + w + 90) + 120}')" \
        bash "$0" "${ARGS[@]}"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=kafka
. "$HERE/lib.sh"

BUILD=${BUILD:-$ROOT/build-bench}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CONNS=${CONNS:-4}; WINDOW=${WINDOW:-64}
OUT=${OUT:-/tmp/hep-bench/kafka-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT/bin"
for b in "${AGENT:-$BUILD/agent/http-event-processor}" "${SPOP_LOAD:-$BUILD/bench/spop-load}" \
    "${KAFKA_BENCH:-$BUILD/bench/kafka_bench}"; do
    [ -x "$b" ] || bench_die "not found: $b (ninja -C build-bench http-event-processor spop-load kafka_bench)"
    cp -p "$b" "$OUT/bin/"
done
AGENT=$OUT/bin/$(basename "${AGENT:-http-event-processor}")
SPOP_LOAD=$OUT/bin/$(basename "${SPOP_LOAD:-spop-load}")
KAFKA_BENCH=$OUT/bin/$(basename "${KAFKA_BENCH:-kafka_bench}")

POLL_PID=""
cleanup() {
    [ -n "$POLL_PID" ] && stop_pid "$POLL_PID" 3
    bench_cleanup
    [ -z "${KEEP_DATA:-}" ] && rm -rf "$OUT"/data-*
}
trap cleanup EXIT
trap 'bench_log interrupted; exit 1' INT TERM

{
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD) + $(git -C "$ROOT" status --porcelain | wc -l) uncommitted paths"
    echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "agent:    built $(date -u -r "$AGENT" '+%Y-%m-%d %H:%M:%S UTC') (the tree may have moved since)"
    echo "librdkafka: $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"
    echo "command:  bash bench/kafka.sh ${ARGS[*]}  (CONNS=$CONNS WINDOW=$WINDOW)"
    echo "load avg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

read -r SPOA API <<<"$(free_ports 2)"
APIURL=http://127.0.0.1:$API
printf 'phase\trate\tmode\tkind\trep\tnotify_per_s\tp50_us\tp99_us\tp999_us\tverified\twindow_us_per_notify\tpaired\tstored\tstore_dropped\tk_submitted\tk_delivered\tk_dropped\tk_failed\tk_per_s\tstore_per_s\tagent_cpu_s\tagent_us_per_exchange\tmock_cpu_s\tmock_us_per_delivered\tdrain_s\tagent_hwm_kb\tload\toptions\n' >"$OUT/runs.tsv"

now() { date +%s.%N; }

# run_one PHASE RATE MODE KIND OPTS REP
run_one() {
    local phase=$1 rate=$2 mode=$3 kind=$4 opts=$5 rep=$6
    local tag="$1-$3-$6" data="$OUT/data-$1-$3-$6" kargs=() mpid="" o apid
    rm -rf "$data"; mkdir -p "$data"
    case $kind in
    kafka)
        "$KAFKA_BENCH" --serve-mock "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN{printf "%d", d + w + 80}')" \
            >"$OUT/mock-$tag.out" 2>&1 &
        mpid=$!; PIDS+=("$mpid")
        for _ in $(seq 1 100); do grep -qs '^BOOTSTRAPS ' "$OUT/mock-$tag.out" && break; sleep 0.1; done
        local boot; boot=$(awk '/^BOOTSTRAPS /{print $2}' "$OUT/mock-$tag.out")
        [ -n "$boot" ] || bench_die "mock cluster did not start ($OUT/mock-$tag.out)"
        kargs=(--kafka-brokers "$boot") ;;
    inproc) kargs=(--kafka-brokers localhost:1 --kafka-option test.mock.num.brokers=3) ;;
    esac
    local optstr="" all=()
    [ "$kind" != file ] && all=("${KOPTS[@]}")
    for o in "${all[@]}" ${opts//,/ }; do
        case $o in
        --*) kargs+=("$o") ;;  # an agent flag, e.g. --kafka-format=msgpack
        *) [ "$kind" = file ] && bench_die "mode $mode: kafka option $o in a file-only mode"
           kargs+=(--kafka-option "$o") ;;
        esac
        optstr=$optstr${optstr:+,}$o
    done
    "$AGENT" --spop-listen "127.0.0.1:$SPOA" --http-listen "127.0.0.1:$API" --data-dir "$data" \
        --log-level warn "${kargs[@]}" >"$OUT/agent-$tag.log" 2>&1 &
    apid=$!; PIDS+=("$apid")
    wait_http agent "$apid" "$APIURL/status" 15
    python3 "$HERE/kafka/poll.py" "$APIURL" "$apid" "$OUT/samples-$tag.tsv" \
        --max-seconds "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN{print d + w + 75}')" \
        ${mpid:+--mock-pid "$mpid"} 2>"$OUT/poll-$tag.err" &
    POLL_PID=$!
    sleep 0.6  # a first sample before the load
    local l0 t_load t_end t_drained
    l0=$(loadavg); t_load=$(now)
    "$SPOP_LOAD" --port "$SPOA" --conns "$CONNS" --window "$WINDOW" --rate "$rate" \
        --duration "$DURATION" --warmup "$WARMUP" --agent-pid "$apid" \
        >"$OUT/load-$tag.txt" 2>"$OUT/load-$tag.err"
    t_end=$(now)
    # Both sinks drain (bounded: 60 s), so the CPU counted covers every exchange's delivery.
    local n=0 q k
    while [ "$n" -lt 300 ]; do
        q=$(status_field "$APIURL" storage queue_depth)
        k=0; [ "$kind" != file ] && k=$(status_field "$APIURL" kafka in_flight)
        [ "${q:-1}" = 0 ] && [ "${k:-1}" = 0 ] && break
        sleep 0.2; n=$((n + 1))
    done
    sleep 0.6  # a last sample after the drain
    t_drained=$(now)
    stop_pid "$POLL_PID" 3; POLL_PID=""
    local hwm; hwm=$(rss_kb "$apid" | cut -d' ' -f2)
    stop_pid "$apid" 15
    [ -n "$mpid" ] && stop_pid "$mpid" 5
    PIDS=()
    [ -z "${KEEP_DATA:-}" ] && rm -rf "$data"
    local line; line=$(grep '^RESULT' "$OUT/load-$tag.txt")
    [ -n "$line" ] || { cat "$OUT/load-$tag.err" >&2; bench_die "spop-load printed no RESULT ($tag)"; }
    local s; s=$(python3 "$HERE/kafka/summary.py" run "$OUT/samples-$tag.tsv" "$t_load" "$WARMUP" "$t_end" "$t_drained") ||
        bench_die "no samples ($tag)"
    printf '%s\t' "$phase" "$rate" "$mode" "$kind" "$rep" \
        "$(kv "$line" notify_per_s)" "$(kv "$line" p50_us)" "$(kv "$line" p99_us)" "$(kv "$line" p999_us)" \
        "$(kv "$line" verified)" "$(kv "$line" agent_us_per_notify)" \
        "$(kv "$s" paired)" "$(kv "$s" stored)" "$(kv "$s" store_dropped)" "$(kv "$s" k_submitted)" \
        "$(kv "$s" k_delivered)" "$(kv "$s" k_dropped)" "$(kv "$s" k_failed)" "$(kv "$s" k_per_s)" \
        "$(kv "$s" store_per_s)" "$(kv "$s" agent_cpu_s)" "$(kv "$s" agent_us_per_exchange)" \
        "$(kv "$s" mock_cpu_s)" "$(kv "$s" mock_us_per_delivered)" \
        "$(awk -v a="$t_end" -v b="$t_drained" 'BEGIN{printf "%.1f", b - a}')" "$hwm" "$l0" >>"$OUT/runs.tsv"
    printf '%s\n' "${optstr:--}" >>"$OUT/runs.tsv"
    bench_log "$phase $mode rep $rep: ACK $(kv "$line" notify_per_s) NOTIFY/s p99 $(kv "$line" p99_us) us; kafka $(kv "$s" k_per_s)/s delivered (dropped $(kv "$s" k_dropped)); stored $(kv "$s" store_per_s)/s (dropped $(kv "$s" store_dropped)); agent $(kv "$s" agent_us_per_exchange) us/exchange; load $l0"
}

bench_log "out $OUT; $CONNS conns, window $WINDOW, ${DURATION}s (+${WARMUP}s warm-up), $REPS reps; phases: $PHASES; modes: $MODES"
for rep in $(seq 1 "$REPS"); do
    for p in $PHASES; do
        IFS=: read -r pname prate <<<"$p"
        for m in $MODES; do
            IFS=: read -r mname mkind mopts <<<"$m"
            run_one "$pname" "$prate" "$mname" "$mkind" "${mopts:-}" "$rep"
        done
    done
done
echo "load avg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 "$HERE/kafka/summary.py" report "$OUT" | tee "$OUT/summary.md"
