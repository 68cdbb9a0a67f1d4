#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Samples the agent's GET /status and CPU time while bench/kafka.sh loads it.

    poll.py API_URL AGENT_PID OUT_TSV [--interval S] [--max-seconds S] [--mock-pid PID]

Every --interval seconds (default 0.5) appends one line to OUT_TSV: wall time (s since the
epoch, as `date +%s.%N`), the agent's user+system CPU seconds (/proc/PID/stat, all threads),
the mock cluster's (with --mock-pid; else 0), and the counters bench/kafka.sh turns into rates:
correlator.paired, storage.stored/dropped/queue_depth, kafka.submitted/delivered/dropped/
failed/in_flight (empty without a Kafka sink). Stops when the agent exits, after --max-seconds
(default 600), or when killed (SIGTERM: lines are written whole, so nothing is lost). One
process, no fork per sample, so it costs the machine little (one HTTP request per interval).
"""
import json
import os
import sys
import time
import urllib.request

url, pid, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def opt(name, default):
    return float(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


interval = opt("--interval", 0.5)
max_seconds = opt("--max-seconds", 600)
mock_pid = int(opt("--mock-pid", 0))
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(p):
    if p <= 0:
        return 0.0
    try:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, IndexError, ValueError):
        return None


COLS = [("correlator", "paired"), ("storage", "stored"), ("storage", "dropped"),
        ("storage", "queue_depth"), ("kafka", "submitted"), ("kafka", "delivered"),
        ("kafka", "dropped"), ("kafka", "failed"), ("kafka", "in_flight")]

with open(out_path, "w", buffering=1) as out:
    out.write("t\tagent_cpu_s\tmock_cpu_s\t" + "\t".join(f"{g}.{k}" for g, k in COLS) + "\n")
    end = time.monotonic() + max_seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(url + "/status", timeout=2) as r:
                d = json.load(r)
        except Exception:
            d = None
        t = time.time()
        c = cpu_s(pid)
        if c is None:
            break  # the agent is gone
        if d is not None:
            vals = [str(d.get(g, {}).get(k, "")) for g, k in COLS]
            out.write(f"{t:.3f}\t{c:.2f}\t{cpu_s(mock_pid) or 0:.2f}\t" + "\t".join(vals) + "\n")
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
