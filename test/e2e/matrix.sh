#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# matrix.sh - every end-to-end scenario that applies to one HAProxy version.
#
#   matrix.sh VERSION [path/to/http-event-processor]      VERSION: 2.6 3.0 3.2 3.4
#
# Runs run.sh once per scenario, one after the other (each starts and stops its own backend,
# agent, HAProxy and, where it measures the wire, spop_proxy.py; all on 127.0.0.1):
#   main       25 scenarios + 1,000 load requests through spop_proxy.py: every transaction
#              stored and checked; several NOTIFYs in flight on one connection and never more
#              than 20 (pipelining); GET /status spop.errors == 0; 3.1+: the TCP resets HAProxy
#              closes its connections with at stop are counted as resets;
#   idle       connections left idle: 2.x/3.0 send DISCONNECT(2) after "timeout idle", 3.1+
#              purge them from the idle pool with a TCP reset and no DISCONNECT; either way no
#              error is counted and HAProxy opens a new connection for the next request;
#   reload     master-worker (-W), two SIGUSR2 reloads during load: every transaction HAProxy
#              completed is stored;
#   restart    the agent stopped and started again during load: HAProxy answers every
#              request, the gap shows as spoe_err in its log, capture resumes;
#   buf64k     tune.bufsize 65536: HAProxy offers max-frame-size 65532 and the agent takes it;
#   buf1m      tune.bufsize 1048576: offer 1048572 taken; the 100 KiB upload and the 64 KiB
#              response are stored whole (truncated only with smaller buffers);
#   frag-agent (2.x/3.0) the agent answers max-frame-size 1024 and announces fragmentation:
#              HAProxy fragments every NOTIFY over 1024 bytes; all stored exactly;
#   frag-haproxy (2.x/3.0) HAProxy's own spoe-agent max-frame-size 1024 (it offers 1024): the
#              same, driven from HAProxy's side.
# MATRIX_ONLY="main idle" restricts the list.  Prints one result line per scenario and a
# summary; exit status 1 when any scenario failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=${1:?usage: matrix.sh VERSION [agent]}
AGENT=${2:-${HEP_AGENT:-$ROOT/build/agent/http-event-processor}}
export HEP_E2E_VERSION=$VERSION
case $VERSION in
    3.[1-9]* | [4-9].*) V3=1 FAMILY=haproxy-3.1+ ;;
    *) V3= FAMILY=haproxy-2.4-3.0 ;;
esac

# Fetch first (no-op when cached) so a failed download fails here, loudly.
if [ "$VERSION" != 2.6 ]; then
    bash "$ROOT/scripts/haproxy-versions.sh" fetch "$VERSION" >/dev/null ||
        { echo "matrix $VERSION: FAIL: HAProxy $VERSION could not be fetched"; exit 1; }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hep-matrix.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
SMALL="01 03 04 05 06 11 13 14 19 22"
RESULTS=()
FAILS=0

# sc NAME ENV=VALUE...: one run.sh run; its output goes to $TMP/NAME.log, shown on failure.
sc() {
    local name=$1; shift
    if [ -n "${MATRIX_ONLY:-}" ] && [[ " $MATRIX_ONLY " != *" $name "* ]]; then return 0; fi
    local t0=$SECONDS
    env "$@" HEP_E2E_TIMEOUT="${HEP_E2E_TIMEOUT:-150}" bash "$HERE/run.sh" "$AGENT" \
        >"$TMP/$name.log" 2>&1
    local rc=$?
    local summary
    summary=$(grep -h '^summary:' "$TMP/$name.log" | sed 's/^summary: //')
    local exp
    exp=$(grep -h '^expect: \(status\|proxy\) ' "$TMP/$name.log" | sed 's/^expect: //' | tr '\n' ' ')
    local gap
    gap=$(grep -h "^note: gap:\|^note: tolerated:\|^e2e: note:\|exited with code 139" "$TMP/$name.log" | sed "s/^note: //")
    if [ "$rc" = 0 ]; then
        RESULTS+=("PASS $name ($((SECONDS - t0))s)")
    else
        RESULTS+=("FAIL $name ($((SECONDS - t0))s)")
        FAILS=$((FAILS + 1))
        echo "----- matrix $VERSION $name: FAILED, its output: -----"
        grep -v '^note: \|^[0-9][0-9]-' "$TMP/$name.log" | tail -n 60
    fi
    echo "matrix $VERSION $name: $([ "$rc" = 0 ] && echo PASS || echo FAIL) in $((SECONDS - t0))s"
    [ -n "$summary" ] && echo "    $summary"
    [ -n "$gap" ] && echo "    $gap"
    [ -n "$exp" ] && echo "    $exp"
}

