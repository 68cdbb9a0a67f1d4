#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - builds the benchmarks and the agent (Release, build-bench/), runs every benchmark of
# issue 6 and regenerates bench/RESULTS.md:
#   1. micro      bench_micro (Google Benchmark), 5 repetitions, medians
#      disk       dd: write bandwidth of the file system the data directories live on
#   2. load       bench/load.sh: spop-load flat out (capture, discard), at 50k/100k/200k NOTIFY/s,
#                 50k/200k with the data directory on tmpfs, and 5k/50k in --discard mode
#   3. e2e        bench/e2e.sh: wrk -> HAProxy 2.6, no SPOE / capture / discard, interleaved
#   4. legacy     bench/legacy.sh: POST /http-events, ours vs the Node stand-in (if ours exists)
#   5. profile    bench/profile.sh: callgrind instruction profile, capture and discard
#   query, soak   issue 5, not in the default STEPS: bench/query.sh (queries over a 1 GiB
#                 volume) and bench/soak.sh (SOAK_MINUTES, default 10, through HAProxy); their
#                 summaries stay in $OUT/query and $OUT/soak (analysis.md §7-8 is their account)
#   kafka         issue 8, not in the default STEPS: bench/kafka.sh (file sink vs file + Kafka
#                 sink to librdkafka's mock cluster, at 50k NOTIFY/s and flat out); summary in
#                 $OUT/kafka (analysis.md §9 is its account)
# Env: OUT (default /tmp/hep-bench/run-<time>), SKIP_BUILD=1, QUICK=1 (1 rep, short runs),
#      REPS, DURATION (passed on), STEPS="micro disk load e2e legacy profile".
# Needs: cmake, ninja, g++, libbenchmark-dev, libuv1-dev, haproxy, wrk, node, valgrind, curl,
# python3: `scripts/deps.sh --with-bench` installs them all (run first below).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${OUT:-/tmp/hep-bench/run-$(date +%Y%m%dT%H%M%S)}
STEPS=${STEPS:-micro disk load e2e legacy profile}
mkdir -p "$OUT"
if [ -n "${QUICK:-}" ]; then export REPS=${REPS:-1} DURATION=${DURATION:-3}; fi
export REPS=${REPS:-3} DURATION=${DURATION:-10}
log() { printf 'run: %s\n' "$*" >&2; }
cmd() { printf '%s\n' "$*" >>"$OUT/commands.txt"; }
: >"$OUT/commands.txt"

bash "$ROOT/scripts/deps.sh" --with-bench || { log "installing dependencies failed"; exit 1; }

BIN=$OUT/bin
mkdir -p "$BIN"
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building (Release, build-bench)"
    cmd "cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEP_TESTS=OFF -DHEP_BENCH=ON"
    cmd "cmake --build build-bench --target http-event-processor bench_micro spop-load make_store kafka_bench"
    cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEP_TESTS=OFF \
        -DHEP_BENCH=ON >"$OUT/build.log" 2>&1 &&
        cmake --build "$ROOT/build-bench" --target http-event-processor bench_micro spop-load \
            make_store kafka_bench >>"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log"; log "build failed"; exit 1; }
fi
# One consistent set of binaries for the whole run, whatever happens to the tree meanwhile.
cp "$ROOT/build-bench/agent/http-event-processor" "$ROOT/build-bench/bench/bench_micro" \
    "$ROOT/build-bench/bench/spop-load" "$ROOT/build-bench/bench/make_store" \
    "$ROOT/build-bench/bench/kafka_bench" "$BIN/"
export AGENT=$BIN/http-event-processor SPOP_LOAD=$BIN/spop-load MAKE_STORE=$BIN/make_store \
    KAFKA_BENCH=$BIN/kafka_bench

