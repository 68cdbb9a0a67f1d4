# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the bench scripts (sourced). Everything started is recorded in PIDS and
# stopped by PID (TERM, then KILL) by bench_cleanup; nothing is killed by name.

PIDS=()

bench_log() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
bench_die() { bench_log "FAIL: $*"; exit 1; }

# stop_pid PID [SECONDS]: TERM, wait up to SECONDS (default 5), then KILL; reaps it.
stop_pid() {
    local pid=$1 n=$(( ${2:-5} * 10 ))
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    for _ in $(seq 1 "$n"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p" 3; done
    PIDS=()
}

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
' "$1"
}

# wait_http NAME PID URL SECONDS: until URL answers (any HTTP status); fails if PID dies.
wait_http() {
    local name=$1 pid=$2 url=$3 n=$(( $4 * 10 ))
    for _ in $(seq 1 "$n"); do
        kill -0 "$pid" 2>/dev/null || bench_die "$name exited early"
        curl -sS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    bench_die "$name not ready after $4 s ($url)"
}

# cpu_s PID: utime+stime of PID (all its threads) in seconds, from /proc/PID/stat.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# cpu_sys_s PID: stime of PID (all its threads) in seconds: the kernel's share of cpu_s.
cpu_sys_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print $13 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# ctx_switches PID: voluntary + involuntary context switches of all threads of PID.
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches/{s+=$2} END{print s+0}'
}

# syscalls PID: read + write system calls made by PID so far (/proc/PID/io syscr + syscw).
syscalls() {
    awk '/^sysc[rw]:/{s+=$2} END{print s+0}' "/proc/$1/io" 2>/dev/null || echo 0
}

# rss_kb PID: "VmRSS VmHWM" in kB.
rss_kb() {
    awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print r+0, h+0}' "/proc/$1/status" 2>/dev/null || echo "0 0"
}

# status_field URL GROUP KEY: one counter of the agent's GET /status (empty if unreachable).
status_field() {
    curl -sS --max-time 5 "$1/status" 2>/dev/null |
        python3 -c 'import json,sys
try:
    d = json.load(sys.stdin); print(d[sys.argv[1]][sys.argv[2]])
except Exception:
    print("")' "$2" "$3"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# summary_field LINE KEY: value of key=value in a SUMMARY/RESULT line.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k{print $2; exit}'; }

# bench_build_tools BUILD OUT: configures BUILD (Release, no tests, bench tools) if needed and
# builds the agent and make_store there, two jobs at a time; the log is OUT/build.log.
bench_build_tools() {
    local build=$1 out=$2
    bench_log "building http-event-processor make_store in $build"
    if [ ! -f "$build/build.ninja" ]; then
        cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEP_TESTS=OFF \
            -DHEP_BENCH=ON >"$out/build.log" 2>&1 || { tail -n 20 "$out/build.log"; bench_die "cmake failed"; }
    fi
    cmake --build "$build" -j2 --target http-event-processor make_store >>"$out/build.log" 2>&1 ||
        { tail -n 30 "$out/build.log"; bench_die "build failed"; }
}

# bench_volume MAKE_STORE DATA GIB OUT IDS SAMPLE: GIB GiB of exchanges in DATA, written by
# make_store (with SAMPLE ids in IDS), or reused when DATA has .make_store-GIB.done and IDS.
# Sets VOLUME_GENERATED=1 when it wrote DATA; make_store's summary goes to OUT/make_store.txt.
bench_volume() {
    local make_store=$1 data=$2 gib=$3 out=$4 ids=$5 sample=$6
    VOLUME_GENERATED=""
    if [ -f "$data/.make_store-$gib.done" ] && [ -s "$ids" ]; then
        bench_log "reusing $data ($gib GiB)"
        cp "$data/.make_store-$gib.done" "$out/make_store.txt"
    else
        [ -e "$data/segments" ] && bench_die "$data/segments exists but was not made by make_store for GIB=$gib"
        VOLUME_GENERATED=1
        bench_log "writing $gib GiB into $data"
        mkdir -p "$data"
        "$make_store" --data-dir "$data" --gib "$gib" --ids "$ids" --sample "$sample" \
            >"$out/make_store.txt" 2>&1 || { cat "$out/make_store.txt"; bench_die "make_store failed"; }
        cp "$out/make_store.txt" "$data/.make_store-$gib.done"
    fi
    bench_log "$(cat "$out/make_store.txt")"
    # Warm the page cache (start-up reads every segment anyway; this makes the first start warm too).
    find "$data/segments" -name '*.jsonl' -exec cat {} + >/dev/null
}

# bench_volume_setup NAME: the set-up of the scripts that query a make_store volume
# (query.sh, stats.sh): OUT (default /tmp/hep-bench/NAME-<time>), BUILD (default build-bench),
# AGENT, MAKE_STORE and DATA (default $OUT/data) from the environment or their defaults; builds
# both binaries unless SKIP_BUILD is set; and an EXIT trap that stops everything started and
# removes a DATA that bench_volume generated (unless KEEP_DATA is set).
bench_volume_setup() {
    OUT=${OUT:-/tmp/hep-bench/$1-$(date +%Y%m%dT%H%M%S)}
    BUILD=${BUILD:-$ROOT/build-bench}
    case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
    AGENT=${AGENT:-$BUILD/agent/http-event-processor}
    MAKE_STORE=${MAKE_STORE:-$BUILD/bench/make_store}
    DATA=${DATA:-$OUT/data}
    mkdir -p "$OUT"
    command -v wrk >/dev/null || bench_die "wrk not found (scripts/deps.sh --with-bench)"
    [ -n "${SKIP_BUILD:-}" ] || bench_build_tools "$BUILD" "$OUT"
    [ -x "$AGENT" ] || bench_die "agent not found: $AGENT"
    [ -x "$MAKE_STORE" ] || bench_die "make_store not found: $MAKE_STORE"
    VOLUME_GENERATED=""
    trap bench_volume_cleanup EXIT
    trap 'bench_log interrupted; exit 1' INT TERM
}

bench_volume_cleanup() {
    bench_cleanup
    if [ -n "$VOLUME_GENERATED" ] && [ -z "${KEEP_DATA:-}" ]; then rm -rf "$DATA"; fi
}
