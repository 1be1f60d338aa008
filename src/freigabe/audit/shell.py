"""Small, honest readings of the shell in workflow `run:` blocks. Pure functions.

This is not a shell parser: it reads the idioms deploy scripts are written in
(`VAR=$(… | jq -r '…')`, `[ -z "$VAR" ]`, `… || true`) well enough to flag the bugs the
reference plan and the field notes describe, and says where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    text: str  # a logical line: backslash continuations joined
    offset: int  # 1-based line of its start within the script


def logical_lines(script: str) -> list[Line]:
    out: list[Line] = []
    buffer, start = "", 0
    for number, raw in enumerate(script.splitlines(), start=1):
        if not buffer:
            start = number
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        out.append(Line(buffer + raw, start))
        buffer = ""
    if buffer:
        out.append(Line(buffer, start))
    return out


def _command_substitution(text: str, start: int) -> str:
    """The text of `$( … )` starting at `start` (just after the `$(`), quotes respected."""
    depth, quote, i = 1, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return text[start:]


@dataclass(frozen=True)
class JqLookup:
    var: str
    filter: str
    exit_status: bool  # jq -e
    offset: int


_ASSIGN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=\$\(")
_JQ = re.compile(r"(?:^|[|;&(\s])jq((?:\s+-[-\w]+(?:\s+(?:\w+\s+)?\"[^\"]*\")?)*)\s+'([^']*)'")


def jq_lookups(script: str) -> list[JqLookup]:
    """Assignments from an external `jq` (not `gh --jq`, which prints nothing for null)."""
    found = []
    for line in logical_lines(script):
        for match in _ASSIGN.finditer(line.text):
            body = _command_substitution(line.text, match.end())
            jq = _JQ.search(body)
            if jq is None:
                continue
            options = jq.group(1)
            found.append(
                JqLookup(
                    var=match.group(1),
                    filter=jq.group(2),
                    exit_status=bool(re.search(r"(?:^|\s)(-\w*e\w*|--exit-status)\b", options)),
                    offset=line.offset,
                )
            )
    return found


def filter_can_yield_null(jq_filter: str) -> bool:
    if re.search(r"//\s*empty", jq_filter):
        return False
    return bool(re.search(r"\.[A-Za-z_]|\[\s*-?\d+\s*\]|\bfirst\b|\blast\b", jq_filter))


def _var_ref(var: str) -> str:
    return r"\$\{?" + re.escape(var) + r"\}?"


def has_null_test(script: str, var: str) -> bool:
    ref = _var_ref(var)
    return bool(
        re.search(rf"\"?{ref}\"?\s*(?:==|!=|=)\s*[\"']?null\b", script)
        or re.search(rf"[\"']?null[\"']?\s*(?:==|!=|=)\s*\"?{ref}", script)
    )


def has_empty_guard(script: str, var: str) -> bool:
    return bool(re.search(rf"-[zn]\s+\"?{_var_ref(var)}", script))


# ---------------------------------------------------------------- health checks

_HEALTHY_WORD = re.compile(r"health|smoke|readiness|alive|ping", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    what: str
    offset: int
    text: str


def health_check_problems(script: str) -> list[Problem]:
    """Ways a health or smoke check in a script cannot fail."""
    problems = []
    writes_ledger = "ledger" in script.lower()
    for line in logical_lines(script):
        text = line.text
        probing = bool(re.search(r"\b(curl|wget|http)\b", text)) or bool(_HEALTHY_WORD.search(text))
        if probing and re.search(r"\|\|\s*true\b|\|\|\s*:\s*(?:$|[;)])", text):
            problems.append(Problem("`|| true` makes the check pass whatever happens", line.offset, text))
        if re.search(r"\|\|.*\bhealthy\b", text):
            problems.append(Problem("a fallback prints 'healthy' when the check fails", line.offset, text))
        if re.search(r"\b401\b", text) and re.search(r"==|-eq|=~|\bcase\b|\||\s=\s", text):
            problems.append(Problem("HTTP 401 is accepted as healthy", line.offset, text))
        if (
            writes_ledger
            and re.search(r"(echo|printf|jq)\b.*[\"']?passed[\"']?", text)
            and not re.search(r"\$\{?\w+\}?", text.split("passed")[0][-40:])
        ):
            problems.append(Problem("the ledger records 'passed' without a check's result", line.offset, text))
        if re.search(r"\bcurl\b", text) and _HEALTHY_WORD.search(text):
            flags = re.findall(r"(?:^|\s)(-[A-Za-z]+|--[\w-]+)", text)
            fails = any(
                f in ("--fail", "--fail-with-body") or (f.startswith("-") and not f.startswith("--") and "f" in f)
                for f in flags
            )
            if not fails and "http_code" not in text and "%{response_code}" not in text:
                problems.append(Problem("curl without --fail exits 0 on HTTP 500", line.offset, text))
    return problems


# ---------------------------------------------------------------- deploy hardening

SWITCH = re.compile(r"\bln\s+-[a-z]*s[a-z]*\b|\bmv\s+-[A-Za-z]*T\b")
CACHE_CLEAR = re.compile(r"artisan\s+(?:optimize:clear|config:clear|cache:clear|route:clear|view:clear)")
FPM_RELOAD = re.compile(
    r"php[\w.*'\"-]*fpm[\w.*'\"-]*\s+(?:reload|restart)|(?:reload|restart)\s+[\"']?php[\w.*-]*fpm|"
    r"kill\s+-(?:USR2|SIGUSR2)"
)
SILENCED = re.compile(r"\|\|\s*true\b|2>\s*/dev/null")
GRACE = re.compile(r"\bsleep\s+\d+")
RETRY = re.compile(r"\b(for|until|while)\b[^\n]*|--retry\b")
BY_MTIME = re.compile(r"\bls\s+-\w*t")
