#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check_conf.sh VERSION - `haproxy -c` of that version on every configuration of its family in
# haproxy-conf/ (capture.cfg, host.cfg), with the default environment and with the test
# overrides (tune.bufsize 1 MiB).  Warnings count as failures (-dW... is not in 2.6, so the
# output is checked instead).  3.0/3.2/3.4 come from scripts/haproxy-versions.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
V=${1:?usage: check_conf.sh VERSION}
HAPROXY=$(bash "$ROOT/scripts/haproxy-versions.sh" fetch "$V" | awk '{print $2}')
[ -n "$HAPROXY" ] || { echo "check_conf: HAProxy $V could not be fetched"; exit 1; }
case $V in
    3.[1-9]* | [4-9].*) FAMILY=haproxy-3.1+ ;;
    *) FAMILY=haproxy-2.4-3.0 ;;
esac
rc=0
for cfg in "$ROOT/haproxy-conf/$FAMILY"/*.cfg; do
    for env in "" "CAPTURE_BUFSIZE=1048576"; do
        out=$(env $env "$HAPROXY" -c -f "$cfg" 2>&1)
        st=$?
        if [ "$st" != 0 ] || grep -q 'WARNING\|ALERT' <<<"$out"; then
            echo "check_conf: FAIL: haproxy $V -c -f $cfg ${env:+($env)} (status $st):"
            echo "$out"
            rc=1
        else
            echo "check_conf: ok: haproxy $V -c -f ${cfg#"$ROOT"/} ${env:+($env)}"
        fi
    done
done
exit $rc
