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

. "$ROOT/test/common/agent.sh"
hep_work_dir hep-e2e-api

API_TOKEN=api-$RANDOM$RANDOM
INGEST_TOKEN=ingest-$RANDOM$RANDOM
hep_start_agent "$WORK/agent.log" --data-dir "$WORK/data" --log-level info \
    --api-token "$API_TOKEN" --ingest-token "$INGEST_TOKEN" \
    --redact-json-field password --max-request-bytes 262144 \
    --event-expiry-minutes 0.01 --cleanup-interval-minutes 0.005 ||
    { cat "$WORK/agent.log"; die "agent did not start"; }
HTTP_PORT=$HEP_HTTP_PORT

python3 "$HERE/check.py" "$HTTP_PORT" "$API_TOKEN" "$INGEST_TOKEN" || {
    tail -n 30 "$WORK/agent.log"
    die "API checks failed"
}

hep_stop_agent || { tail -n 30 "$WORK/agent.log"; die "agent did not exit 0 on SIGTERM"; }
HEP_OK=1
log "pass"
