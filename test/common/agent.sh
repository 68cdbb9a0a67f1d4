# SPDX-License-Identifier: Apache-2.0
# Shared by the shell-driven end-to-end tests (test/e2e/api, test/ui): the real agent on free
# loopback ports. Source it, set AGENT (the binary) and define log(), then:
#
#   hep_work_dir NAME            a fresh temp dir in WORK; at exit the agent is killed and WORK
#                                removed if HEP_OK=1 (kept otherwise, or with HEP_E2E_KEEP=1).
#   hep_start_agent LOG ARGS...  starts "$AGENT" --spop-listen/--http-listen on free ports with
#                                ARGS, its stdout and stderr in LOG, and waits for /healthz.
#                                Sets HEP_SPOP_PORT, HEP_HTTP_PORT and HEP_AGENT_PID. A port
#                                taken between choosing and binding it is retried on others.
#                                Returns 1 when the agent did not come up (see LOG).
#   hep_stop_agent               SIGTERM, then its exit status (0 is a clean shutdown).
#   hep_kill_agent               SIGKILL if it still runs (for an EXIT trap).

HEP_AGENT_PID=
HEP_OK=0

hep_work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
    trap hep_cleanup EXIT
}

hep_cleanup() {
    hep_kill_agent
    if [ "$HEP_OK" = 1 ] && [ -z "${HEP_E2E_KEEP:-}" ]; then
        rm -rf "$WORK"
    else
        log "logs and data kept in $WORK"
    fi
}

hep_free_ports() {
    python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])'
}

hep_start_agent() {
    local log=$1 attempt
    shift
    for attempt in 1 2 3; do
        read -r HEP_SPOP_PORT HEP_HTTP_PORT < <(hep_free_ports)
        "$AGENT" --spop-listen "127.0.0.1:$HEP_SPOP_PORT" --http-listen "127.0.0.1:$HEP_HTTP_PORT" \
            "$@" >"$log" 2>&1 &
        HEP_AGENT_PID=$!
        for _ in $(seq 100); do
            python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HEP_HTTP_PORT/healthz', timeout=1)" \
                2>/dev/null && return 0
            kill -0 "$HEP_AGENT_PID" 2>/dev/null || break
            sleep 0.1
        done
        hep_kill_agent
        grep -q "address already in use" "$log" || return 1
    done
    return 1
}

hep_stop_agent() {
    local rc
    kill -TERM "$HEP_AGENT_PID"
    wait "$HEP_AGENT_PID"
    rc=$?
    HEP_AGENT_PID=
    return "$rc"
}

hep_kill_agent() {
    if [ -n "$HEP_AGENT_PID" ] && kill -0 "$HEP_AGENT_PID" 2>/dev/null; then
        kill -KILL "$HEP_AGENT_PID" 2>/dev/null
        wait "$HEP_AGENT_PID" 2>/dev/null
    fi
    HEP_AGENT_PID=
}
