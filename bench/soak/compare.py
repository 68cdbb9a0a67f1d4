#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Verdicts of bench/soak.sh: stored vs logged transactions, RSS and descriptors over time.

    compare.py OUT_DIR WARMUP_S

Reads OUT_DIR/haproxy.log (one access-log line per transaction, `uid=<unique-id> spoe_err=`),
OUT_DIR/harvest.tsv (bench/soak/harvest.py: id, complete, segment per stored record),
OUT_DIR/samples.tsv (the 10 s samples) and OUT_DIR/wrk.txt; prints Markdown and writes
OUT_DIR/verdict.txt (`lost=N duplicated=N extra=N rss_flat=yes|no ...`).
"""
import collections
import csv
import os
import re
import sys

out, warmup = sys.argv[1], float(sys.argv[2])

logged = []
no_txn = 0  # lines with uid=- : connections closed before a request (<BADREQ>), no transaction
spoe_err = collections.Counter()
uid_re = re.compile(r" uid=(.*?) spoe_err=(\S*)")
with open(os.path.join(out, "haproxy.log"), errors="replace") as f:
    for line in f:
        m = uid_re.search(line)
        if m and m.group(1) == "-":
            no_txn += 1
        elif m:
            logged.append(m.group(1))
            spoe_err[m.group(2)] += 1
stored = collections.Counter()
incomplete = 0
segments = set()
with open(os.path.join(out, "harvest.tsv")) as f:
    for line in f:
        uid, complete, seg = line.rstrip("\n").split("\t")
        stored[uid] += 1
        incomplete += complete == "0"
        segments.add(seg)
logged_set = set(logged)
log_dups = len(logged) - len(logged_set)
lost = logged_set - stored.keys()
extra = stored.keys() - logged_set
dups = {k: v for k, v in stored.items() if v > 1}

samples = list(csv.DictReader(open(os.path.join(out, "samples.tsv")), delimiter="\t"))
num = lambda r, k: float(r[k]) if r.get(k) not in (None, "", "-") else None
after = [r for r in samples if float(r["t_s"]) >= warmup]
rss = [num(r, "rss_kb") for r in after if num(r, "rss_kb")]
fds = [num(r, "fds") for r in samples if num(r, "fds") is not None]
rss0 = rss[0] if rss else None
flat = bool(rss) and (max(rss) - min(rss)) <= 0.10 * rss0

info = {}
try:
    for line in open(os.path.join(out, "haproxy-info.txt")):
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
except OSError:
    pass
dropped_logs = int(info["DroppedLogs"]) if info.get("DroppedLogs", "").isdigit() else None
# show stat (CSV after `# pxname,svname,...`): requests of the captured frontend.
cum_req = None
try:
    text = open(os.path.join(out, "haproxy-info.txt")).read()
    head = text[text.index("# pxname"):].splitlines()
    cols = head[0][2:].split(",")
    for row in csv.DictReader(head[1:], fieldnames=cols):
        if row["pxname"] == "fe_capture" and row["svname"] == "FRONTEND":
            cum_req = int(row["req_tot"])
except (OSError, ValueError, KeyError):
    pass
explained = dropped_logs is not None and len(extra) <= dropped_logs and not (lost or dups)

wrk = open(os.path.join(out, "wrk.txt")).read()
m = re.search(r"^SUMMARY (.*)$", wrk, re.M)
w = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}

print(f"- traffic: {int(w.get('requests', 0)):,} requests by wrk in {float(w.get('duration_s', 0)):.0f} s = "
      f"{float(w.get('rps', 0)):,.0f} req/s; p50 {w.get('p50_ms')} ms, p99 {w.get('p99_ms')} ms through HAProxy; "
      f"wrk errors: connect {w.get('errors_connect')}, read {w.get('errors_read')}, "
      f"status {w.get('errors_status')}, timeout {w.get('errors_timeout')}")
print(f"- HAProxy logged {len(logged):,} transactions ({len(logged_set):,} distinct unique-ids"
      f"{f', {log_dups} repeated in the log' if log_dups else ''}"
      f"{f'; plus {no_txn} line(s) with uid=- (connection closed before any request, no transaction)' if no_txn else ''}"
      "); spoe_err: "
      + ", ".join(f"`{k}` {v:,}" for k, v in sorted(spoe_err.items())))
print(f"- stored (read back from the segment files while they were written, {len(segments)} segments): "
      f"{sum(stored.values()):,} records, {len(stored):,} distinct ids, {incomplete:,} with complete:false")
print(f"- **lost** (logged, not stored): {len(lost):,}; **duplicated** (stored more than once): "
      f"{len(dups):,}; stored but not logged: {len(extra):,}")
if dropped_logs is not None:
    print(f"- HAProxy `show info;show stat`: fe_capture req_tot {cum_req if cum_req is None else f'{cum_req:,}'} HTTP requests, "
          f"DroppedLogs {dropped_logs:,}"
          + (f"; the {len(extra)} stored-but-not-logged ids are transactions whose log line HAProxy "
             f"dropped (stored distinct ids {len(stored):,} vs fe_capture req_tot {cum_req})" if extra and explained else ""))
for name, s in (("lost", lost), ("extra", extra), ("duplicated", dups)):
    if s:
        print(f"  - first {name}: " + ", ".join(f"`{x}`" for x in sorted(s)[:5]))
if rss:
    print(f"- agent RSS after the {warmup:.0f} s warm-up: first {rss0 / 1024:.1f} MiB, last "
          f"{rss[-1] / 1024:.1f} MiB, min {min(rss) / 1024:.1f}, max {max(rss) / 1024:.1f} MiB "
          f"(spread {100 * (max(rss) - min(rss)) / rss0:.1f}% of the first); flat within 10%: "
          f"{'yes' if flat else '**no**'}")
# The index grows with every stored record until retention deletes segments (storage.index_bytes,
# ~20 B per record): RSS net of it shows whether anything else grows.
net = [num(r, "rss_kb") - num(r, "index_bytes") / 1024 for r in after
       if num(r, "rss_kb") and num(r, "index_bytes") is not None]
if net:
    print(f"- agent RSS minus storage.index_bytes after the warm-up: first {net[0] / 1024:.1f} MiB, last "
          f"{net[-1] / 1024:.1f} MiB, min {min(net) / 1024:.1f}, max {max(net) / 1024:.1f} MiB "
          f"(spread {100 * (max(net) - min(net)) / net[0]:.1f}% of the first)")
ret = [r for r in samples if (num(r, "deleted_records") or 0) > 0]
if ret:
    rr = [num(r, "rss_kb") for r in ret]
    print(f"- once retention was deleting segments (from t={float(ret[0]['t_s']):.0f} s, {len(ret)} samples): RSS "
          f"first {rr[0] / 1024:.1f}, last {rr[-1] / 1024:.1f}, min {min(rr) / 1024:.1f}, max {max(rr) / 1024:.1f} MiB "
          f"(spread {100 * (max(rr) - min(rr)) / rr[0]:.1f}%); stored bytes stayed at "
          f"{min(num(r, 'stored_bytes') for r in ret) / 2**20:,.0f}-{max(num(r, 'stored_bytes') for r in ret) / 2**20:,.0f} MiB")
if fds:
    print(f"- agent open descriptors: first {fds[0]:.0f}, last {fds[-1]:.0f}, min {min(fds):.0f}, max {max(fds):.0f}")
last = samples[-1] if samples else {}
print(f"- agent at the last sample: stored {last.get('stored')}, dropped {last.get('dropped')}, "
      f"write_errors {last.get('write_errors')}, deleted by retention {last.get('deleted_records')} records, "
      f"{last.get('live_segments')} live segments, {int(float(last.get('stored_bytes') or 0)):,} bytes stored, "
      f"index {int(float(last.get('index_bytes') or 0)):,} bytes, SPOP errors {last.get('spop_errors')}")
with open(os.path.join(out, "verdict.txt"), "w") as f:
    f.write(f"logged={len(logged_set)} stored={len(stored)} lost={len(lost)} duplicated={len(dups)} "
            f"extra={len(extra)} dropped_logs={dropped_logs} fe_req_tot={cum_req} incomplete={incomplete} rss_flat={'yes' if flat else 'no'} "
            f"rss_first_kb={rss0:.0f} rss_last_kb={rss[-1]:.0f} rss_max_kb={max(rss):.0f} "
            f"fds_max={max(fds):.0f}\n" if rss and fds else "no samples\n")

# One row per minute (and the last sample): RSS and descriptors over time.
print("\n| t (s) | agent RSS MiB | fds | stored | stored MB on disk | live segments | deleted records | index KiB | pending halves | queue | HAProxy RSS MiB | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
shown = set()
last_shown = -1e9
for r in samples:
    t = float(r["t_s"])
    minute = int(t // 60)
    if minute in shown and (r is not samples[-1] or t - last_shown < 5):
        continue
    last_shown = t
    shown.add(minute)
    f = lambda k, d=1.0, fmt="{:,.0f}": fmt.format(float(r[k]) / d) if r.get(k) not in (None, "", "-") else "-"
    print(f"| {t:.0f} | {f('rss_kb', 1024, '{:.1f}')} | {f('fds')} | {f('stored')} | {f('stored_bytes', 1e6)} | "
          f"{f('live_segments')} | {f('deleted_records')} | {f('index_bytes', 1024)} | {f('pending')} | "
          f"{f('queue_depth')} | {f('haproxy_rss_kb', 1024, '{:.1f}')} | {r.get('load')} |")
