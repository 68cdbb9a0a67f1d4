#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small renderer for this project's Helm chart, for tests on machines without `helm`.

    render_chart.py CHART [-f VALUES.yaml]... [--set KEY=VALUE]... [--name NAME] [--namespace NS]

It implements the part of Go's text/template and of Helm's functions that the chart's templates
use (test/deploy/check_render.py fails on anything else, so a template that needs more shows
at once): actions with whitespace trimming, comments, variables, pipelines, parentheses,
if/else if/else, with, range, define/include/template; the functions and, or, not, eq, ne, lt,
le, gt, ge, len, index, print, printf, default, quote, toYaml, indent, nindent, int, int64,
has, list, dict, fail, trunc, trimSuffix, ternary, max, min, sha256sum, set, replace,
contains, empty, required; the objects .Values, .Release, .Chart, .Template, .Files.Get.
Values files are merged over values.yaml the way helm merges them (maps key by key, the rest
replaced). Prints every rendered manifest, helm-style ("# Source: ..."), or the `fail` message
on stderr with exit status 1. This is not helm: it renders what our chart uses, no more.
"""
import argparse
import hashlib
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


class Fail(Exception):
    """A template called `fail`: helm stops with this message."""


# ------------------------------------------------------------------------------ lexing
ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def tokenize(src, name):
    """Text and action pieces, with {{- and -}} trimming applied."""
    out = []
    pos = 0
    for m in ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        out.append(("text", text))
        body = m.group(2).strip()
        out.append(("action", body, name))
        pos = m.end()
        if m.group(3):
            while pos < len(src) and src[pos] in " \t\r\n":
                pos += 1
    out.append(("text", src[pos:]))
    return out


TOKEN = re.compile(r'''\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|
    (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|
    (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|
    (?P<op>:=|=|\||\(|\)|,))''', re.X)


def lex_expr(s):
    toks = []
    pos = 0
    s = s.rstrip()
    while pos < len(s):
        m = TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise TemplateError("cannot read %r" % s[pos:])
        pos = m.end()
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
    return toks


# ------------------------------------------------------------------------------ parsing
class Node:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def parse_pipeline(toks):
    """[(kind, text)] -> Node(pipe): optional declaration, commands separated by '|'."""
    decl = None
    if len(toks) >= 2 and toks[0][0] == "var" and toks[1] == ("op", ":="):
        decl, toks = ("new", [toks[0][1]]), toks[2:]
    elif len(toks) >= 2 and toks[0][0] == "var" and toks[1] == ("op", "="):
        decl, toks = ("set", [toks[0][1]]), toks[2:]
    elif (len(toks) >= 4 and toks[0][0] == "var" and toks[1] == ("op", ",") and
          toks[2][0] == "var" and toks[3] == ("op", ":=")):
        decl, toks = ("new", [toks[0][1], toks[2][1]]), toks[4:]
    cmds, pos = parse_cmds(toks, 0)
    if pos != len(toks):
        raise TemplateError("unexpected %r" % (toks[pos],))
    return Node("pipe", decl=decl, cmds=cmds)


def parse_cmds(toks, pos):
    cmds = [[]]
    while pos < len(toks):
        kind, text = toks[pos]
        if (kind, text) == ("op", ")"):
            break
        if (kind, text) == ("op", "|"):
            cmds.append([])
            pos += 1
            continue
        if (kind, text) == ("op", "("):
            inner, pos = parse_cmds(toks, pos + 1)
            if pos >= len(toks) or toks[pos] != ("op", ")"):
                raise TemplateError("unbalanced parenthesis")
            cmds[-1].append(("sub", Node("pipe", decl=None, cmds=inner)))
            pos += 1
            continue
        cmds[-1].append((kind, text))
        pos += 1
    return cmds, pos


def parse(tokens):
    """Pieces -> a tree: list of nodes; defines collected separately."""
    defines = {}
    pos = 0

    def block(stop):
        nonlocal pos
        nodes = []
        while pos < len(tokens):
            t = tokens[pos]
            if t[0] == "text":
                if t[1]:
                    nodes.append(Node("text", text=t[1]))
                pos += 1
                continue
            body = t[1]
            if body.startswith("/*"):
                pos += 1
                continue
            word = body.split(None, 1)[0] if body else ""
            rest = body[len(word):].strip()
            if word in stop:
                return nodes, word, rest
            pos += 1
            if word in ("if", "with", "range"):
                branches = []
                cond = rest
                while True:
                    inner, w, r = block({"else", "end"})
                    branches.append((parse_pipeline(lex_expr(cond)) if cond is not None else None, inner))
                    pos += 1
                    if w == "end":
                        break
                    if word == "if" and r.startswith("if "):
                        cond = r[3:]
                    elif r:
                        raise TemplateError("else %s is not supported" % r)
                    else:
                        cond = None
                nodes.append(Node(word, branches=branches))
            elif word == "define":
                name = yaml.safe_load(rest)
                inner, w, _ = block({"end"})
                pos += 1
                defines[name] = inner
            elif word == "template":
                m = re.match(r'"([^"]*)"\s*(.*)$', rest)
                nodes.append(Node("template", name=m.group(1),
                                  arg=parse_pipeline(lex_expr(m.group(2))) if m.group(2) else None))
            elif word in ("else", "end"):
                raise TemplateError("unexpected {{%s}}" % word)
            else:
                nodes.append(Node("action", pipe=parse_pipeline(lex_expr(body))))
        if stop:
            raise TemplateError("missing {{end}}")
        return nodes, None, None

    nodes, _, _ = block(set())
    return nodes, defines


# ------------------------------------------------------------------------------ evaluation
def truth(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, dict)):
        return yaml.safe_dump(v, default_flow_style=True).strip()
    return str(v)


def go_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def go_printf(fmt, *args):
    out, i, ai = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        a = args[ai]
        ai += 1
        if verb in "sv":
            out.append(to_text(a))
        elif verb == "d":
            out.append(str(int(a)))
        elif verb == "q":
            out.append(go_quote(to_text(a)))
        else:
            raise TemplateError("printf verb %%%s is not supported" % verb)
    return "".join(out)


def to_int(v):
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        return int(float(v)) if re.match(r"^-?\d+(\.\d+)?$", v) else 0
    return int(v)


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in to_text(s).split("\n"))


class Renderer:
    def __init__(self, chart_dir, values, release_name, namespace):
        self.chart_dir = chart_dir
        chart = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
        self.chart_name = chart["name"]
        self.root = {
            "Values": values,
            "Release": {"Name": release_name, "Namespace": namespace, "Service": "Helm",
                        "IsInstall": True, "IsUpgrade": False, "Revision": 1},
            "Chart": {"Name": chart["name"], "Version": chart.get("version"),
                      "AppVersion": chart.get("appVersion")},
            "Template": {"BasePath": self.chart_name + "/templates"},
            "Files": FileGetter(chart_dir),
        }
        self.defines = {}
        self.files = {}  # template name -> nodes
        tdir = os.path.join(chart_dir, "templates")
        for f in sorted(os.listdir(tdir)):
            path = os.path.join(tdir, f)
            if not os.path.isfile(path):
                continue
            name = "%s/templates/%s" % (self.chart_name, f)
            try:
                nodes, defines = parse(tokenize(open(path).read(), name))
            except TemplateError as e:
                raise TemplateError("%s: %s" % (name, e))
            self.defines.update(defines)
            self.files[name] = nodes
        self.funcs = {
            "include": self.include, "fail": self.fail,
            "print": lambda *a: "".join(to_text(x) for x in a),
            "printf": go_printf,
            "default": lambda d, v=None: v if truth(v) else d,
            "quote": lambda *a: " ".join(go_quote(to_text(x)) for x in a),
            "toYaml": to_yaml, "indent": indent,
            "nindent": lambda n, s: "\n" + indent(n, s),
            "int": to_int, "int64": to_int,
            "has": lambda item, lst: item in (lst or []),
            "list": lambda *a: list(a),
            "dict": lambda *a: {a[i]: a[i + 1] for i in range(0, len(a), 2)},
            "not": lambda v: not truth(v),
            "eq": lambda a, *b: any(a == x for x in b),
            "ne": lambda a, b: a != b,
            "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
            "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
            "len": lambda v: len(v or []),
            "index": lambda v, *k: self.index(v, k),
            "trunc": lambda n, s: s[:int(n)] if int(n) >= 0 else s[int(n):],
            "trimSuffix": lambda suf, s: s[:-len(suf)] if suf and s.endswith(suf) else s,
            "ternary": lambda a, b, c: a if truth(c) else b,
            "max": lambda *a: max(to_int(x) for x in a),
            "min": lambda *a: min(to_int(x) for x in a),
            "sha256sum": lambda s: hashlib.sha256(to_text(s).encode()).hexdigest(),
            "set": lambda d, k, v: (d.__setitem__(k, v), d)[1],
            "replace": lambda old, new, s: to_text(s).replace(old, new),
            "contains": lambda sub, s: sub in to_text(s),
            "empty": lambda v: not truth(v),
            "required": self.required,
        }

    @staticmethod
    def index(v, keys):
        for k in keys:
            v = v[k] if v is not None else None
        return v

    def fail(self, msg):
        raise Fail(to_text(msg))

    def required(self, msg, v):
        if not truth(v):
            raise Fail(to_text(msg))
        return v

    def include(self, name, ctx):
        if name in self.defines:
            return self.run(self.defines[name], ctx, {"$": ctx})
        if name in self.files:
            return self.run(self.files[name], ctx, {"$": ctx})
        raise TemplateError("include of an unknown template %r" % name)

    # Evaluation of one pipeline in a scope.
    def field(self, base, path):
        v = base
        for part in path:
            if v is None:
                return None
            if isinstance(v, dict):
                v = v.get(part)
            elif isinstance(v, FileGetter) and part == "Get":
                v = v.get
            else:
                raise TemplateError("no field %s on %r" % (part, type(v).__name__))
        return v

    def operand(self, tok, dot, scope):
        kind, text = tok
        if kind == "sub":
            return self.pipe(text, dot, scope)
        if kind == "str":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "raw":
            return text[1:-1]
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "field":
            return dot if text == "." else self.field(dot, text[1:].split("."))
        if kind == "var":
            name, _, path = text.partition(".")
            if name not in scope:
                raise TemplateError("undefined variable %s" % name)
            return self.field(scope[name], path.split(".")) if path else scope[name]
        if kind == "ident":
            if text in ("true", "false"):
                return text == "true"
            if text == "nil":
                return None
            raise TemplateError("%s used as a value" % text)
        raise TemplateError("unexpected %s %r" % (kind, text))

    def command(self, cmd, dot, scope, piped):
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            fn = self.funcs.get(head[1])
            if fn is None:
                raise TemplateError("function %r is not supported by render_chart.py" % head[1])
            if head[1] in ("and", "or"):
                pass
            args = [self.operand(t, dot, scope) for t in cmd[1:]]
            if piped is not _NONE:
                args.append(piped)
            return fn(*args)
        if head[0] == "ident" and head[1] in ("and", "or"):
            pass
        v = self.operand(head, dot, scope)
        if callable(v):
            args = [self.operand(t, dot, scope) for t in cmd[1:]]
            if piped is not _NONE:
                args.append(piped)
            return v(*args)
        if len(cmd) > 1 or piped is not _NONE:
            raise TemplateError("%r is not a function" % (head,))
        return v

    def pipe(self, node, dot, scope):
        v = _NONE
        for cmd in node.cmds:
            if cmd and cmd[0] == ("ident", "and"):
                v = self.andor(cmd, dot, scope, v, want=False)
            elif cmd and cmd[0] == ("ident", "or"):
                v = self.andor(cmd, dot, scope, v, want=True)
            else:
                v = self.command(cmd, dot, scope, v)
        return None if v is _NONE else v

    def andor(self, cmd, dot, scope, piped, want):
        # Go evaluates and/or lazily and returns the deciding argument.
        toks = list(cmd[1:])
        last = None
        for t in toks:
            last = self.operand(t, dot, scope)
            if truth(last) == want:
                return last
        if piped is not _NONE:
            last = piped
        return last

    def run(self, nodes, dot, scope):
        out = []
        scope = dict(scope)
        for n in nodes:
            if n.kind == "text":
                out.append(n.text)
            elif n.kind == "action":
                v = self.pipe(n.pipe, dot, scope)
                if n.pipe.decl:
                    mode, names = n.pipe.decl
                    scope[names[0]] = v
                    continue
                out.append(to_text(v))
            elif n.kind == "template":
                arg = self.pipe(n.arg, dot, scope) if n.arg else None
                out.append(self.include(n.name, arg))
            elif n.kind == "if":
                for cond, body in n.branches:
                    if cond is None or truth(self.pipe(cond, dot, scope)):
                        out.append(self.run(body, dot, scope))
                        break
            elif n.kind == "with":
                cond, body = n.branches[0]
                v = self.pipe(cond, dot, scope)
                if truth(v):
                    out.append(self.run(body, v, scope))
                elif len(n.branches) > 1:
                    out.append(self.run(n.branches[1][1], dot, scope))
            elif n.kind == "range":
                cond, body = n.branches[0]
                v = self.pipe(cond, dot, scope)
                names = cond.decl[1] if cond.decl else []
                items = sorted(v.items()) if isinstance(v, dict) else list(enumerate(v or []))
                if not items and len(n.branches) > 1:
                    out.append(self.run(n.branches[1][1], dot, scope))
                for k, item in items:
                    s2 = dict(scope)
                    if len(names) == 1:
                        s2[names[0]] = item
                    elif len(names) == 2:
                        s2[names[0]], s2[names[1]] = k, item
                    out.append(self.run(body, item, s2))
        return "".join(out)

    def render(self):
        """{template name: text} for every template file that is not a partial (_*)."""
        out = {}
        for name, nodes in self.files.items():
            base = name.rsplit("/", 1)[1]
            if base.startswith("_") or base.endswith(".txt"):
                continue
            out[name] = self.run(nodes, self.root, {"$": self.root})
        return out


class FileGetter:
    def __init__(self, chart_dir):
        self.chart_dir = chart_dir

    def get(self, path):
        try:
            return open(os.path.join(self.chart_dir, path)).read()
        except OSError:
            return ""


_NONE = object()


def merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def set_value(values, dotted, raw):
    keys = dotted.split(".")
    d = values
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = yaml.safe_load(raw) if raw != "" else ""


def render_chart(chart_dir, value_files=(), sets=(), name="release", namespace="default"):
    """Returns [(template name, manifest dict)], or raises Fail/TemplateError."""
    values = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml"))) or {}
    for f in value_files:
        values = merge(values, yaml.safe_load(open(f)) or {})
    for s in sets:
        k, _, v = s.partition("=")
        set_value(values, k, v)
    r = Renderer(chart_dir, values, name, namespace)
    docs = []
    for tname, text in r.render().items():
        for doc in re.split(r"(?m)^---\s*$", text):
            if doc.strip():
                try:
                    obj = yaml.safe_load(doc)
                except yaml.YAMLError as e:
                    raise TemplateError("%s does not render to YAML: %s\n%s" % (tname, e, doc))
                if obj is not None:
                    docs.append((tname, obj))
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chart")
    ap.add_argument("-f", "--values", action="append", default=[])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--name", default="release")
    ap.add_argument("--namespace", default="default")
    a = ap.parse_args()
    try:
        docs = render_chart(a.chart, a.values, a.set, a.name, a.namespace)
    except Fail as e:
        print("Error: execution error: fail: %s" % e, file=sys.stderr)
        return 1
    for tname, obj in docs:
        print("---\n# Source: %s\n%s" % (tname, yaml.safe_dump(obj, sort_keys=False).rstrip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
