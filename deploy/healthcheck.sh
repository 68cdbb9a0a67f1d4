#!/bin/bash
# Container health check for http-event-processor without curl: GET /healthz over bash's
# /dev/tcp and expect HTTP 200. Used by deploy/Dockerfile's HEALTHCHECK.
# Port: HEALTHCHECK_PORT, else the port of HTTP_LISTEN, else PORT, else 8080 (the agent's own
# precedence for the environment). If you move the API with the --http-listen flag instead,
# set HEALTHCHECK_PORT too.
# Exit 0 = healthy, 1 = not.
set -u
port=${HEALTHCHECK_PORT:-}
if [[ -z $port && -n ${HTTP_LISTEN:-} ]]; then port=${HTTP_LISTEN##*:}; fi
port=${port:-${PORT:-8080}}
if ! { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  echo "healthcheck: no listener on :$port"
  exit 1
fi
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 2 status_line <&3 || { echo "healthcheck: no answer on :$port"; exit 1; }
exec 3<&-
if [[ $status_line == HTTP/1.[01]\ 200* ]]; then
  exit 0
fi
echo "healthcheck: ${status_line%$'\r'}"
exit 1