BASE_RULES="status.spop.errors==0 status.spop.read_errors==0 status.spop.bad_messages==0"

# main: pipelining through the proxy; 3.1+ resets its SPOP connections at stop.
RULES="$BASE_RULES proxy.max_inflight>=2 proxy.max_inflight<=20 proxy.unknown_acks==0"
[ -n "$V3" ] && RULES="$RULES proxy.closed_by_haproxy_reset>=1 status.spop.resets>=1"
sc main HEP_E2E_PROXY=1 HEP_E2E_EXPECT="$RULES"

# idle: what HAProxy does with idle SPOP connections.
if [ -n "$V3" ]; then
    RULES="$BASE_RULES proxy.connections>=2 proxy.closed_by_haproxy_reset>=2 status.spop.resets>=2 proxy.disconnect_from_haproxy~{}"
else
    RULES="$BASE_RULES proxy.connections>=2 proxy.disconnect_from_haproxy.2>=1"
fi
sc idle HEP_E2E_SCENARIO=idle HEP_E2E_PROXY=1 CAPTURE_SPOA_IDLE=2s CAPTURE_SPOA_PURGE=1s \
    HEP_E2E_EXPECT="$RULES"

sc reload HEP_E2E_SCENARIO=reload LOAD_N=400 HEP_E2E_EXPECT="$BASE_RULES"

# restart: no proxy, so HAProxy meets a closed port while the agent is down.
sc restart HEP_E2E_SCENARIO=restart LOAD_N=400 HEP_E2E_EXPECT="$BASE_RULES"

sc buf64k ONLY="$SMALL" CAPTURE_BUFSIZE=65536 HEP_E2E_PROXY=1 \
    HEP_E2E_EXPECT="$BASE_RULES proxy.hello_offers~max-frame-size=65532 proxy.agent_hello~max-frame-size=65532"
sc buf1m ONLY="$SMALL" CAPTURE_BUFSIZE=1048576 HEP_E2E_PROXY=1 \
    HEP_E2E_EXPECT="$BASE_RULES proxy.hello_offers~max-frame-size=1048572 proxy.agent_hello~max-frame-size=1048572"

if [ -z "$V3" ]; then
    sc frag-agent ONLY="$SMALL" HEP_E2E_PROXY=1 HEP_E2E_AGENT_ARGS="--max-frame-size 1024" \
        HEP_E2E_EXPECT="$BASE_RULES proxy.agent_hello~max-frame-size=1024 proxy.fragments>=10 status.spop.fragments>=10"
    mkdir -p "$TMP/conf-frag"
    cp "$ROOT/haproxy-conf/$FAMILY/"* "$TMP/conf-frag/"
    sed -i 's/^    use-backend be_spoa$/    use-backend be_spoa\n    max-frame-size 1024/' \
        "$TMP/conf-frag/capture-spoe.conf"
    grep -q '^    max-frame-size 1024' "$TMP/conf-frag/capture-spoe.conf" || echo "matrix: sed failed"
    sc frag-haproxy ONLY="$SMALL" HEP_E2E_PROXY=1 HEP_E2E_CONF="$TMP/conf-frag/capture.cfg" \
        HEP_E2E_EXPECT="$BASE_RULES proxy.hello_offers~max-frame-size=1024 proxy.fragments>=10 status.spop.fragments>=10"
fi

echo "matrix $VERSION: ${RESULTS[*]}"
if [ "$FAILS" -gt 0 ]; then
    echo "matrix $VERSION: $FAILS scenario(s) FAILED"
    exit 1
fi
echo "matrix $VERSION: all ${#RESULTS[@]} scenarios passed"
