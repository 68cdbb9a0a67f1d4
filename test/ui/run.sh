#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - the web viewer end to end in a real browser: the real agent on loopback with an API
# token, fed by replaying the SPOP frames recorded from HAProxy 2.6
# (test/fixtures/spop/haproxy-2.6-capture.bin), then viewer.test.js (node's test runner)
# driving Debian's headless chromium with playwright-core. Ends with a SIGTERM (exit 0).
#
#   run.sh [path/to/http-event-processor] [artifact dir]
#
# Then stats.test.js, the overview (chart and routes), on the same agent, and fleet.test.js, the
# viewer on a second replica that has the first among its --peers. Screenshots go to the
# artifact dir (default: a temp dir). docs/viewer.png, the README's picture, is a copy of
# detail-1280.png, and docs/stats.png of stats-1280.png. Needs python3, node, /usr/bin/chromium (or
# $HEP_CHROMIUM) and playwright-core in .hep/node (scripts/deps.sh --with-ui). The agent's log
# lives in a temp dir, kept on failure (or always with HEP_E2E_KEEP=1). Bounded by
# $HEP_UI_TIMEOUT seconds (default 180).
set -u

if [ -z "${HEP_UI_INNER:-}" ]; then
    export HEP_UI_INNER=1
    exec timeout -k 10 "${HEP_UI_TIMEOUT:-180}" bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AGENT=${1:-${HEP_AGENT:-$ROOT/build/agent/http-event-processor}}
CHROMIUM=${HEP_CHROMIUM:-/usr/bin/chromium}
NODE_MODULES=$ROOT/.hep/node/node_modules

log() { printf 'ui-viewer: %s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }

[ -x "$AGENT" ] || die "agent binary not found or not executable: $AGENT"
[ -x "$CHROMIUM" ] || die "chromium not found at $CHROMIUM (bash scripts/deps.sh --with-ui)"
[ -f "$NODE_MODULES/playwright-core/package.json" ] ||
    die "playwright-core not in $NODE_MODULES (bash scripts/deps.sh --with-ui)"
command -v node >/dev/null 2>&1 || die "node not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

. "$ROOT/test/common/agent.sh"
hep_work_dir hep-ui
ARTIFACTS=${2:-$WORK/artifacts}
mkdir -p "$ARTIFACTS"

# A short expiry so that a lone half shows up as incomplete within seconds.
TOKEN=ui-$RANDOM$RANDOM
hep_start_agent "$WORK/agent.log" --data-dir "$WORK/data" --log-level info --api-token "$TOKEN" \
    --event-expiry-minutes 0.05 --cleanup-interval-minutes 0.01 ||
    { cat "$WORK/agent.log"; die "the agent did not start"; }

python3 "$ROOT/test/fixtures/tools/spop_fixture.py" replay \
    "$ROOT/test/fixtures/spop/haproxy-2.6-capture.bin" --agent "127.0.0.1:$HEP_SPOP_PORT" \
    >"$WORK/replay.log" 2>&1 || { cat "$WORK/replay.log"; die "replaying the SPOP fixture failed"; }
log "replayed $(grep -c OK "$WORK/replay.log") recorded SPOP connections"

HEP_URL="http://127.0.0.1:$HEP_HTTP_PORT" HEP_TOKEN="$TOKEN" HEP_ARTIFACTS="$ARTIFACTS" \
HEP_CHROMIUM="$CHROMIUM" NODE_PATH="$NODE_MODULES" \
    node --test --test-reporter=spec "$HERE/viewer.test.js" || {
    tail -n 30 "$WORK/agent.log"
    die "browser tests failed (screenshots in $ARTIFACTS)"
}
# The overview, on the same agent, after the viewer's tests (its data set is dated long before).
HEP_URL="http://127.0.0.1:$HEP_HTTP_PORT" HEP_TOKEN="$TOKEN" HEP_ARTIFACTS="$ARTIFACTS" \
HEP_CHROMIUM="$CHROMIUM" NODE_PATH="$NODE_MODULES" \
    node --test --test-reporter=spec "$HERE/stats.test.js" || {
    tail -n 30 "$WORK/agent.log"
    die "overview browser tests failed (screenshots in $ARTIFACTS)"
}

# The viewer in front of a fleet: a second replica with --peers this agent and a port nothing
# listens on (docs/api.md, "Fleet read").
FIRST_PID=$HEP_AGENT_PID
FIRST_HTTP=$HEP_HTTP_PORT
trap 'kill -KILL "$FIRST_PID" 2>/dev/null; hep_cleanup' EXIT
DOWN=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hep_start_agent "$WORK/front.log" --data-dir "$WORK/front-data" --log-level info --api-token "$TOKEN" \
    --peers "127.0.0.1:$FIRST_HTTP,$DOWN" --peer-timeout 1 ||
    { cat "$WORK/front.log"; die "the front replica did not start"; }
HEP_URL="http://127.0.0.1:$HEP_HTTP_PORT" HEP_PEER_URL="http://127.0.0.1:$FIRST_HTTP" \
HEP_DOWN_PEER="$DOWN" HEP_TOKEN="$TOKEN" HEP_ARTIFACTS="$ARTIFACTS" \
HEP_CHROMIUM="$CHROMIUM" NODE_PATH="$NODE_MODULES" \
    node --test --test-reporter=spec "$HERE/fleet.test.js" || {
    tail -n 30 "$WORK/front.log"
    die "fleet browser tests failed (screenshots in $ARTIFACTS)"
}
hep_stop_agent || { tail -n 30 "$WORK/front.log"; die "the front replica did not exit 0 on SIGTERM"; }
HEP_AGENT_PID=$FIRST_PID

hep_stop_agent || { tail -n 30 "$WORK/agent.log"; die "the agent did not exit 0 on SIGTERM"; }
HEP_OK=1
log "pass (screenshots in $ARTIFACTS)"