{
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" log -1 --format=%s | cut -c1-70))"
    echo "          + $(git -C "$ROOT" status --porcelain | wc -l) uncommitted paths in the tree at build time"
    echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
    echo "kernel:   $(uname -sr)"
    echo "haproxy:  $(haproxy -v 2>/dev/null | head -n1)"
    echo "wrk:      $(wrk -v 2>&1 | head -n1)"
    echo "node:     $(node --version 2>/dev/null)"
    echo "compiler: $(c++ --version | head -n1)"
    echo "load avg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

for step in $STEPS; do
    case $step in
    micro)
        log "micro benchmarks"
        cmd "build-bench/bench/bench_micro --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 --benchmark_format=json"
        "$BIN/bench_micro" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
            --benchmark_min_time=0.2 --benchmark_format=json >"$OUT/micro.json" 2>"$OUT/micro.err" ||
            log "bench_micro failed"
        ;;
    disk)
        # What the data directory's file system absorbs: 512 MiB of page-cache writes in 256 KiB
        # blocks, then fdatasync (the agent's writer does the same kind of appends).
        log "disk write bandwidth"
        cmd "dd if=/dev/zero of=/tmp/hep-bench/ddtest bs=256K count=2048 conv=fdatasync"
        mkdir -p /tmp/hep-bench
        /usr/bin/time -f "sys_s=%S elapsed_s=%e" dd if=/dev/zero of=/tmp/hep-bench/ddtest-$$ bs=256K \
            count=2048 conv=fdatasync >"$OUT/disk.txt" 2>&1
        rm -f /tmp/hep-bench/ddtest-$$
        ;;
    load)
        log "spop-load"
        cmd "REPS=$REPS DURATION=$DURATION bash bench/load.sh   # CONNS=4 WINDOW=64; configs max-capture max-discard r50k r100k r200k r50k-tmpfs r200k-tmpfs r50k-discard r5k-discard"
        OUT=$OUT/load bash "$HERE/load.sh" >/dev/null 2>"$OUT/load.log" || log "load.sh failed (see $OUT/load.log)"
        ;;
    e2e)
        log "end to end"
        cmd "REPS=$REPS DURATION=$DURATION WARMUP=3 bash bench/e2e.sh   # wrk -t1 -c32 http://127.0.0.1:<fe>/api/items?page=2"
        OUT=$OUT/e2e bash "$HERE/e2e.sh" >/dev/null 2>"$OUT/e2e.log" || log "e2e.sh failed (see $OUT/e2e.log)"
        ;;
    legacy)
        log "legacy POST"
        cmd "REPS=$REPS DURATION=$DURATION bash bench/legacy.sh   # wrk -t1 -c32, post_events.lua / wrk/post_batch.lua"
        OUT=$OUT/legacy bash "$HERE/legacy.sh" >/dev/null 2>"$OUT/legacy.log"
        rc=$?
        if [ "$rc" = 3 ]; then
            mkdir -p "$OUT/legacy"
            echo "our POST /http-events did not answer 202 at run time (endpoint not implemented in this build); bench/legacy.sh is ready" >"$OUT/legacy/skipped.txt"
        elif [ "$rc" != 0 ]; then
            log "legacy.sh failed (see $OUT/legacy.log)"
        fi
        ;;
    profile)
        log "callgrind profile"
        cmd "MODE=capture RATE=2000 DURATION=8 bash bench/profile.sh; MODE=discard ... (valgrind --tool=callgrind on the agent, spop-load --conns 2 --window 16)"
        OUT=$OUT/profile MODE=capture bash "$HERE/profile.sh" >/dev/null 2>"$OUT/profile.log" || log "profile failed"
        OUT=$OUT/profile MODE=discard bash "$HERE/profile.sh" >/dev/null 2>>"$OUT/profile.log" || log "profile failed"
        ;;
    query)
        log "queries over a full volume (issue 5)"
        cmd "GIB=1 SKIP_BUILD=1 bash bench/query.sh   # make_store 1 GiB, agent --retention-bytes 0, wrk -t1 -c1/-c4 -d${DURATION}s"
        OUT=$OUT/query SKIP_BUILD=1 GIB=${GIB:-1} bash "$HERE/query.sh" >/dev/null 2>"$OUT/query.log" ||
            log "query.sh failed (see $OUT/query.log)"
        ;;
    soak)
        log "soak through HAProxy (issue 5), ${SOAK_MINUTES:-10} min"
        cmd "bash bench/soak.sh --minutes ${SOAK_MINUTES:-10}   # wrk -t1 -c4 ~1500 req/s, bench/soak/traffic.lua"
        OUT=$OUT/soak bash "$HERE/soak.sh" --minutes "${SOAK_MINUTES:-10}" >/dev/null 2>"$OUT/soak.log" ||
            log "soak.sh failed (see $OUT/soak.log)"
        ;;
    kafka)
        log "Kafka sink to the mock cluster (issue 8)"
        cmd "bash bench/kafka.sh --reps $REPS --duration $DURATION   # phases r50k:50000 max:0, modes file kafka inproc"
        OUT=$OUT/kafka bash "$HERE/kafka.sh" --reps "$REPS" --duration "$DURATION" >/dev/null \
            2>"$OUT/kafka.log" || log "kafka.sh failed (see $OUT/kafka.log)"
        ;;
    esac
done
echo "load avg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 "$HERE/make_results.py" "$OUT" >"$HERE/RESULTS.md"
log "wrote $HERE/RESULTS.md (raw data in $OUT)"
