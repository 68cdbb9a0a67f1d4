#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - end-to-end test: real HAProxy + our agent + a Python backend.
#
#   run.sh [path/to/http-event-processor]
#
# Agent binary: $1, else $HEP_AGENT, else <repo>/build/agent/http-event-processor.
# HAProxy: $HAPROXY (a binary, or a command line such as "<root>/ld-linux... --library-path
# ... <root>/usr/sbin/haproxy"), else the version $HEP_E2E_VERSION (2.6 = Debian 12's haproxy
# from PATH; 3.0, 3.2, 3.4 = scripts/haproxy-versions.sh, which downloads it on first use: a
# failed download fails the test), else haproxy from PATH.  Missing HAProxy is a failure.
# Config: $HEP_E2E_CONF, else haproxy-conf/haproxy-2.4-3.0/capture.cfg for 2.x/3.0 and
# haproxy-conf/haproxy-3.1+/capture.cfg for 3.1+ (as shipped; CAPTURE_BUFSIZE and
# CAPTURE_SPOA_IDLE from the environment reach them).
#
# Scenario ($HEP_E2E_SCENARIO):
#   main     (default) drive.sh: the 25 scenarios and the load phase;
#   reload   HAProxy in master-worker mode (-W); the load phase runs while the master gets
#            SIGUSR2 twice; every transaction HAProxy completed must be stored;
#   restart  a paced load phase; the agent is stopped (SIGTERM, must exit 0) and started again
#            on the same data dir while HAProxy serves; every request must still get its
#            answer, the gap must show in HAProxy's log (spoe_err), capture must resume
#            (verify.py check --gap);
#   crash    like restart, but SIGKILL: every exchange that ended more than CRASH_WINDOW
#            (1.5 s: the 1 s fsync interval plus slack) before the kill is stored exactly
#            once, every line parses (verify.py check --crash-at);
#   disk-full  prlimit --fsize on the running agent makes its writes fail (EFBIG) as a full
#            disk would, then lifts the limit: no SPOE error, /readyz 503 and /status
#            degraded meanwhile, the exchanges not stored are exactly the write errors the
#            agent counted, writing resumes (verify.py check --lost-to-write-errors);
#   idle     scenarios 01 03, then HAProxy's SPOP connections stay idle past
#            CAPTURE_SPOA_IDLE, then 01 again: HAProxy closes and reopens connections.
# $HEP_E2E_PROXY=1 puts test/fixtures/tools/spop_proxy.py between HAProxy and the agent: it
# measures NOTIFYs in flight, HELLO offers and answers, resets, and with $HEP_E2E_RECORD=PREFIX
# records every frame as a fixture set.  $HEP_E2E_EXPECT holds extra rules checked at the end
# against GET /status and the proxy's counters (verify.py expect), e.g.
# "status.spop.errors==0 proxy.max_inflight>=2".  $HEP_E2E_AGENT_ARGS adds agent flags.
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
VERSION=${HEP_E2E_VERSION:-}
SCENARIO=${HEP_E2E_SCENARIO:-main}
export LOAD_N=${LOAD_N:-1000} LOAD_CONC=${LOAD_CONC:-32}

log() { printf 'e2e: %s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }

if [ -z "${HAPROXY:-}" ] && [ -n "$VERSION" ] && [ "$VERSION" != 2.6 ]; then
    HAPROXY=$(bash "$ROOT/scripts/haproxy-versions.sh" fetch "$VERSION" | awk '{print $2}') &&
        [ -n "$HAPROXY" ] || die "HAProxy $VERSION could not be fetched (scripts/haproxy-versions.sh)"
fi
read -r -a HAPROXY_CMD <<<"${HAPROXY:-haproxy}"
case $VERSION in
    3.[1-9]* | [4-9].*) FAMILY=haproxy-3.1+ ;;
    *) FAMILY=haproxy-2.4-3.0 ;;
esac
CONF=${HEP_E2E_CONF:-$ROOT/haproxy-conf/$FAMILY/capture.cfg}

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

