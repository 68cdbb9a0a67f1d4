#!/usr/bin/env python3
"""Static checks of deploy/: the Helm chart and the Dockerfile (neither helm nor docker runs here).

Usage: check_chart.py [--root REPO] [--binary PATH/TO/http-event-processor]

Chart (deploy/helm/http-event-processor):
  * yamllint (deploy/.yamllint) on Chart.yaml, values.yaml and examples/*.yaml;
  * every .Values.* path a template uses exists in values.yaml and in the README values table;
    every values.yaml key is in the table and used by a template; no stale table rows;
    every key of examples/*.yaml exists in values.yaml;
  * template actions are balanced ({{ }}, if/range/with/define/block ... end, else inside a
    block) and every include/template names a define;
  * files/haproxy-<family>/ are identical to haproxy-conf/haproxy-<family>/.
Dockerfile (deploy/Dockerfile) and .dockerignore:
  * the build stage runs scripts/deps.sh and the same cmake commands as scripts/run.sh, and
    copies the binary from where run.sh builds it;
  * every COPY source exists and is not excluded by .dockerignore, nor is anything the CMake
    build reads;
  * with --binary: the runtime stage installs exactly the packages that own the libraries
    `ldd` lists (dpkg -S), sanitizer runtimes aside; the flags and environment variables the
    chart passes exist in `--help` (flags of features still to come are listed and allowed).
Exit status 0 when everything holds, 1 otherwise (every problem is printed).
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# Flags the chart already passes for features the agent does not have yet (placeholders).
PENDING_FLAGS: set[str] = set()
SANITIZER_LIBS = re.compile(r"lib(asan|ubsan|lsan|tsan|hwasan)\.so")
BLOCK_START = {"if", "range", "with", "define", "block"}

problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)


# ----------------------------------------------------------------------------------- YAML keys
def yaml_paths(text: str) -> dict[str, bool]:
    """Dotted key paths of a YAML file -> True for a leaf (scalar, [], {} or list), False for a map.

    Uses PyYAML when present; otherwise a small indentation parser that understands what the
    chart's files use (block maps, lists, inline scalars/[]/{}; keys inside list items ignored).
    """
    try:
        import yaml  # type: ignore
    except ImportError:
        yaml = None
    if yaml is not None:
        out: dict[str, bool] = {}

        def walk(node, prefix):
            for k, v in node.items():
                p = f"{prefix}.{k}" if prefix else str(k)
                if isinstance(v, dict) and v:
                    out[p] = False
                    walk(v, p)
                else:
                    out[p] = True
        walk(yaml.safe_load(text) or {}, "")
        return out
    out = {}
    stack: list[tuple[int, str]] = []  # (indent, key or "-")
    block_indent = None
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if indent > block_indent:
                continue
            block_indent = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        body = line.strip()
        if body.startswith("- ") or body == "-":
            stack.append((indent, "-"))
            continue
        m = re.match(r'^("[^"]*"|[^:\s][^:]*):(?:\s+(.*))?$', body)
        if not m or any(k == "-" for _, k in stack):
            continue
        key, value = m.group(1).strip('"'), (m.group(2) or "").strip()
        path = ".".join([k for _, k in stack] + [key])
        out[path] = value != ""
        if value in ("|", "|-", ">", ">-"):
            block_indent = indent
        elif value == "":
            stack.append((indent, key))
    # A key with nothing under it but list items is a leaf.
    for p in list(out):
        if not out[p] and not any(q.startswith(p + ".") for q in out):
            out[p] = True
    return out


def ancestors(path: str):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        yield ".".join(parts[:i])


# ------------------------------------------------------------------------------------- chart
def check_yamllint(root: Path, chart: Path) -> None:
    files = [chart / "Chart.yaml", chart / "values.yaml", *sorted((chart / "examples").glob("*.yaml"))]
    exe = shutil.which("yamllint")
    if exe is None:
        fail("yamllint is not installed (scripts/deps.sh installs it)")
        return
    r = subprocess.run([exe, "-s", "-c", str(root / "deploy/.yamllint"), *map(str, files)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("yamllint:\n" + (r.stdout + r.stderr).strip())


def template_actions(name: str, text: str):
    """Yields the inside of every {{ }} action; reports unclosed ones and stray '}}'."""
    pos = 0
    while True:
        start = text.find("{{", pos)
        stray = text.find("}}", pos, start if start >= 0 else len(text))
        if stray >= 0:
            fail(f"{name}: '}}}}' outside an action at line {text.count(chr(10), 0, stray) + 1}")
        if start < 0:
            return
        line = text.count("\n", 0, start) + 1
        if text.startswith("{{/*", start) or text.startswith("{{- /*", start):
            end = text.find("*/", start)
            close = text.find("}}", end) if end >= 0 else -1
            if end < 0 or close < 0 or text[end + 2:close].strip(" -") != "":
                fail(f"{name}:{line}: comment not closed by '*/}}}}'")
                return
            pos = close + 2
            continue
        end = text.find("}}", start + 2)
        if end < 0:
            fail(f"{name}:{line}: '{{{{' without '}}}}'")
            return
        inner = text[start + 2:end]
        if "{{" in inner:
            fail(f"{name}:{line}: '{{{{' inside an action")
        yield line, inner.strip().removeprefix("-").removesuffix("-").strip()
        pos = end + 2


def check_templates(chart: Path) -> tuple[set[str], set[str]]:
    """Returns (.Values paths used, flag names passed in args)."""
    used: set[str] = set()
    defines: set[str] = set()
    includes: list[tuple[str, str]] = []
    flags: set[str] = set()
    tdir = chart / "templates"
    for f in sorted(tdir.iterdir()):
        if not f.is_file():
            continue
        text = f.read_text()
        stack: list[tuple[str, int]] = []
        for line, act in template_actions(f.name, text):
            word = act.split(None, 1)[0] if act else ""
            if word in BLOCK_START:
                stack.append((word, line))
                if word == "define":
                    m = re.match(r'define\s+"([^"]+)"', act)
                    if m:
                        defines.add(m.group(1))
            elif word == "else":
                if not stack or stack[-1][0] not in ("if", "with", "range"):
                    fail(f"{f.name}:{line}: 'else' outside if/with/range")
            elif word == "end":
                if not stack:
                    fail(f"{f.name}:{line}: 'end' without an open block")
                else:
                    stack.pop()
            for m in re.finditer(r"\b(?:include|template)\s+\"([^\"]+)\"", act):
                includes.append((f"{f.name}:{line}", m.group(1)))
            for m in re.finditer(r'\$\.Template\.BasePath\s+"/([^"]+)"', act):
                if not (tdir / m.group(1)).is_file():
                    fail(f"{f.name}:{line}: templates/{m.group(1)} does not exist")
            for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", act):
                used.add(m.group(1)[1:])
            for m in re.finditer(r'"--([a-z0-9][a-z0-9-]*)', act):
                flags.add(m.group(1))
        for m in re.finditer(r'^\s*- "--([a-z0-9][a-z0-9-]*)"', text, re.M):
            flags.add(m.group(1))
        for word, line in stack:
            fail(f"{f.name}:{line}: '{word}' never closed by 'end'")
    for where, name in includes:
        if name not in defines:
            fail(f"{where}: include \"{name}\" names no define")
    return used, flags


def readme_keys(readme: Path) -> set[str]:
    keys = set()
    in_values = False
    for line in readme.read_text().splitlines():
        if line.startswith("## "):
            in_values = line.strip() == "## Values"
        m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if in_values and m:
            keys.add(m.group(1))
    if not keys:
        fail(f"{readme}: no '## Values' table")
    return keys


def check_chart(root: Path, chart: Path) -> set[str]:
    check_yamllint(root, chart)
    values = yaml_paths((chart / "values.yaml").read_text())
    table = readme_keys(chart / "README.md")
    used, flags = check_templates(chart)
    for p in sorted(used):
        if p not in values:
            fail(f"templates use .Values.{p}, which values.yaml does not define")
        if not any(a in table for a in ancestors(p)):
            fail(f"templates use .Values.{p}, which the README values table does not list")
    for p, leaf in sorted(values.items()):
        if not leaf:
            continue
        if not any(a in table for a in ancestors(p)):
            fail(f"values.yaml key {p} is not in the README values table")
        if not any(a in used for a in ancestors(p)):
            fail(f"values.yaml key {p} is used by no template")
    for k in sorted(table):
        if k not in values:
            fail(f"README values table lists {k}, which values.yaml does not define")
    for ex in sorted((chart / "examples").glob("*.yaml")):
        for p in yaml_paths(ex.read_text()):
            if p not in values and not any(values.get(a) for a in ancestors(p)):
                fail(f"{ex.relative_to(root)}: {p} is not a key of values.yaml")
    fam = re.search(r'configFamily:\s*"([^"]+)"', (chart / "values.yaml").read_text())
    families = sorted(d.name for d in (chart / "files").glob("haproxy-*") if d.is_dir())
    if fam and f"haproxy-{fam.group(1)}" not in families:
        fail(f"files/haproxy-{fam.group(1)}/ missing (the default configFamily)")
    for d in families:
        for name in ("capture.cfg", "capture-spoe.conf"):
            ours, theirs = chart / "files" / d / name, root / "haproxy-conf" / d / name
            if not theirs.is_file():
                fail(f"haproxy-conf/{d}/{name} does not exist (chart copy {ours.relative_to(root)})")
            elif not ours.is_file() or ours.read_bytes() != theirs.read_bytes():
                fail(f"{ours.relative_to(root)} differs from haproxy-conf/{d}/{name}: "
                     f"cp haproxy-conf/{d}/{name} {ours.relative_to(root)}")
    return flags


# -------------------------------------------------------------------------------- Dockerfile
def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        word, _, rest = s.partition(" ")
        out.append((word.upper(), " ".join(rest.split())))
    return out


def dockerignore_patterns(root: Path) -> list[str]:
    f = root / ".dockerignore"
    if not f.is_file():
        fail(".dockerignore is missing")
        return []
    return [l.strip().rstrip("/") for l in f.read_text().splitlines() if l.strip() and not l.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    path = os.path.normpath(path)
    if path == ".":
        return False
    result = False
    parts = path.split("/")
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        alts = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        for i in range(1, len(parts) + 1):
            cand = "/".join(parts[:i])
            if any(fnmatch.fnmatchcase(cand, a) for a in alts):
                result = not neg
                break
    return result


def runtime_packages(instrs: list[tuple[str, str]]) -> list[str]:
    stages, cur = [], []
    for ins in instrs:
        if ins[0] == "FROM":
            cur = []
            stages.append(cur)
        cur.append(ins)
    pkgs = []
    for word, rest in stages[-1] if stages else []:
        if word != "RUN":
            continue
        for cmd in rest.split("&&"):
            toks = shlex.split(cmd)
            if "apt-get" in toks and "install" in toks:
                pkgs += [t for t in toks[toks.index("install") + 1:] if not t.startswith("-")]
    return pkgs


def needed_packages(binary: str) -> set[str] | None:
    if not shutil.which("ldd") or not shutil.which("dpkg"):
        print("note: ldd or dpkg missing, runtime package check skipped")
        return None
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"ldd {binary}: {r.stderr.strip()}")
        return None
    pkgs = set()
    for line in r.stdout.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if "not found" in line:
            fail(f"ldd {binary}: {line.strip()}")
        if not m or SANITIZER_LIBS.search(m.group(1)):
            continue
        lib = m.group(1)
        cands = [lib, os.path.realpath(lib)]
        cands += ["/usr" + c for c in cands if c.startswith("/lib")]
        owner = None
        for c in cands:
            q = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
            if q.returncode == 0:
                owner = q.stdout.split(":")[0].split(",")[0].strip()
                break
        if owner is None:
            fail(f"dpkg -S: no package owns {lib} (runtime packages cannot be checked)")
        else:
            pkgs.add(owner)
    return pkgs


def check_dockerfile(root: Path, binary: str | None) -> None:
    df = root / "deploy/Dockerfile"
    instrs = dockerfile_instructions(df.read_text())
    text = " ".join(f"{w} {r}" for w, r in instrs)
    froms = [r for w, r in instrs if w == "FROM"]
    if len(froms) < 2:
        fail("deploy/Dockerfile: expected a build and a runtime stage")
    if not re.search(r"ARG DEBIAN_IMAGE=debian:12-slim", text):
        fail("deploy/Dockerfile: base image must default to debian:12-slim")
    if "bash scripts/deps.sh" not in text:
        fail("deploy/Dockerfile: the build stage must run scripts/deps.sh")
    run_sh = (root / "scripts/run.sh").read_text()
    for line in run_sh.splitlines():
        s = line.strip()
        if s.startswith("cmake "):
            cmd = " ".join(s.replace(">/dev/null", "").split())
            if cmd not in text:
                fail(f"deploy/Dockerfile does not run scripts/run.sh's `{cmd}`")
    m = re.search(r"^agent_bin=\$root/(\S+)", run_sh, re.M)
    workdir = next((r for w, r in instrs if w == "WORKDIR"), "/")
    if m and f"--from=build {workdir.rstrip('/')}/{m.group(1)} " not in text:
        fail(f"deploy/Dockerfile must copy the binary from {workdir}/{m.group(1)} (scripts/run.sh)")
    patterns = dockerignore_patterns(root)
    for w, rest in instrs:
        if w not in ("COPY", "ADD"):
            continue
        args = shlex.split(rest)
        if any(a.startswith("--from") for a in args):
            continue
        srcs = [a for a in args if not a.startswith("--")][:-1]
        for s in srcs:
            if not (root / s).exists():
                fail(f"deploy/Dockerfile: COPY source {s} does not exist")
            elif ignored(s, patterns):
                fail(f"deploy/Dockerfile: COPY source {s} is excluded by .dockerignore")
    cml = (root / "CMakeLists.txt").read_text()
    needed = ["CMakeLists.txt", "scripts/deps.sh"]
    needed += re.findall(r"^add_subdirectory\((\w+)\)", cml, re.M)
    needed += re.findall(r"^include\((cmake/[^)]+)\)", cml, re.M)
    for n in needed:
        if ignored(n, patterns):
            fail(f".dockerignore excludes {n}, which the image build needs")
    if not re.search(r"USER (\d+)", text) or re.search(r"USER (0|root)\b", text):
        fail("deploy/Dockerfile: the runtime stage must run as a numeric non-root USER")
    for want in ("EXPOSE 8080 12345", "VOLUME [\"/app/logs\"]", "ENV DATA_DIR=/app/logs", "HEALTHCHECK "):
        if want not in text:
            fail(f"deploy/Dockerfile: missing `{want}`")
    hc = root / "deploy/healthcheck.sh"
    r = subprocess.run(["bash", "-n", str(hc)], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"deploy/healthcheck.sh: {r.stderr.strip()}")
    pkgs = runtime_packages(instrs)
    if not pkgs:
        fail("deploy/Dockerfile: no apt-get install in the runtime stage")
    if binary:
        need = needed_packages(binary)
        if need is not None:
            missing, extra = need - set(pkgs), set(pkgs) - need
            if missing:
                fail(f"deploy/Dockerfile runtime stage lacks {sorted(missing)} (ldd {binary} | dpkg -S)")
            if extra:
                fail(f"deploy/Dockerfile runtime stage installs {sorted(extra)}, which the binary does not need")
            print(f"runtime packages: {' '.join(sorted(need))}")


def help_names(binary: str) -> tuple[set[str], set[str]]:
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"^\s+(?:-\w,)?--([a-z0-9][a-z0-9-]*)", out, re.M))
    envs = set(re.findall(r"\(Env:([A-Z0-9_]+)\)", out))
    return flags, envs


def check_chart_flags(chart: Path, flags: set[str], binary: str) -> None:
    have, envs = help_names(binary)
    for f in sorted(flags):
        if f in have:
            continue
        if f in PENDING_FLAGS:
            print(f"note: the chart passes --{f}, which the agent does not have yet (pending)")
        else:
            fail(f"the chart passes --{f}, which `{binary} --help` does not list")
    for f in sorted(PENDING_FLAGS & have):
        print(f"note: --{f} exists now: drop it from PENDING_FLAGS in {__file__}")
    dep = (chart / "templates/deployment.yaml").read_text()
    for env in ("API_TOKEN", "INGEST_TOKEN"):
        if f"name: {env}" in dep and env not in envs:
            fail(f"the chart sets {env}, which `{binary} --help` does not list")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--binary", help="built http-event-processor (enables the ldd and --help checks)")
    a = ap.parse_args()
    root = Path(a.root).resolve()
    chart = root / "deploy/helm/http-event-processor"
    flags = check_chart(root, chart)
    check_dockerfile(root, a.binary)
    if a.binary:
        check_chart_flags(chart, flags, a.binary)
    for p in problems:
        print(f"FAIL: {p}")
    print(f"check_chart: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
