#!/usr/bin/env bash
# The main job: installs what is missing, builds the agent (Release), and runs it behind a real
# HAProxy (haproxy-conf/haproxy-2.4-3.0) in front of a small demo backend, all on this host.
# Ctrl-C stops everything it started.
#
# Environment (defaults):
#   PORT=8080          the agent's HTTP API (GET /events, /status) on 0.0.0.0
#   FE_PORT=18080      HAProxy's frontend: send your traffic here
#   APP_PORT=18081     the demo backend behind HAProxy
#   SPOA_PORT=12345    the agent's SPOP listener (HAProxy connects to it)
#   DATA_DIR=./data    where captured exchanges are stored (JSON Lines segments)
#   HAPROXY=haproxy    the haproxy binary to use
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PORT=${PORT:-8080}
FE_PORT=${FE_PORT:-18080}
APP_PORT=${APP_PORT:-18081}
SPOA_PORT=${SPOA_PORT:-12345}
DATA_DIR=${DATA_DIR:-$root/data}
HAPROXY=${HAPROXY:-haproxy}
run_dir=$root/.hep/run
mkdir -p "$run_dir" "$DATA_DIR"

bash scripts/deps.sh
echo "run.sh: building (Release) ..."
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEP_TESTS=OFF >/dev/null
cmake --build build/release --target http-event-processor -j"$(nproc)" >/dev/null
agent_bin=$root/build/release/agent/http-event-processor

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "run.sh: stopping ..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "run.sh: stopped. Captured exchanges stay in $DATA_DIR"
}
trap cleanup INT TERM EXIT

wait_http() {  # wait_http URL WHAT
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null -m 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: $2 did not come up ($1); logs in $run_dir" >&2
  exit 1
}

python3 test/e2e/backend.py --listen "127.0.0.1:$APP_PORT" >"$run_dir/backend.log" 2>&1 &
pids+=($!)
"$agent_bin" --spop-listen "127.0.0.1:$SPOA_PORT" --http-listen "0.0.0.0:$PORT" \
  --data-dir "$DATA_DIR" 2> >(tee "$run_dir/agent.log" >&2) &
pids+=($!)
wait_http "http://127.0.0.1:$APP_PORT/health" "the demo backend"
wait_http "http://127.0.0.1:$PORT/healthz" "the agent"

CAPTURE_FE_ADDR="0.0.0.0:$FE_PORT" CAPTURE_APP_ADDR="127.0.0.1:$APP_PORT" \
CAPTURE_SPOA_ADDR="127.0.0.1:$SPOA_PORT" CAPTURE_STATS_SOCK="$run_dir/haproxy.sock" \
  "$HAPROXY" -db -f haproxy-conf/haproxy-2.4-3.0/capture.cfg >"$run_dir/haproxy.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$FE_PORT/haproxy-monitor" "HAProxy"

cat <<TXT

  http-event-processor is capturing.  ($("$agent_bin" --version); $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3))

  Send traffic through HAProxy:   curl -s http://127.0.0.1:$FE_PORT/hello?x=1
                                  curl -s -d '{"a":1}' -H 'Content-Type: application/json' http://127.0.0.1:$FE_PORT/api/items
  Watch them in a browser:        http://127.0.0.1:$PORT/
  Read the captured pairs:        curl -s 'http://127.0.0.1:$PORT/events?limit=5'
  One exchange by its id:         curl -s http://127.0.0.1:$PORT/events/<id>
  Counters:                       curl -s http://127.0.0.1:$PORT/status
  Stored files:                   $DATA_DIR/segments/
  HAProxy and backend logs:       $run_dir/

  Ctrl-C stops everything.

TXT
wait "${pids[1]}"
