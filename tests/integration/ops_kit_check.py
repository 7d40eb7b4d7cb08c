#!/usr/bin/env python3
"""The operations kit against the running processes (test_operations_kit.sh).

  ops_kit_check.py names EXPR...            the metric names each PromQL EXPR uses
  ops_kit_check.py check PROM_URL DASHBOARD.json SCRAPE.txt...
  ops_kit_check.py runbooks OUTDIR RUNBOOK.md... -- SCRAPE.txt...
  ops_kit_check.py sluicectl SLUICECTL RUNBOOK.md...

check: every metric name used by an alert rule (as the Prometheus at PROM_URL loaded
them: /api/v1/rules) and by a dashboard panel query must be exposed on some process's
/metrics (the SCRAPE files, the processes' exposition text), except `up`, which
Prometheus records itself and must hold for every scrape target.  Besides the names:
every rule evaluated without error (health "ok"), and every panel query evaluates on
that Prometheus to a non-empty result.  Prints each failure and exits 1 on any.

The names come from a small PromQL tokenizer: string literals, label matchers
({...}), range and subquery selectors ([...]), grouping clauses (by, without, on,
ignoring, group_left, group_right with their label lists), keywords and numbers are
dropped, and so is every identifier followed by "(" (a function or an aggregation);
what remains are metric names.  A name given as {__name__="..."} is taken too.

runbooks: every sluice_* metric name the runbooks mention must be exposed (a histogram
by its base name counts when its _bucket is); prefixes followed by a placeholder,
a wildcard or a group (sluice_<stage>_..., sluice_retry_*, sluice_ingress_(a|b)) are
skipped.  Each ```sql block is written to OUTDIR/NN.sql (its
runbook named in a comment) for the caller to run against the migrated schema.

sluicectl: every sluicectl command line in the runbooks (in code blocks and inline
code) names a command `sluicectl --help` lists, a subcommand its own --help shows, and
only options its --help shows.
"""
import json
import subprocess
import re
import sys
import urllib.parse
import urllib.request

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan", "atan2"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    names = set()
    # {__name__="x"} selectors name their metric inside the braces.
    for m in re.finditer(r'__name__\s*=\s*"([^"]*)"', expr):
        names.add(m.group(1))
    if re.search(r"__name__\s*(=~|!=|!~)", expr):
        raise ValueError("a __name__ regex or negation cannot be checked: " + expr)
    s = STRING.sub('""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = GROUPING.sub(" ", s)
    s = re.sub(r"\b(group_left|group_right)\b", " ", s)  # without a label list
    # Numbers (0.95, 1e3, 0x1f) and durations after offset are not identifiers.
    s = re.sub(r"(?<![A-Za-z0-9_:])[0-9][0-9A-Za-z_.]*", " ", s)
    for m in IDENT.finditer(s):
        word = m.group(0)
        if word.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", s[m.end():]):
            continue  # a function or an aggregation operator
        names.add(word)
    return names


def exposed_names(paths):
    """Sample names in Prometheus exposition text (histograms: _bucket/_sum/_count)."""
    names = set()
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


def panel_queries(dash):
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    return out


def api(prom, path, **params):
    url = prom + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]


def check(prom, dashboard, scrapes):
    failures = []
    exposed = exposed_names(scrapes)
    up = api(prom, "/api/v1/query", query="up")["result"]
    up_ok = bool(up) and all(r["value"][1] == "1" for r in up)
    if not up_ok:
        failures.append(f"up: not 1 for every target: {up}")

    def names_ok(where, expr):
        try:
            names = metric_names(expr)
        except ValueError as e:
            failures.append(f"{where}: {e}")
            return
        if not names:
            failures.append(f"{where}: no metric name found in {expr!r}")
        for n in sorted(names):
            if n == "up":
                continue  # Prometheus's own, checked above
            if n not in exposed:
                failures.append(f"{where}: {n} is not exposed by any process ({expr!r})")

    rules = [r for g in api(prom, "/api/v1/rules")["groups"] for r in g["rules"]]
    for r in rules:
        where = f"alert {r.get('name')}"
        names_ok(where, r["query"])
        if r.get("health") != "ok":
            failures.append(f"{where}: health {r.get('health')}: {r.get('lastError')}")

    with open(dashboard) as f:
        queries = panel_queries(json.load(f))
    for title, expr in queries:
        where = f"panel {title!r}"
        names_ok(where, expr)
        try:
            res = api(prom, "/api/v1/query", query=expr)["result"]
        except Exception as e:  # a query Prometheus refuses
            failures.append(f"{where}: {expr!r}: {e}")
            continue
        if not res:
            failures.append(f"{where}: {expr!r} returns no series")

    for f in failures:
        print("FAIL " + f)
    print(f"rules={len(rules)} panel_queries={len(queries)} exposed_names={len(exposed)} "
          f"failures={len(failures)}")
    return 1 if failures else 0


