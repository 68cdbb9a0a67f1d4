#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# profile.sh - instruction profile of the agent on the SPOP path: the agent runs under
# valgrind --tool=callgrind (perf has no hardware counters on this VM: `perf stat -e
# instructions` reports <not supported>), spop-load drives it at a low fixed rate (callgrind
# is ~50x slower), and the profile is reported as instructions (Ir) per NOTIFY, per function.
# Instruction counts do not depend on the machine's load, so before/after comparisons are exact.
#
# Env: AGENT, SPOP_LOAD, MODE=capture|discard (default capture), RATE=2000 DURATION=8,
#      OUT (default /tmp/hep-bench/profile-<time>), TOP=25, AGENT_ARGS (more agent flags,
#      word-split, e.g. "--kafka-brokers HOST:PORT" for the Kafka sink: bench/kafka.sh)
# Output: $OUT/callgrind.<mode>.out and $OUT/summary-<mode>.md.
set -u
if [ -z "${HEP_BENCH_INNER:-}" ]; then
    export HEP_BENCH_INNER=1
    exec timeout -k 10 "${TIMEOUT:-300}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_NAME=profile
. "$HERE/lib.sh"
AGENT=${AGENT:-$ROOT/build-bench/agent/http-event-processor}
SPOP_LOAD=${SPOP_LOAD:-$ROOT/build-bench/bench/spop-load}
MODE=${MODE:-capture}; RATE=${RATE:-2000}; DURATION=${DURATION:-8}; TOP=${TOP:-25}
OUT=${OUT:-/tmp/hep-bench/profile-$(date +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
command -v valgrind >/dev/null || bench_die "valgrind not found (apt-get install valgrind)"
trap 'bench_cleanup' EXIT
trap 'bench_log interrupted; exit 1' INT TERM

read -r SPOA API <<<"$(free_ports 2)"
APIURL=http://127.0.0.1:$API
data=$OUT/data-$MODE; rm -rf "$data"; mkdir -p "$data"
extra=(${AGENT_ARGS:-}); [ "$MODE" = discard ] && extra+=(--discard)
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$MODE.out" "$AGENT" \
    --spop-listen "127.0.0.1:$SPOA" --http-listen "127.0.0.1:$API" --data-dir "$data" \
    --log-level warn "${extra[@]}" >"$OUT/valgrind-$MODE.log" 2>&1 &
apid=$!; PIDS+=("$apid")
wait_http agent "$apid" "$APIURL/status" 60
"$SPOP_LOAD" --port "$SPOA" --conns 2 --window 16 --rate "$RATE" --duration "$DURATION" \
    --warmup 1 >"$OUT/load-$MODE.txt" 2>"$OUT/load-$MODE.err" || bench_log "spop-load: not verified"
for _ in $(seq 1 50); do
    [ "$(status_field "$APIURL" storage queue_depth)" = 0 ] && break; sleep 0.2
done
notify=$(status_field "$APIURL" spop notify)
stop_pid "$apid" 30; PIDS=()
rm -rf "$data"
python3 - "$OUT/callgrind.$MODE.out" "$notify" "$TOP" "$MODE" >"$OUT/summary-$MODE.md" <<'PY'
import re, subprocess, sys
path, notify, top, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rows(inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", path], capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([\d. %]+\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        name = re.sub(r"^[^:]*:", "", name, count=1) if not name.startswith("???") else name[4:]
        name = re.sub(r" \[[^\]]*\]$", "", name)
        name = name.replace("(anonymous namespace)", "{anon}")
        name = re.sub(r"\(.*", "", name)  # drop argument lists
        name = name.replace("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string")
        res.append((ir, name))
    return res
total = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True).stdout
tot = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", total).group(1).replace(",", ""))
print(f"callgrind, mode {mode}: {notify:,} NOTIFY, {tot:,} instructions in the agent "
      f"(user space, all threads, start-up included) = **{tot / max(notify, 1):,.0f} Ir per NOTIFY**.\n")
print("| self Ir/NOTIFY | % | function |\n|---|---|---|")
for ir, name in rows(False)[:top]:
    print(f"| {ir / notify:,.0f} | {100 * ir / tot:.1f}% | `{name[:110]}` |")
keys = ["storage::store::impl::run", "storage::append_json_line", "agent::app::spop_process",
        "agent::app::handle_notify", "agent::to_event", "agent::decode_header_block",
        "spop::session::feed", "correlate::correlator::add", "agent::app::sink", "correlate::redact",
        "correlate::exchange::~exchange", "inet_ntop", "agent::app::spop_flush", "uv_run",
        "storage::kafka_sink::submit", "storage::kafka_sink::impl::run",
        "storage::kafka_sink::impl::produce", "rd_kafka_produceva"]
print("\nInclusive (a function and everything it calls):\n")
print("| Ir/NOTIFY | % | function |\n|---|---|---|")
seen = set()
for ir, name in rows(True):
    base = name.strip()
    for k in keys:
        if base == k or base.endswith(k) and k not in seen:
            if k in seen:
                continue
            seen.add(k)
            print(f"| {ir / notify:,.0f} | {100 * ir / tot:.1f}% | `{k}` |")
out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                     capture_output=True, text=True).stdout
objs = {}
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+) \([\d. %]+\)\s+.*\[([^\]]*)\]$", line)
    if m and "PROGRAM TOTALS" not in line:
        o = m.group(2).rsplit("/", 1)[-1]
        objs[o] = objs.get(o, 0) + int(m.group(1).replace(",", ""))
print("\nBy shared object (self):\n")
print("| Ir/NOTIFY | % | object |\n|---|---|---|")
for o, ir in sorted(objs.items(), key=lambda kv: -kv[1])[:8]:
    print(f"| {ir / notify:,.0f} | {100 * ir / tot:.1f}% | `{o}` |")
PY
cat "$OUT/summary-$MODE.md"