# --- ports: bind port 0 five times at once (so they differ), then release
read -r FE_PORT APP_PORT SPOA_PORT API_PORT PROXY_PORT <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
')"
[ -n "$PROXY_PORT" ] || die "could not pick free ports"
export CAPTURE_FE_ADDR=127.0.0.1:$FE_PORT CAPTURE_APP_ADDR=127.0.0.1:$APP_PORT
export CAPTURE_SPOA_ADDR=127.0.0.1:$SPOA_PORT CAPTURE_STATS_SOCK=$WORK/haproxy.sock
[ -n "${HEP_E2E_PROXY:-}" ] && export CAPTURE_SPOA_ADDR=127.0.0.1:$PROXY_PORT
API=http://127.0.0.1:$API_PORT
log "work dir $WORK; ports fe=$FE_PORT app=$APP_PORT spop=$SPOA_PORT api=$API_PORT${HEP_E2E_PROXY:+ proxy=$PROXY_PORT}"
log "scenario $SCENARIO; agent $AGENT; haproxy: $("${HAPROXY_CMD[@]}" -v 2>&1 | head -n 1)"
log "config $CONF${CAPTURE_BUFSIZE:+ tune.bufsize=$CAPTURE_BUFSIZE}${CAPTURE_SPOA_IDLE:+ idle=$CAPTURE_SPOA_IDLE}${HEP_E2E_AGENT_ARGS:+ agent args: $HEP_E2E_AGENT_ARGS}"

"${HAPROXY_CMD[@]}" -c -q -f "$CONF" >"$WORK/haproxy-check.log" 2>&1 ||
    { cat "$WORK/haproxy-check.log"; die "haproxy -c rejects $CONF"; }

# --- start: backend, agent, HAProxy
python3 "$HERE/backend.py" --listen "127.0.0.1:$APP_PORT" --quiet \
    --access-log "$WORK/backend-access.jsonl" >"$WORK/backend.log" 2>&1 &
BPID=$!; PIDS+=("$BPID")
ready backend "$BPID" "http://127.0.0.1:$APP_PORT/health" 10

mkdir -p "$WORK/data"
read -r -a AGENT_ARGS <<<"${HEP_E2E_AGENT_ARGS:-}"
start_agent() {
    "$AGENT" --spop-listen "127.0.0.1:$SPOA_PORT" --http-listen "127.0.0.1:$API_PORT" \
        --data-dir "$WORK/data" --log-level "${HEP_E2E_LOG_LEVEL:-info}" "${AGENT_ARGS[@]}" \
        >>"$WORK/agent.log" 2>&1 &
    APID=$!; PIDS+=("$APID")
    ready agent "$APID" "$API/status" 15
}
start_agent

if [ -n "${HEP_E2E_PROXY:-}" ]; then
    python3 "$ROOT/test/fixtures/tools/spop_proxy.py" --listen "127.0.0.1:$PROXY_PORT" \
        --agent "127.0.0.1:$SPOA_PORT" --stats "$WORK/proxy-stats.json" \
        ${HEP_E2E_RECORD:+--out "$HEP_E2E_RECORD"} >"$WORK/proxy.log" 2>&1 &
    XPID=$!; PIDS+=("$XPID")
    for _ in $(seq 1 50); do [ -s "$WORK/proxy.log" ] && break; sleep 0.1; done
    kill -0 "$XPID" 2>/dev/null || die "spop_proxy.py exited early: $(cat "$WORK/proxy.log")"
fi

HAPROXY_MODE=(-db)
[ "$SCENARIO" = reload ] && HAPROXY_MODE=(-W -db)
"${HAPROXY_CMD[@]}" "${HAPROXY_MODE[@]}" -f "$CONF" >"$WORK/haproxy.log" 2>&1 &
HPID=$!; PIDS+=("$HPID")
ready haproxy "$HPID" "http://127.0.0.1:$FE_PORT/haproxy-monitor" 10
log "backend pid $BPID, agent pid $APID, haproxy pid $HPID${XPID:+, proxy pid $XPID}: ready"

