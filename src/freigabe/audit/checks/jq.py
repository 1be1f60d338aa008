"""`workflow.jq-null-guard`: a jq lookup that finds nothing prints `null`, and `null` is not empty.

The value is followed from its assignment to where it is used. Guarded: `// empty` (or any
`// default`), `jq -e` whose failure stops the script, a test for `null`, a regex, equality
or numeric test that rejects it, an array tested non-empty before `.[0]`. Unguarded, the
effect decides the impact: into a download, a deploy target, or a path that is written or
removed → P0; only into a command that then fails → a note; only printed → nothing.
`gh … --jq` is safe: it prints an empty line for null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from freigabe.audit.checks.common import Occ, basename, excerpt, row, strip_wrappers, timeline, uses_var
from freigabe.audit.facts import Cmd, Script, Workflow
from freigabe.core.findings import Finding

_ARG2 = {"--arg", "--argjson", "--slurpfile", "--rawfile"}
_ARG1 = {"--indent", "-L", "--tab"}
_PATH = re.compile(r"\.[A-Za-z_\"]|\.\[|\[\s*-?\d+\s*\]|\bfirst\b|\blast\b|\blimit\s*\(")  # jq filter syntax
_SAFE_END = re.compile(r"^\s*(select\s*\(|length\b|keys\b|has\s*\(|type\b|test\s*\(|any\b|all\b|values\b|strings\b)")
_NUMERIC = {"-eq", "-ne", "-gt", "-lt", "-ge", "-le"}
_DOWNLOAD = {"download", "fetch", "pull"}
_TARGET = {"ssh", "scp", "rsync", "ln", "dep", "kubectl", "helm", "git", "docker", "az", "gcloud", "vercel", "sftp"}
_WRITE = {"rm", "mv", "cp", "mkdir", "tar", "unzip", "chmod", "chown", "tee", "touch", "truncate", "dd", "install"}
_GITHUB_FILES = ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_PATH")


@dataclass
class Lookup:
    occ: Occ
    var: str
    filter: str
    line: int  # where the assignment starts
    guard: str | None = None  # how it is guarded, or None
    empty_only: bool = False  # only `[ -z ]` / `[ -n ]`
    flows: list[tuple[str, str, int, str]] = field(default_factory=list)  # (effect, excerpt, line, rel)


def jq_filter(cmd: Cmd) -> tuple[str | None, bool]:
    """(the filter, `-e` given) of an external jq command."""
    words = strip_wrappers(cmd)
    exit_status = False
    i = 1
    while i < len(words):
        word = words[i]
        if word in _ARG2:
            i += 3
            continue
        if word in _ARG1:
            i += 2
            continue
        if word in ("-f", "--from-file"):
            return None, exit_status
        if word == "--exit-status" or (word.startswith("-") and not word.startswith("--") and "e" in word[1:]):
            exit_status = True
        if not word.startswith("-"):
            return word, exit_status
        i += 1
    return None, exit_status


def _top_level(jq: str) -> tuple[str, bool]:
    """(the filter's last top-level pipe segment, whether that segment has a top-level `//`)."""
    depth, quote, start, alternative = 0, False, 0, False
    i = 0
    while i < len(jq):
        ch = jq[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "|":
            start, alternative = i + 1, False
        elif depth == 0 and jq.startswith("//", i):
            alternative = True
            i += 1
        i += 1
    return jq[start:], alternative


def can_yield_null(jq: str) -> bool:
    tail, alternative = _top_level(jq)
    if alternative or _SAFE_END.match(tail):
        return False
    return bool(_PATH.search(jq))


def _effect(cmd: Cmd, name: str) -> str | None:
    """What an unguarded `null` in `name` does in this command."""
    words = strip_wrappers(cmd)
    if not words:
        return None
    tool = basename(words[0])
    if cmd.kind != "simple":
        return None
    targets = [r.target for r in cmd.redirects if r.op.endswith(">") or r.op.endswith(">>")]
    if any(uses_var(t, name) for t in targets):
        return "a path that is written"
    if tool in ("echo", "printf", "cat") and any(t.lstrip('"$').startswith(_GITHUB_FILES) for t in targets):
        return None  # handed on: followed through the GitHub file
    if tool in ("echo", "printf", ":", "true", "export"):
        return None
    if tool == "gh" and any(w in _DOWNLOAD for w in words[1:3]):
        return "a download"
    if tool in ("curl", "wget", "aws", "gsutil") and any(uses_var(w, name) for w in words[1:]):
        return "a download" if _saves(words, cmd) else "a request that fails on it"
    if tool in _TARGET:
        return "a deploy target"
    if tool in _WRITE:
        return "a path that is written or removed"
    return "a command that fails on it"


def _after(words: list[str], flag: str) -> str:
    at = words.index(flag)
    return words[at + 1] if at + 1 < len(words) else ""


def _saves(words: list[str], cmd: Cmd) -> bool:
    """Does this curl/wget/aws/gsutil keep what it fetched (a file or a pipe, not /dev/null or a status code)?"""
    tool = basename(words[0])
    if tool in ("aws", "gsutil"):
        return True
    if any(r.op.endswith(">") and r.target != "/dev/null" for r in cmd.redirects):
        return True
    if tool == "wget":
        if "--spider" in words:
            return False
        return _after(words, "-O") != "/dev/null" if "-O" in words else True
    for flag in ("-o", "--output"):
        if flag in words:
            return _after(words, flag) != "/dev/null"
    return cmd.has_flag("O", "--remote-name") or cmd.pipe_pos < cmd.pipe_len - 1


def _writes_github(cmd: Cmd, var: str) -> list[tuple[str, str]]:
    """`echo "NAME=$var" >> $GITHUB_ENV` → [("env", NAME)]; `… >> $GITHUB_OUTPUT` → [("outputs", NAME)]."""
    out = []
    for redirect in cmd.redirects:
        target = redirect.target.replace("{", "").replace("}", "").replace('"', "")
        kind = "env" if "GITHUB_ENV" in target else "outputs" if "GITHUB_OUTPUT" in target else None
        if kind is None:
            continue
        for word in cmd.words[1:]:
            if "=" in word and uses_var(word.split("=", 1)[1], var):
                out.append((kind, word.split("=", 1)[0].strip()))
    return out


def _guard(script: Script, lookup: Lookup, before: int) -> None:
    """Look for a test of the variable (before its first effect) that rejects `null`."""
    for cmd in script.commands:
        if cmd.index <= lookup.occ.cmd.index or cmd.index > before or lookup.var not in cmd.vars:
            continue
        words = list(cmd.words)
        if cmd.kind == "case":
            if any("null" in p for patterns, _ in cmd.items for p in patterns) or any(
                exits for patterns, exits in cmd.items if "*" in patterns
            ):
                lookup.guard = f"`case` at line {cmd.line}"
                return
            continue
        if cmd.kind != "test" and basename(words[0] if words else "") != "test":
            continue
        if "null" in words or '"null"' in words:
            lookup.guard = f"a test for `null` at line {cmd.line}"
            return
        if "=~" in words or _NUMERIC & set(words):
            lookup.guard = f"a test that rejects `null` at line {cmd.line}"
            return
        for op in ("=", "==", "!="):
            if op in words:
                at = words.index(op)
                other = [w for w in (words[at - 1 : at] + words[at + 1 : at + 2]) if not uses_var(w, lookup.var)]
                if other and other[0] not in ("", '""', "''"):
                    lookup.guard = f"an equality test with `{other[0][:30]}` at line {cmd.line}"
                    return
        if "-z" in words or "-n" in words:
            lookup.empty_only = True


def _array_checked(script: Script, occ: Occ) -> bool:
    """Was the array tested non-empty (a jq `length` tested, or `jq -e`) before this lookup?"""
    length_vars = set()
    for cmd in script.commands[: occ.cmd.index]:
        if basename(cmd.name) == "jq":
            flt, exit_status = jq_filter(cmd)
            if flt and "length" in flt:
                if exit_status and not cmd.capture:
                    return True
                if cmd.capture:
                    length_vars.add(cmd.capture)
        if cmd.kind == "test" and cmd.vars & length_vars:
            return True
    return False


def _lookups(wf: Workflow) -> list[Lookup]:
    found: list[Lookup] = []
    for job in wf.jobs:
        occs = timeline(job)
        for occ in occs:
            cmd = occ.cmd
            if basename(cmd.name) != "jq" or not cmd.in_subst:
                continue
            flt, exit_status = jq_filter(cmd)
            if flt is None or not _PATH.search(flt):
                continue
            var = cmd.capture or ""
            line = next((a.line for a in reversed(occ.script.assigns) if a.name == var and a.index <= cmd.index), 0)
            lookup = Lookup(occ, var, flt, line or cmd.line)
            fallback_exits = cmd.fallback is not None and any(w[:1] in (("exit",), ("false",)) for w in cmd.fallback)
            stops = occ.script.errexit_for(cmd.index) and not cmd.capture_masked and cmd.fallback is None
            if not can_yield_null(flt):
                tail, alternative = _top_level(flt)
                lookup.guard = f"`{tail.strip()[:40]}` in the filter" if not alternative else "`// …` in the filter"
            elif exit_status and (stops or fallback_exits):
                lookup.guard = "`jq -e`, which fails on null"
            elif re.search(r"\[\s*0\s*\]|\bfirst\b", flt) and _array_checked(occ.script, occ):
                lookup.guard = "the array is tested non-empty first"
            if not var:
                # used in place: `gh run download $(jq …)`
                carrier = next(
                    (c for c in occ.script.commands if c.index < cmd.index and not c.in_subst and c.top == cmd.top),
                    None,
                )
                if lookup.guard is None and carrier is not None:
                    effect = _effect(carrier, "")
                    if effect and effect != "a command that fails on it":
                        lookup.flows.append((effect, excerpt(carrier), carrier.line, wf.rel))
                        found.append(lookup)
                continue
            _follow(wf, occs, lookup)
            found.append(lookup)
    return found


def _follow(wf: Workflow, occs: list[Occ], lookup: Lookup) -> None:
    names = [("shell", lookup.var)]
    first_effect = len(lookup.occ.script.commands)
    handed: list[tuple[str, str]] = []
    # the value travels on through assignments that expand it (`URL="$BASE/$ID"`)
    carried = {lookup.var}
    for assign in lookup.occ.script.assigns:
        if assign.index > lookup.occ.cmd.index and any(uses_var(assign.value, name) for name in carried):
            carried.add(assign.name)
    for cmd in lookup.occ.script.commands:
        if cmd.index <= lookup.occ.cmd.index or cmd.capture == lookup.var:
            continue
        for name in sorted(carried & cmd.vars):
            handed += _writes_github(cmd, name)
            effect = _effect(cmd, name)
            if effect:
                first_effect = min(first_effect, cmd.index)
                lookup.flows.append((effect, excerpt(cmd), cmd.line, wf.rel))
                break
    # remote scripts started by a command that expands the variable see its value too
    for child in lookup.occ.script.children:
        carrier = lookup.occ.script.commands[child.carrier]
        if carrier.index > lookup.occ.cmd.index and lookup.var in carrier.vars:
            for cmd in child.commands:
                if any(uses_var(w, lookup.var) for w in cmd.words):
                    effect = _effect(cmd, lookup.var)
                    if effect:
                        lookup.flows.append((effect, excerpt(cmd), cmd.line, wf.rel))
    if lookup.guard is None:
        _guard(lookup.occ.script, lookup, first_effect)
    if lookup.guard is not None:
        return
    # handed on through $GITHUB_ENV / $GITHUB_OUTPUT: later steps of the job
    names += handed
    later = [o for o in occs if o.step.index > lookup.occ.step.index]
    for kind, name in handed:
        for step in lookup.occ.job.steps[lookup.occ.step.index + 1 :]:
            expr = f"steps.{lookup.occ.step.id}.outputs.{name}" if kind == "outputs" else f"env.{name}"
            for key, value in step.with_.items():
                if expr in value:
                    effect = _action_effect(step.action, key)
                    lookup.flows.append((effect, f"{key}: {value}", step.with_lines.get(key, step.line), wf.rel))
        for occ in later:
            words_use = any(f"{kind}.{name}" in w for w in occ.cmd.words)
            shell_use = kind == "env" and name in occ.cmd.vars
            if occ.cmd.kind == "test" and (words_use or shell_use):
                lookup.guard = f"a test in a later step at line {occ.cmd.line}" if "null" in occ.cmd.words else None
                if lookup.guard:
                    return
            if words_use or shell_use:
                effect = _effect(occ.cmd, name)
                if effect:
                    lookup.flows.append((effect, excerpt(occ.cmd), occ.cmd.line, wf.rel))


def _action_effect(action: str, key: str) -> str:
    if "download-artifact" in action or key in ("run-id", "run_id"):
        return "a download"
    if action.startswith(("appleboy/", "deployphp/", "easingthemes/", "burnett01/")):
        return "a deploy target"
    return "a command that fails on it"


_P0_EFFECTS = ("a download", "a deploy target", "a path that is written or removed", "a path that is written")


def check_jq_null_guard(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        lookups = _lookups(wf)
        if not lookups:
            continue
        bad = [lk for lk in lookups if lk.guard is None and any(f[0] in _P0_EFFECTS for f in lk.flows)]
        notes = [lk for lk in lookups if lk.guard is None and lk not in bad and lk.flows]
        listed = [
            {
                "var": lk.var,
                "filter": lk.filter,
                "line": lk.line,
                "guard": lk.guard or ("only `[ -z ]`" if lk.empty_only else "no guard at all"),
                "flows": [{"effect": f[0], "excerpt": f[1], "location": f"{f[3]}:{f[2]}"} for f in lk.flows],
            }
            for lk in lookups
        ]
        first = (bad or notes or lookups)[0]
        line = first.line
        name = f"${first.var}" if first.var else "the value"
        guard = "only `[ -z ]`" if first.empty_only else "no guard at all"
        if bad:
            flow = next(f for f in first.flows if f[0] in _P0_EFFECTS)
            ist = (
                f"{name} from `jq '{first.filter}'` has {guard}: jq prints the string `null` when nothing "
                f"matches, and `null` is not empty; it flows into {flow[0]} at {flow[3]}:{flow[2]} (`{flow[1]}`)"
            )
        elif notes:
            flow = first.flows[0]
            ist = (
                f"{name} from `jq '{first.filter}'` has {guard}; an unguarded `null` only reaches "
                f"{flow[0]} at {flow[3]}:{flow[2]} (`{flow[1]}`): the job stops there, visibly"
            )
        else:
            described = "; ".join(
                f"${lk.var or '?'} at line {lk.line}: "
                + (lk.guard or ("only printed" if not lk.flows else "no effect that matters"))
                for lk in lookups
            )
            ist = f"{len(lookups)} jq lookups, none unguarded where it matters — {described}"
        rows.append(
            row(
                "workflow.jq-null-guard",
                wf,
                "jq null guard",
                soll='a jq lookup that finds nothing stops the job: `// empty`, `jq -e` or a test for "null"',
                ist=ist,
                impact="P0" if bad else "P2",
                ok=not bad and not notes,
                warn=not bad and bool(notes),
                line=line,
                fix='end the filter with `// empty` (or use `jq -e`) and keep `[ -z "$VAR" ]`',
                unguarded=[entry for entry, lk in zip(listed, lookups, strict=True) if lk in bad or lk in notes],
                lookups=listed,
            )
        )
    return rows