def runbooks(outdir, paths, scrapes):
    exposed = exposed_names(scrapes)
    failures, nsql, nnames = [], 0, 0
    for p in paths:
        with open(p) as f:
            text = f.read()
        for m in re.finditer(r"(?<![A-Za-z0-9_.])sluice_[a-z0-9_]*[a-z0-9]", text):
            name = m.group(0)
            if re.match(r"_?[<{(*]", text[m.end():]):
                continue  # sluice_<stage>_..., sluice_retry_*, a grep pattern's prefix
            nnames += 1
            if name not in exposed and name + "_bucket" not in exposed:
                failures.append(f"{p}: {name} is not exposed by any process")
        for m in re.finditer(r"```sql\n(.*?)```", text, re.S):
            nsql += 1
            with open(f"{outdir}/{nsql:02d}.sql", "w") as out:
                out.write(f"-- {p}\n{m.group(1)}")
    for f in failures:
        print("FAIL " + f)
    print(f"runbooks={len(paths)} metric_mentions={nnames} sql_blocks={nsql} "
          f"failures={len(failures)}")
    return 1 if failures or not nsql else 0


def sluicectl_help(ctl, *args):
    r = subprocess.run([ctl, *args, "--help"], capture_output=True, text=True, timeout=10)
    return r.stdout + r.stderr


def sluicectl_lines(text):
    """Each sluicectl invocation in code (fenced sh blocks and inline code spans):
    what follows 'sluicectl ', up to a comment, pipe, redirection or the span's end."""
    code, fence = [], None
    for line in text.splitlines():
        m = re.match(r"\s*```(\w*)", line)
        if m:
            fence = None if fence is not None else m.group(1)
            continue
        if fence is None:
            code += re.findall(r"`([^`]*sluicectl [^`]*)`", line)
        elif fence in ("", "sh", "bash"):
            code.append(line)
    out = []
    for line in code:
        for m in re.finditer(r"(?:^|[\s|;&(])sluicectl\s+([^#|>;&)]*)", line):
            out.append(m.group(1).strip())
    return out


def check_sluicectl(ctl, paths):
    top = sluicectl_help(ctl)
    failures, n = [], 0
    for p in paths:
        with open(p) as f:
            lines = sluicectl_lines(f.read())
        for line in lines:
            words = line.split()
            if not words or words[0].startswith("-"):
                continue
            n += 1
            cmd = words[0]
            if not re.search(r"(?m)^  " + re.escape(cmd) + r"\b", top):
                failures.append(f"{p}: sluicectl {cmd}: no such command ({line!r})")
                continue
            help_text = sluicectl_help(ctl, cmd)
            if len(words) > 1 and not words[1].startswith("-") and \
                    re.search(r"(?m)^  " + re.escape(cmd) + r" COMMAND|COMMAND$", help_text) and \
                    not re.search(r"(?m)^\s+(?:" + re.escape(cmd) + r"\s+)?" + re.escape(words[1]) + r"\b",
                                  help_text):
                failures.append(f"{p}: sluicectl {cmd} {words[1]}: not in its --help ({line!r})")
            for opt in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", line):
                if opt not in help_text:
                    failures.append(f"{p}: sluicectl {cmd}: option {opt} not in its --help ({line!r})")
    for f in failures:
        print("FAIL " + f)
    print(f"sluicectl_lines={n} failures={len(failures)}")
    return 1 if failures or not n else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "names":
        for e in sys.argv[2:]:
            print(" ".join(sorted(metric_names(e))))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "sluicectl":
        return check_sluicectl(sys.argv[2], sys.argv[3:])
    if len(sys.argv) >= 6 and sys.argv[1] == "runbooks" and "--" in sys.argv:
        sep = sys.argv.index("--")
        return runbooks(sys.argv[2], sys.argv[3:sep], sys.argv[sep + 1:])
    if len(sys.argv) >= 5 and sys.argv[1] == "check":
        return check(sys.argv[2].rstrip("/"), sys.argv[3], sys.argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
