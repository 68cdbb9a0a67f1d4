#!/usr/bin/env python3
"""The README's configuration table must match `http-event-processor --help`.

Usage: check_readme_flags.py BINARY README.md

Every flag --help prints (but --help and --version) needs a row in the table of the README's
"## Configuration" section whose first cell names it (`--flag ...`), and that row's second cell
must name the flag's environment variable when --help shows one (Env:NAME). A row for a flag
--help does not print is stale. Exit status 0 when they agree, 1 otherwise.
"""
from __future__ import annotations

import re
import subprocess
import sys


def help_flags(binary: str) -> dict[str, str | None]:
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    flags: dict[str, str | None] = {}
    for m in re.finditer(r"^\s+(?:-\w,)?--([a-z0-9][a-z0-9-]*)([^\n]*)", out, re.M):
        env = re.search(r"\(Env:([A-Z0-9_]+)\)", m.group(2))
        flags[m.group(1)] = env.group(1) if env else None
    for builtin in ("help", "version"):
        flags.pop(builtin, None)
    return flags


def readme_rows(readme: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    section = None
    for line in open(readme, encoding="utf-8").read().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if section != "Configuration" or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for flag in re.findall(r"`--([a-z0-9][a-z0-9-]*)", cells[0]):
            rows[flag] = cells[1] if len(cells) > 1 else ""
    return rows


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, readme = sys.argv[1], sys.argv[2]
    flags, rows = help_flags(binary), readme_rows(readme)
    problems = []
    if not rows:
        problems.append(f"{readme}: no flag table under '## Configuration'")
    for flag, env in sorted(flags.items()):
        if flag not in rows:
            problems.append(f"--{flag} (env {env or '-'}) is missing from the README configuration table")
        elif env and env not in rows[flag]:
            problems.append(f"README row of --{flag} does not name its environment variable {env}")
    for flag in sorted(set(rows) - set(flags)):
        problems.append(f"README lists --{flag}, which `--help` does not print")
    for p in problems:
        print(f"FAIL: {p}")
    print(f"check_readme_flags: {len(flags)} flags, "
          f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
