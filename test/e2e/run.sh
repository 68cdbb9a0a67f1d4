#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - end-to-end test: real HAProxy + our agent + a Python backend.
#
#   run.sh [path/to/http-event-processor]
#
# Agent binary: $1, else $HEP_AGENT, else <repo>/build/agent/http-event-processor.
# HAProxy: $HAPROXY (a binary, or a command line such as "<root>/ld-linux... --library-path
# ... <root>/usr/sbin/haproxy"), else haproxy from PATH.  Missing HAProxy is a failure.
# Config: $HEP_E2E_CONF, else haproxy-conf/haproxy-2.4-3.0/capture.cfg (as shipped).
#
# Steps: pick free 127.0.0.1 ports; start backend.py, the agent (data dir in a temp
# dir) and `haproxy -db`; wait until each answers; run drive.sh (25 scenarios + load of
# $LOAD_N requests from $LOAD_CONC clients); soft-stop HAProxy (SIGUSR1) and wait for
# it; page through GET /events until every logged transaction is visible (bounded);
# SIGTERM the agent, which must exit 0; run verify.py on HAProxy's log, the segment
# files, the saved pages and backend.py's access log (a second witness: HAProxy 2.6
# drops an access-log line now and then under load).  Everything started here is
# stopped by PID on exit.
# The whole run is bounded by $HEP_E2E_TIMEOUT seconds (default 270).
# Logs and data stay in the temp dir on failure (or always with HEP_E2E_KEEP=1).
set -u

if [ -z "${HEP_E2E_INNER:-}" ]; then
    # timeout(1) puts us in our own process group and, when the time is up, sends
    # TERM to the whole group: this script (whose trap cleans up) and its children.
    export HEP_E2E_INNER=1
    exec timeout -k 15 "${HEP_E2E_TIMEOUT:-270}" bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AGENT=${1:-${HEP_AGENT:-$ROOT/build/agent/http-event-processor}}
read -r -a HAPROXY_CMD <<<"${HAPROXY:-haproxy}"
CONF=${HEP_E2E_CONF:-$ROOT/haproxy-conf/haproxy-2.4-3.0/capture.cfg}
export LOAD_N=${LOAD_N:-1000} LOAD_CONC=${LOAD_CONC:-32}

log() { printf 'e2e: %s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }

# --- preconditions
[ -x "$AGENT" ] || die "agent binary not found or not executable: $AGENT"
command -v "${HAPROXY_CMD[0]}" >/dev/null 2>&1 || die "haproxy not found: ${HAPROXY_CMD[*]}"
command -v curl >/dev/null 2>&1 || die "curl not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
[ -f "$CONF" ] || die "HAProxy configuration not found: $CONF"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hep-e2e.XXXXXX") || exit 1
PIDS=()
STATUS=1

show_logs() {
    local f
    if [ -s "$WORK/haproxy.log" ] &&
        grep -qE 'WARNING|ALERT|st=[1-9]|spoe_err=[0-9]' "$WORK/haproxy.log"; then
        echo "----- first warnings and SPOE errors in haproxy.log -----"
        grep -E 'WARNING|ALERT|st=[1-9]|spoe_err=[0-9]' "$WORK/haproxy.log" | head -n 20
    fi
    for f in agent haproxy backend; do
        [ -s "$WORK/$f.log" ] || continue
        echo "----- last lines of $f.log ($WORK/$f.log) -----"
        tail -n 30 "$WORK/$f.log"
    done
}

cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$STATUS" != 0 ]; then
        show_logs
        log "FAILED; logs and data kept in $WORK"
    elif [ -n "${HEP_E2E_KEEP:-}" ]; then
        log "passed; logs and data kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$STATUS"
}
trap cleanup EXIT
trap 'log "interrupted (time limit?)"; exit 1' INT TERM

# wait_exit PID SECONDS: waits for a child to exit; SIGKILLs it after SECONDS.
# Sets RC to its exit status (137 if it had to be killed).  Polls: bash reaps
# its children as they exit, so kill -0 fails once the child is gone.
wait_exit() {
    local pid=$1 n=$(( $2 * 10 ))
    for _ in $(seq 1 "$n"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    RC=$?
}

# ready NAME PID URL SECONDS: polls URL until it answers 2xx; fails if PID dies.
ready() {
    local name=$1 pid=$2 url=$3 n=$(( $4 * 10 ))
    for _ in $(seq 1 "$n"); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; die "$name exited early (status $?)"; }
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$name not ready after $4 s ($url)"
}

