#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Follows the agent's segment files while it writes and records every stored record's id.

    harvest.py DATA_DIR OUT_TSV [--interval S]

Every --interval seconds (default 1) it looks for new <DATA_DIR>/segments/<day>/exchanges-*.jsonl
files, opens each one as soon as it appears and keeps the descriptor open, so a segment that
retention deletes later can still be read to its end. New whole lines (up to the last '\\n') are
parsed and `<id>\\t<complete>\\t<segment>\\n` is appended to OUT_TSV. A descriptor is closed once
its file is unlinked and read to the end. SIGTERM/SIGINT: one last pass, then exit 0.
Lines that are not JSON objects with an "id" are counted and reported on stderr.
"""
import json
import os
import signal
import sys
import time

data, out_path = sys.argv[1], sys.argv[2]
interval = float(sys.argv[sys.argv.index("--interval") + 1]) if "--interval" in sys.argv else 1.0
seg_dir = os.path.join(data, "segments")
stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

files = {}  # path -> [fd, offset, leftover bytes]
done = set()
bad = 0
lines = 0
out = open(out_path, "w", buffering=1 << 20)


def scan():
    global bad, lines
    try:
        days = sorted(os.listdir(seg_dir))
    except FileNotFoundError:
        days = []
    for day in days:
        d = os.path.join(seg_dir, day)
        try:
            names = sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for n in names:
            p = os.path.join(d, n)
            if not (n.startswith("exchanges-") and n.endswith(".jsonl")) or p in files or p in done:
                continue
            try:
                files[p] = [os.open(p, os.O_RDONLY), 0, b""]
            except FileNotFoundError:
                pass
    for p in list(files):
        fd, off, rest = files[p]
        while True:
            chunk = os.pread(fd, 1 << 20, off)
            if not chunk:
                break
            off += len(chunk)
            buf = rest + chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                rest = buf
                continue
            rest = buf[cut + 1:]
            seg = os.path.basename(p)
            for line in buf[:cut].split(b"\n"):
                lines += 1
                try:
                    rec = json.loads(line)
                    out.write(f"{rec['id']}\t{'1' if rec.get('complete') else '0'}\t{seg}\n")
                except (ValueError, KeyError, TypeError):
                    bad += 1
        files[p] = [fd, off, rest]
        if os.fstat(fd).st_nlink == 0:  # deleted by retention and read to the end
            os.close(fd)
            del files[p]
            done.add(p)


while not stop:
    scan()
    t = time.monotonic() + interval
    while not stop and time.monotonic() < t:
        time.sleep(0.1)
scan()
out.close()
print(f"harvest: {lines} lines, {bad} not records, {len(files) + len(done)} segments", file=sys.stderr)
