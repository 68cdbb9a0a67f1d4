#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/kafka.sh's arithmetic.

    summary.py run SAMPLES_TSV T_LOAD WARMUP_S T_END T_DRAINED
        One run's figures from bench/kafka/poll.py's samples, as `key=value ...`: counters at
        the end (after the drain), exchanges/s delivered to Kafka and stored on disk over
        spop-load's measured window [T_LOAD + WARMUP_S, T_END] (counters interpolated linearly
        between samples), the agent's CPU from T_LOAD to T_DRAINED per paired exchange, and the
        mock process's CPU per delivered exchange.
    summary.py report OUT_DIR
        Markdown: medians per phase and mode, ratios against the first file-only mode of the
        same phase (also per repetition: same rep, adjacent runs; a second file-only mode is an
        A/A control that shows the noise), and every run.
"""
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from summarize import fmt, load, med, num  # noqa: E402


def at(rows, key, t):
    """Counter `key` at time t, linear between the samples around it."""
    pts = [(r["t"], num(r[key])) for r in rows if num(r[key]) is not None]
    if not pts:
        return None
    if t <= pts[0][0]:
        return pts[0][1]
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
    return pts[-1][1]


def run(path, t_load, warmup, t_end, t_drained):
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["t"] = float(r["t"])
    if len(rows) < 2:
        sys.exit(1)
    w0 = t_load + warmup
    last = rows[-1]

    def final(key):
        v = num(last[key])
        return None if v is None else int(v)

    def rate(key):
        a, b = at(rows, key, w0), at(rows, key, t_end)
        return None if a is None or b is None or t_end <= w0 else (b - a) / (t_end - w0)

    paired = final("correlator.paired")
    cpu = at(rows, "agent_cpu_s", t_drained) - at(rows, "agent_cpu_s", t_load)
    mock = at(rows, "mock_cpu_s", t_drained) - at(rows, "mock_cpu_s", t_load)
    delivered = final("kafka.delivered")
    out = {
        "paired": paired,
        "stored": final("storage.stored"),
        "store_dropped": final("storage.dropped"),
        "k_submitted": final("kafka.submitted"),
        "k_delivered": delivered,
        "k_dropped": final("kafka.dropped"),
        "k_failed": final("kafka.failed"),
        "k_per_s": rate("kafka.delivered"),
        "store_per_s": rate("storage.stored"),
        "agent_cpu_s": cpu,
        "agent_us_per_exchange": cpu * 1e6 / paired if paired else None,
        "mock_cpu_s": mock if mock > 0 else None,
        "mock_us_per_delivered": mock * 1e6 / delivered if mock > 0 and delivered else None,
    }

    def show(v):
        if v is None:
            return "-"
        return str(v) if isinstance(v, int) else f"{v:.3f}"

    print(" ".join(f"{k}={show(v)}" for k, v in out.items()))


def total(rs, key):
    vals = [num(r[key]) for r in rs if num(r[key]) is not None]
    return f"{int(sum(vals)):,}" if vals else "-"


def spread(rs, key):
    vals = sorted(num(r[key]) for r in rs if num(r[key]) is not None)
    return f"{fmt(vals[0])}–{fmt(vals[-1])}" if vals else "-"


def ratio(a, b, digits=2):
    return f"{a / b:.{digits}f}×" if a is not None and b else "-"


def report(out):
    rows = load(os.path.join(out, "runs.tsv"))
    with open(os.path.join(out, "machine.txt")) as f:
        print("```\n" + f.read().rstrip() + "\n```\n")
    phases = list(dict.fromkeys(r["phase"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    for ph in phases:
        prs = [r for r in rows if r["phase"] == ph]
        rate = num(prs[0]["rate"])
        # The first file-only mode is the baseline; another one is an A/A control (noise).
        bmode = next((r["mode"] for r in prs if r["kind"] == "file"), None)
        base = [r for r in prs if r["mode"] == bmode]
        bp99, bcpu = med(base, "p99_us"), med(base, "agent_us_per_exchange")
        print(f"### {ph}: {'flat out' if not rate else f'{rate:,.0f} NOTIFY/s offered'}\n")
        print("Medians of the repetitions; ratios against the file-only mode of the same phase: "
              "of the medians, and the median of the per-repetition ratios (same rep, adjacent "
              "runs). Drops summed over the repetitions.\n")
        print("| mode | kafka options | runs | ACKed NOTIFY/s | ACK p50 µs | p99 µs | p99 range | "
              "p99.9 µs | p99 vs file (medians / per rep) | Kafka delivered exch/s | Kafka drops | "
              "stored exch/s | store drops | agent CPU µs/exchange | vs file | mock CPU µs/delivered "
              "| agent RSS peak MiB | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for m in modes:
            rs = [r for r in prs if r["mode"] == m]
            if not rs:
                continue
            kind = rs[0]["kind"]
            per_rep = []
            for r in rs:
                b = [x for x in base if x["rep"] == r["rep"]]
                if b and num(b[0]["p99_us"]):
                    per_rep.append({"x": num(r["p99_us"]) / num(b[0]["p99_us"])})
            p99, cpu = med(rs, "p99_us"), med(rs, "agent_us_per_exchange")
            vs_p99 = "-" if m == bmode else \
                f"{ratio(p99, bp99)} / {ratio(med(per_rep, 'x'), 1)}"
            hwm = med(rs, "agent_hwm_kb")
            kafka = kind != "file"
            print(f"| {m} | {rs[0]['options'] if kafka else '-'} | {len(rs)} | "
                  f"{fmt(med(rs, 'notify_per_s'))} | {fmt(med(rs, 'p50_us'))} | {fmt(p99)} | "
                  f"{spread(rs, 'p99_us')} | {fmt(med(rs, 'p999_us'))} | {vs_p99} | "
                  f"{fmt(med(rs, 'k_per_s')) if kafka else '-'} | "
                  f"{total(rs, 'k_dropped') if kafka else '-'} | {fmt(med(rs, 'store_per_s'))} | "
                  f"{total(rs, 'store_dropped')} | {fmt(cpu, 2)} | "
                  f"{'-' if m == bmode else ratio(cpu, bcpu)} | "
                  f"{fmt(med(rs, 'mock_us_per_delivered'), 2) if kind == 'kafka' else '-'} | "
                  f"{fmt(hwm / 1024 if hwm else None)} | {fmt(med(rs, 'load'), 2)} |")
        print()
    print("Per run (in the order run):\n")
    print("| phase | mode | rep | ACKed NOTIFY/s | p99 µs | verified | Kafka exch/s | Kafka "
          "delivered / dropped / failed | stored exch/s | stored / dropped | agent CPU s | µs/exchange "
          "| mock CPU s | drain s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['phase']} | {r['mode']} | {r['rep']} | {fmt(num(r['notify_per_s']))} | "
              f"{fmt(num(r['p99_us']))} | {r['verified']} | {fmt(num(r['k_per_s']))} | "
              f"{r['k_delivered']} / {r['k_dropped']} / {r['k_failed']} | "
              f"{fmt(num(r['store_per_s']))} | {r['stored']} / {r['store_dropped']} | "
              f"{fmt(num(r['agent_cpu_s']), 2)} | {fmt(num(r['agent_us_per_exchange']), 2)} | "
              f"{fmt(num(r['mock_cpu_s']), 2)} | {r['drain_s']} | {r['load']} |")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], *(float(a) for a in sys.argv[3:7]))
    else:
        report(sys.argv[2])
