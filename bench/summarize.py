#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Medians and ratios of the bench scripts' per-run TSV files, as Markdown.
#   summarize.py e2e runs.tsv      modes nospoe/capture/discard, ratios against nospoe
#   summarize.py legacy runs.tsv   targets ours/standin, ratios against the stand-in
import csv
import statistics
import sys


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(rows, key):
    vals = [num(r[key]) for r in rows if num(r[key]) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def load(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def e2e(path):
    rows = load(path)
    modes = [m for m in ("nospoe", "capture", "discard") if any(r["mode"] == m for r in rows)]
    by = {m: [r for r in rows if r["mode"] == m] for m in modes}
    base = med(by.get("nospoe", []), "rps") if "nospoe" in by else None
    print(f"Medians of {max(len(v) for v in by.values())} interleaved runs per mode "
          f"(ratios against no-SPOE from the same run).\n")
    print("| mode | req/s | vs no SPOE | p50 ms | p99 ms | SPOE errors (runs summed) | "
          "HAProxy CPU µs/req | agent CPU µs/NOTIFY | agent RSS peak MiB | storage drops | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for m in modes:
        rs = by[m]
        rps = med(rs, "rps")
        ratio = f"{100 * rps / base:.0f}%" if base and rps else "-"
        errs = sum(int(r["spoe_err"]) for r in rs)
        lines = sum(int(r["log_lines"]) for r in rs)
        drops = "-" if m == "nospoe" else str(sum(int(num(r["dropped"]) or 0) for r in rs))
        hwm = med(rs, "agent_hwm_kb")
        print(f"| {m} | {fmt(rps)} | {ratio} | {fmt(med(rs, 'p50_ms'), 2)} | "
              f"{fmt(med(rs, 'p99_ms'), 2)} | {(str(errs) + ' of ' + format(lines, ',')) if m != 'nospoe' else '-'} | "
              f"{fmt(med(rs, 'haproxy_us_per_req'), 2)} | "
              f"{fmt(med(rs, 'agent_us_per_notify'), 2) if m != 'nospoe' else '-'} | "
              f"{fmt(hwm / 1024 if hwm else None) if m != 'nospoe' else '-'} | {drops} | "
              f"{fmt(med(rs, 'load_before'), 2)} |")
    print("\nPer run:\n")
    print("| mode | rep | req/s | p99 ms | spoe_err | HAProxy CPU s | agent CPU s | NOTIFY | µs/NOTIFY | agent read+write syscalls/NOTIFY | agent context switches/NOTIFY | agent CPU in the kernel | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['rep']} | {fmt(num(r['rps']))} | {r['p99_ms']} | {r['spoe_err']} | "
              f"{r['haproxy_cpu_s']} | {r['agent_cpu_s']} | {r['notify']} | "
              f"{r['agent_us_per_notify']} | {r.get('syscalls_per_notify', '-')} | "
              f"{r.get('ctx_per_notify', '-')} | "
              f"{(r['agent_sys_pct'] + '%') if (r.get('agent_sys_pct') or '-') != '-' else '-'} | "
              f"{r['load_before']} |")


def legacy(path):
    rows = load(path)
    keys = []
    for r in rows:
        k = (r["target"], r["kind"])
        if k not in keys:
            keys.append(k)
    print("Medians of interleaved runs (events/s = HTTP requests/s × events per request).\n")
    print("| target | kind | events/s | vs stand-in single | req/s | p50 ms | p99 ms | non-2xx/errors | RSS peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = None
    for r in rows:
        pass
    sb = [r for r in rows if r["target"] == "standin" and r["kind"] == "single"]
    base = med(sb, "events_per_s") if sb else None
    for t, k in keys:
        rs = [r for r in rows if r["target"] == t and r["kind"] == k]
        ev = med(rs, "events_per_s")
        ratio = f"{ev / base:.1f}×" if base and ev else "-"
        errs = sum(int(num(r["errors"]) or 0) for r in rs)
        hwm = med(rs, "hwm_kb")
        print(f"| {t} | {k} | {fmt(ev)} | {ratio} | {fmt(med(rs, 'rps'))} | "
              f"{fmt(med(rs, 'p50_ms'), 2)} | {fmt(med(rs, 'p99_ms'), 2)} | {errs} | "
              f"{fmt(hwm / 1024 if hwm else None)} |")


def load_runs(path):
    rows = load(path)
    names = []
    for r in rows:
        if r["config"] not in names:
            names.append(r["config"])
    print("Medians of interleaved runs; a fresh agent per run. \"stored/paired\" and drops are "
          "summed over the runs of a configuration.\n")
    print("| config | mode | data dir | offered NOTIFY/s | ACKed NOTIFY/s | ACK p50 µs | p99 µs | p99.9 µs | "
          "every ACK verified | agent CPU µs/NOTIFY | pairs stored / paired | storage drops | "
          "JSON bytes/pair | agent RSS peak MiB | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        rs = [r for r in rows if r["config"] == n]
        rate = num(rs[0]["rate"])
        ver = "yes" if all(r["verified"] == "yes" for r in rs) else "NO"
        stored = sum(int(num(r["stored"]) or 0) for r in rs)
        paired = sum(int(num(r["pairs"]) or 0) for r in rs)
        drops = sum(int(num(r["dropped"]) or 0) for r in rs)
        hwm = med(rs, "agent_hwm_kb")
        mode = rs[0]["mode"]
        bpp = [num(r.get("bytes_written")) / num(r["stored"]) for r in rs
               if num(r.get("bytes_written")) and num(r.get("stored"))]
        where = rs[0].get("data", "disk")
        where = "tmpfs" if where == "tmpfs" else "ext4 (/tmp)"
        print(f"| {n} | {mode} | {where if mode != 'discard' else '-'} | {'flat out' if not rate else fmt(rate)} | "
              f"{fmt(med(rs, 'notify_per_s'))} | {fmt(med(rs, 'p50_us'))} | {fmt(med(rs, 'p99_us'))} | "
              f"{fmt(med(rs, 'p999_us'))} | {ver} | {fmt(med(rs, 'agent_us_per_notify'), 2)} | "
              f"{'-' if mode == 'discard' else f'{stored:,} / {paired:,}'} | "
              f"{'-' if mode == 'discard' else f'{drops:,}'} | "
              f"{fmt(statistics.median(bpp), 0) if bpp else '-'} | {fmt(hwm / 1024 if hwm else None)} | "
              f"{fmt(med(rs, 'load'), 2)} |")


if __name__ == "__main__":
    {"e2e": e2e, "legacy": legacy, "load": load_runs}[sys.argv[1]](sys.argv[2])