# --- ports: bind port 0 four times at once (so they differ), then release
read -r FE_PORT APP_PORT SPOA_PORT API_PORT <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
')"
[ -n "$API_PORT" ] || die "could not pick free ports"
export CAPTURE_FE_ADDR=127.0.0.1:$FE_PORT CAPTURE_APP_ADDR=127.0.0.1:$APP_PORT
export CAPTURE_SPOA_ADDR=127.0.0.1:$SPOA_PORT CAPTURE_STATS_SOCK=$WORK/haproxy.sock
API=http://127.0.0.1:$API_PORT
log "work dir $WORK; ports fe=$FE_PORT app=$APP_PORT spop=$SPOA_PORT api=$API_PORT"
log "agent $AGENT; haproxy: $("${HAPROXY_CMD[@]}" -v 2>&1 | head -n 1)"

"${HAPROXY_CMD[@]}" -c -q -f "$CONF" >"$WORK/haproxy-check.log" 2>&1 ||
    { cat "$WORK/haproxy-check.log"; die "haproxy -c rejects $CONF"; }

# --- start: backend, agent, HAProxy
python3 "$HERE/backend.py" --listen "127.0.0.1:$APP_PORT" --quiet \
    --access-log "$WORK/backend-access.jsonl" >"$WORK/backend.log" 2>&1 &
BPID=$!; PIDS+=("$BPID")
ready backend "$BPID" "http://127.0.0.1:$APP_PORT/health" 10

mkdir -p "$WORK/data"
"$AGENT" --spop-listen "127.0.0.1:$SPOA_PORT" --http-listen "127.0.0.1:$API_PORT" \
    --data-dir "$WORK/data" --log-level "${HEP_E2E_LOG_LEVEL:-info}" >"$WORK/agent.log" 2>&1 &
APID=$!; PIDS+=("$APID")
ready agent "$APID" "$API/status" 15

"${HAPROXY_CMD[@]}" -db -f "$CONF" >"$WORK/haproxy.log" 2>&1 &
HPID=$!; PIDS+=("$HPID")
ready haproxy "$HPID" "http://127.0.0.1:$FE_PORT/haproxy-monitor" 10
log "backend pid $BPID, agent pid $APID, haproxy pid $HPID: ready"

# --- traffic
FAILED=()
timeout -k 5 180 bash "$HERE/drive.sh" "http://127.0.0.1:$FE_PORT" 2>&1 | tee "$WORK/drive.log"
[ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("drive.sh: some requests did not get the expected answer")

# --- soft-stop HAProxy: it finishes the streams (and their SPOE exchanges) first
kill -USR1 "$HPID"
wait_exit "$HPID" 20
[ "$RC" = 137 ] && FAILED+=("haproxy did not stop within 20 s of SIGUSR1")
log "haproxy stopped (status $RC)"

# --- settle: every transaction HAProxy sent to a server visible through GET /events
python3 "$HERE/verify.py" fetch --api "$API" --haproxy-log "$WORK/haproxy.log" \
    --backend-log "$WORK/backend-access.jsonl" \
    --wait "${HEP_E2E_SETTLE:-20}" --out "$WORK/events.json" ||
    FAILED+=("verify.py fetch failed")

# --- stop the agent: SIGTERM must flush and exit 0
if kill -0 "$APID" 2>/dev/null; then
    kill -TERM "$APID"
    wait_exit "$APID" 20
    case "$RC" in
        0) log "agent stopped cleanly (status 0)" ;;
        137) FAILED+=("agent did not exit within 20 s of SIGTERM (killed)") ;;
        *) FAILED+=("agent exited with status $RC after SIGTERM (want 0)") ;;
    esac
else
    wait "$APID"
    FAILED+=("agent died during the test (status $?)")
fi

# --- verify
python3 "$HERE/verify.py" check --haproxy-log "$WORK/haproxy.log" --data-dir "$WORK/data" \
    --backend-log "$WORK/backend-access.jsonl" \
    --events "$WORK/events.json" --scenarios --load "$LOAD_N" 2>&1 | tee "$WORK/verify.log"
[ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("verify.py found mismatches (see above)")

if [ "${#FAILED[@]}" -gt 0 ]; then
    for f in "${FAILED[@]}"; do log "FAIL: $f"; done
    exit 1
fi
STATUS=0
log "PASS"
