#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds every fuzz target (clang, -DHEP_FUZZ=ON) and runs each for $FUZZ_SECONDS (default 60)
# from a seed corpus made of test/fixtures, in a temporary directory. Exits non-zero if any
# target finds a crash; the crashing inputs are kept in $FUZZ_BUILD_DIR/fuzz-artifacts/<target>/
# so that each can be turned into a fixture.
#
#   test/fuzz/run.sh                     # all targets, 60 s each
#   FUZZ_SECONDS=10 test/fuzz/run.sh fuzz_spop_decoder
#
# Seeds for a new target: add a seed_<target> function below (default: empty corpus).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DHEP_FUZZ=ON -DHEP_TESTS=OFF
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in "$here"/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# SPOP seeds. The target's first byte is a mode byte (see fuzz_spop_decoder.cpp): each recorded
# HAProxy->agent stream and each .hex fixture goes in as is (mode 0x04/0x05/0x07: fragmentation
# on, several frame sizes), and each recorded HAProxy frame alone behind a prepended HELLO
# (mode 0x0f).
seed_fuzz_spop_decoder() {
  local dir=$1
  python3 - "$root/test/fixtures/spop" "$dir" <<'PY'
import json, os, re, sys
src, dst = sys.argv[1], sys.argv[2]
n = 0
def put(mode, data):
    global n
    with open(os.path.join(dst, "seed-%05d" % n), "wb") as f:
        f.write(bytes([mode]) + data)
    n += 1
for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    if name.endswith(".bin"):
        data = open(path, "rb").read()
        streams = {}
        for line in open(path[:-4] + ".jsonl"):
            o = json.loads(line)
            if o["dir"] != "H2A":
                continue
            rec = data[o["offset"]:o["offset"] + o["length"]]
            streams[o["conn"]] = streams.get(o["conn"], b"") + rec
            put(0x0F, rec)
        for conn, s in sorted(streams.items()):
            put(0x07, s)
            put(0x05, s)
    elif name.endswith(".hex"):
        text = re.sub(r"#[^\n]*", "", open(path).read())
        data = bytes.fromhex("".join(text.split()))
        put(0x04, data)
        put(0x47, data)
print("seeded %d inputs" % n)
PY
}

# HTTP seeds: every request fixture, behind a few mode bytes (limits and read splits).
seed_fuzz_http_request() {
  local dir=$1 n=0 f mode
  for f in "$root"/test/fixtures/http/*/*.http; do
    for mode in 00 01 42 ff; do
      { printf "\\x$mode"; cat "$f"; } >"$dir/seed-$n"
      n=$((n + 1))
    done
  done
  echo "seeded $n inputs"
}

# Legacy ingestion seeds: the bodies of the /http-events fixtures (after the blank line), as
# JSON (mode 00) and NDJSON (mode 01); the MessagePack target takes the body alone.
seed_fuzz_event_json() {
  local dir=$1 n=0 f mode
  for f in "$root"/test/fixtures/http/serve/ingest_*.http; do
    for mode in 00 01; do
      { printf "\\x$mode"; python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(d.split(b"\r\n\r\n",1)[1])' "$f"; } >"$dir/seed-$n"
      n=$((n + 1))
    done
  done
  echo "seeded $n inputs"
}
seed_fuzz_event_msgpack() {
  local dir=$1 n=0 f
  for f in "$root"/test/fixtures/http/serve/ingest_msgpack*.http; do
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(d.split(b"\r\n\r\n",1)[1])' "$f" >"$dir/seed-$n"
    n=$((n + 1))
  done
  echo "seeded $n inputs"
}

# Server-Sent Events as the agent writes them (api/event_stream.h), behind the split byte.
seed_fuzz_sse_reader() {
  local dir=$1
  printf '\x00retry: 3000\n\nevent: ready\ndata: {}\n\n: keepalive\n\n' >"$dir/seed-0"
  printf '\x03event: exchange\r\ndata: {"id":"a"}\r\n\r\nevent: dropped\rdata: {"dropped":2,"total":2}\r\r' >"$dir/seed-1"
  printf '\x07\xef\xbb\xbfevent: peers\ndata: {"peers":2,"partial":true,"peers_failed":[]}\nid: 7\n\n' >"$dir/seed-2"
  echo "seeded 3 inputs"
}

# Kafka pairing halves (storage/half_codec.h): a request and a response as encode_half() writes
# them, with and without a query, headers, a body and extra fields.
seed_fuzz_half_codec() {
  python3 - "$1" <<'PY'
import sys
def b(s):
    s = s.encode() if isinstance(s, str) else s
    return bytes([0xc4, len(s)]) + s
def arr(*xs):
    return bytes([0x90 | len(xs)]) + b"".join(xs)
u = lambda n: bytes([n])  # positive fixint
NIL, T, F, M1 = b"\xc0", b"\xc3", b"\xc2", b"\xff"
body = arr(b('{"a":1}'), u(7), F, T)
req = arr(u(1), b("id-1"), u(0), u(0),
          arr(u(5), b("GET"), b("/x"), b("q=1"), b("1.1"), arr(b("host"), b("h")), body,
              b("127.0.0.1"), u(80), b("fe")),
          arr(b("flag"), T, b("n"), NIL))
req_noq = arr(u(1), b("id-2"), u(1), u(0),
              arr(u(0), b("POST"), b("/"), NIL, b("2.0"), arr(), arr(b(""), u(0), F, F),
                  b(""), u(0), b("")),
              arr())
res = arr(u(1), b("id-1"), u(0), u(1),
          arr(u(9), u(100), b("1.1"), arr(b("content-type"), b("application/json")), body,
              b("be"), b("s1"), M1),
          arr(b("raw"), b(b"\x00\xff")))
for n, v in enumerate((req, req_noq, res)):
    open("%s/seed-%d" % (sys.argv[1], n), "wb").write(v)
print("seeded 3 inputs")
PY
}

status=0
for t in "${targets[@]}"; do
  if ! cmake --build "$build" --target "$t"; then
    echo "!! $t does not build" >&2
    status=1
    continue
  fi
  corpus="$work/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  if declare -F "seed_$t" >/dev/null; then "seed_$t" "$corpus"; fi
  echo "== $t: ${seconds}s"
  # libFuzzer prints a line per new input; keep its log and show the summary only.
  log="$build/fuzz-artifacts/$t.log"
  if "$build/test/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$log" || tail -n 3 "$log"
  else
    tail -n 60 "$log" >&2
    echo "!! $t found a crash; inputs in $artifacts, log in $log" >&2
    status=1
  fi
done
exit $status