# --- traffic
FAILED=()
BASE=http://127.0.0.1:$FE_PORT
drive() {  # drive [ENV=VALUE...]: drive.sh with extra environment, bounded, logged
    env "$@" timeout -k 5 180 bash "$HERE/drive.sh" "$BASE" 2>&1 | tee -a "$WORK/drive.log"
    [ "${PIPESTATUS[0]}" = 0 ] && return 0
    FAILED+=("drive.sh: some requests did not get the expected answer")
    return 1
}
# wait_load N: until backend.py has answered N more requests than before the load (bounded).
wait_load() {
    local want=$(( $(wc -l <"$WORK/backend-access.jsonl") + $1 ))
    for _ in $(seq 1 300); do
        [ "$(wc -l <"$WORK/backend-access.jsonl")" -ge "$want" ] && return 0
        sleep 0.1
    done
    log "note: the load did not reach $1 requests within 30 s"
}
VERIFY_ARGS=(--scenarios --load "$LOAD_N")
if [ -n "${ONLY:-}" ]; then
    VERIFY_ARGS=(--scenarios --only "$ONLY")
    [[ " $ONLY " == *" 30 "* ]] && VERIFY_ARGS+=(--load "$LOAD_N")
fi
case $SCENARIO in
    main)
        drive
        ;;
    reload)
        # The load runs in the background while the master re-executes itself twice.
        drive ONLY=30 LOAD_RATE="${LOAD_RATE:-150}" &
        DRIVE=$!
        wait_load 80
        log "reload 1: SIGUSR2 to the master ($HPID)"; kill -USR2 "$HPID"
        wait_load 120
        log "reload 2: SIGUSR2 to the master ($HPID)"; kill -USR2 "$HPID"
        wait "$DRIVE" || FAILED+=("drive.sh: some requests failed across the reloads")
        grep -q 'Reexecuting Master\|Reloading HAProxy\|Loading success' "$WORK/haproxy.log" ||
            FAILED+=("haproxy.log shows no reload")
        log "reloads in haproxy.log: $(grep -c 'Loading success' "$WORK/haproxy.log")"
        VERIFY_ARGS=(--load "$LOAD_N")
        # 2.x/3.0 soft-stop the old worker's SPOE applets with DISCONNECT(0) while events
        # still wait for their ACK: those events end with spoe_err=256 (SPOP status 0).
        [ "$FAMILY" = haproxy-2.4-3.0 ] && VERIFY_ARGS+=(--tolerate-err 256)
        if grep -q 'exited with code 139' "$WORK/haproxy.log"; then
            log "note: an old HAProxy worker crashed during the reload (exit 139, SIGSEGV):"
            grep 'exited with code 139' "$WORK/haproxy.log"
        fi
        ;;
    restart)
        drive ONLY=30 LOAD_RATE="${LOAD_RATE:-100}" &
        DRIVE=$!
        wait_load 80
        log "stopping the agent ($APID) while HAProxy serves"
        kill -TERM "$APID"
        wait_exit "$APID" 20
        [ "$RC" = 0 ] || FAILED+=("agent exited with status $RC on the SIGTERM before the restart")
        sleep "${RESTART_GAP:-1.5}"
        log "starting the agent again on the same data dir"
        start_agent
        wait "$DRIVE" || FAILED+=("drive.sh: HAProxy did not answer every request while the agent was down")
        VERIFY_ARGS=(--load "$LOAD_N" --gap)
        ;;
    crash)
        # Like restart, but SIGKILL: nothing is flushed or drained. On restart a torn last
        # line is cut; every exchange that ended more than a flush interval (plus scheduling
        # slack) before the kill must be on disk exactly once (verify.py --crash-at).
        # 100 req/s and an early kill: the transaction cut by the kill is logged only after
        # HAProxy's SPOE timeouts (~5 s), and capture must be seen resuming after that.
        drive ONLY=30 LOAD_RATE="${LOAD_RATE:-100}" &
        DRIVE=$!
        wait_load 100
        CRASH_AT=$(date +%s.%N)
        log "killing the agent ($APID) with SIGKILL while HAProxy serves"
        kill -KILL "$APID"
        wait_exit "$APID" 20
        sleep "${RESTART_GAP:-1}"
        log "starting the agent again on the same data dir"
        start_agent
        grep -q "cannot\|startup failed" "$WORK/agent.log" && FAILED+=("the restarted agent reported a problem")
        wait "$DRIVE" || FAILED+=("drive.sh: HAProxy did not answer every request while the agent was down")
        VERIFY_ARGS=(--load "$LOAD_N" --gap --crash-at "$CRASH_AT" --crash-window "${CRASH_WINDOW:-1.5}")
        ;;
    disk-full)
        # The agent's file-size limit (RLIMIT_FSIZE, set from outside with prlimit) makes its
        # segment writes fail with EFBIG mid-line, as a full disk would. It must keep ACKing
        # (no SPOE error in HAProxy's log), report degraded, count every exchange it could not
        # write, leave only whole lines, and resume when the limit is lifted.
        drive ONLY=30 LOAD_RATE="${LOAD_RATE:-150}" &
        DRIVE=$!
        wait_load 100
        cur=$(find "$WORK/data/segments" -name '*.jsonl' -printf '%s\n' | sort -n | tail -n 1)
        logsz=$(stat -c %s "$WORK/agent.log")
        limit=$(( (cur > logsz ? cur : logsz) + 3000 ))
        log "disk full: prlimit --fsize=$limit on the agent ($APID)"
        # The soft limit only: raising a hard limit back needs CAP_SYS_RESOURCE.
        prlimit --pid "$APID" --fsize="$limit:unlimited" || FAILED+=("prlimit failed")
        # Both are polled until each has said so: a smaller write can still fit under the
        # limit now and then, and the agent is writable again until the next one fails, so a
        # single look at /status after /readyz turned 503 may find it "ok" for a moment.
        degraded= status_degraded= code=
        for _ in $(seq 1 100); do
            if [ -z "$degraded" ]; then
                code=$(curl -s -o "$WORK/readyz.json" -w '%{http_code}' "$API/readyz")
                [ "$code" = 503 ] && degraded=1
            fi
            if [ -z "$status_degraded" ]; then
                curl -s "$API/status" | grep -q '"status":"degraded"' && status_degraded=1
            fi
            [ -n "$degraded" ] && [ -n "$status_degraded" ] && break
            sleep 0.1
        done
        [ -n "$degraded" ] || FAILED+=("/readyz did not turn 503 while writes failed")
        log "readyz while full: $code $(cat "$WORK/readyz.json")"
        [ -n "$status_degraded" ] || FAILED+=("/status does not say degraded while writes fail")
        wait_load 100
        log "space is back: prlimit --fsize=unlimited"
        prlimit --pid "$APID" --fsize=unlimited || FAILED+=("prlimit failed")
        ready_again=
        for _ in $(seq 1 100); do
            code=$(curl -s -o /dev/null -w '%{http_code}' "$API/readyz")
            [ "$code" = 200 ] && { ready_again=1; break; }
            sleep 0.1
        done
        [ -n "$ready_again" ] || FAILED+=("/readyz did not recover after the limit was lifted")
        wait "$DRIVE" || FAILED+=("drive.sh: some requests failed while the disk was full")
        VERIFY_ARGS=(--load "$LOAD_N" --lost-to-write-errors)
        ;;
    idle)
        drive ONLY="01 03"
        idle=${CAPTURE_SPOA_IDLE:-30s}
        log "idle for ${idle%s}s + 2s: HAProxy closes its idle SPOP connections"
        sleep $(( ${idle%s} + 2 ))
        drive ONLY="01"
        VERIFY_ARGS=()
        ;;
    *) die "unknown HEP_E2E_SCENARIO $SCENARIO" ;;
esac

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
    --backend-log "$WORK/backend-access.jsonl" --events "$WORK/events.json" \
    --haproxy-version "${VERSION:-2.6}" --bufsize "${CAPTURE_BUFSIZE:-16384}" \
    "${VERIFY_ARGS[@]}" 2>&1 | tee "$WORK/verify.log"
[ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("verify.py found mismatches (see above)")

if [ -n "${XPID:-}" ]; then
    kill -TERM "$XPID" 2>/dev/null
    wait_exit "$XPID" 5
fi
python3 "$HERE/verify.py" expect --events "$WORK/events.json" \
    ${XPID:+--proxy-stats "$WORK/proxy-stats.json"} ${HEP_E2E_EXPECT:-} 2>&1 | tee "$WORK/expect.log"
[ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("verify.py expect: a rule failed (see above)")

if [ "${#FAILED[@]}" -gt 0 ]; then
    for f in "${FAILED[@]}"; do log "FAIL: $f"; done
    exit 1
fi
STATUS=0
log "PASS"
