#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# verify_fixture.sh ARCHIVE [verify.py check flags...]: runs verify.py check on a recorded
# e2e run (haproxy.log, backend-access.jsonl, events.json, data/ as run.sh leaves them) and
# exits with its status. Regression tests for the verifier itself: each archive is a real
# run that once made verify.py judge wrongly.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
archive=$1; shift
work=$(mktemp -d /tmp/hep-verify-fixture.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"
python3 "$HERE/verify.py" check --haproxy-log "$work/haproxy.log" --data-dir "$work/data" \
    --backend-log "$work/backend-access.jsonl" --events "$work/events.json" "$@"
