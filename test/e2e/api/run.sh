#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - end-to-end test of the HTTP API: the real agent on loopback, every legacy ingestion
# format posted through its real HTTP server, everything read back through every filter, the
# HAR export, /metrics and the probes (check.py), then a clean SIGTERM (exit 0).
#
#   run.sh [path/to/http-event-processor]
#
# Agent binary: $1, else $HEP_AGENT, else <repo>/build/agent/http-event-processor. Needs
# python3. The data dir and the agent's log live in a temp dir, kept on failure (or always
# with HEP_E2E_KEEP=1). Bounded by $HEP_E2E_TIMEOUT seconds (default 120).
set -u

if [ -z "${HEP_E2E_INNER:-}" ]; then
    export HEP_E2E_INNER=1
    exec timeout -k 10 "${HEP_E2E_TIMEOUT:-120}" bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
AGENT=${1:-${HEP_AGENT:-$ROOT/build/agent/http-event-processor}}

log() { printf 'e2e-api: %s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }

[ -x "$AGENT" ] || die "agent binary not found or not executable: $AGENT"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hep-e2e-api.XXXXXX") || exit 1
AGENT_PID=
ok=0
cleanup() {
    if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -KILL "$AGENT_PID" 2>/dev/null
    fi
    if [ "$ok" = 1 ] && [ -z "${HEP_E2E_KEEP:-}" ]; then
        rm -rf "$WORK"
    else
        log "logs and data kept in $WORK"
    fi
}
trap cleanup EXIT

read -r SPOP_PORT HTTP_PORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

API_TOKEN=api-$RANDOM$RANDOM
INGEST_TOKEN=ingest-$RANDOM$RANDOM
"$AGENT" --spop-listen "127.0.0.1:$SPOP_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
    --data-dir "$WORK/data" --log-level info \
    --api-token "$API_TOKEN" --ingest-token "$INGEST_TOKEN" \
    --redact-json-field password --max-request-bytes 262144 \
    --event-expiry-minutes 0.01 --cleanup-interval-minutes 0.005 \
    >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!

for _ in $(seq 100); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/healthz', timeout=1)" \
        2>/dev/null && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log"; die "agent exited at start"; }
    sleep 0.1
done

python3 "$HERE/check.py" "$HTTP_PORT" "$API_TOKEN" "$INGEST_TOKEN" || {
    tail -n 30 "$WORK/agent.log"
    die "API checks failed"
}

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
[ "$rc" = 0 ] || { tail -n 30 "$WORK/agent.log"; die "agent exited with $rc on SIGTERM"; }
ok=1
log "pass"
