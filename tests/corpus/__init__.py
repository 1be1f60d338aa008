"""Real deploy workflows, reduced to what each verdict depends on, with a reviewer's verdicts.

Each `*.yml` here starts with a header of comments:

    # repo: owner/name
    # commit: <40 hex digits>
    # path: .github/workflows/deploy.yml
    # reviewer: correct | buggy — one sentence
    # expect KEY: STATUS — why            (KEY = check id, plus `#aspect` when the subject has one)
    # tool KEY: STATUS — why              (only where the audit still disagrees: a known FP or FN)

STATUS is `fail P0`, `fail P1`, `warn P2`, `fail P2`, `ok` or `none` (no row). The excerpts are
re-typed from the cited workflow and keep only the lines the verdicts depend on.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from freigabe.adapters.workflows import parse_workflow
from freigabe.audit.checks import run_checks
from freigabe.core.findings import Finding

HERE = Path(__file__).parent
_LINE = re.compile(r"^#\s*(expect|tool)\s+(\S+):\s*(fail P[012]|warn P2|ok|none)\s*(?:[—-]\s*(.*))?$")


@dataclass
class Case:
    file: Path
    repo: str = ""
    commit: str = ""
    path: str = ""
    reviewer: str = ""
    expect: dict[str, tuple[str, str]] = field(default_factory=dict)  # key → (status, why)
    tool: dict[str, tuple[str, str]] = field(default_factory=dict)  # known disagreements

    @property
    def correct(self) -> bool:
        return self.reviewer.startswith("correct")


def load_case(file: Path) -> Case:
    case = Case(file)
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = _LINE.match(line)
        if match is None and line.startswith(("# expect", "# tool")):
            raise ValueError(f"{file.name}: cannot read verdict line {line!r}")
        if match:
            kind, key, status, why = match.groups()
            (case.expect if kind == "expect" else case.tool)[key] = (status, why or "")
            continue
        for name in ("repo", "commit", "path", "reviewer"):
            if line.startswith(f"# {name}:"):
                setattr(case, name, line.split(":", 1)[1].strip())
    return case


def cases() -> list[Case]:
    return [load_case(f) for f in sorted(HERE.glob("*.yml"))]


def row_key(f: Finding) -> str:
    return f.id + ("#" + f.subject.split("#", 1)[1] if "#" in f.subject else "")


def audit(case: Case) -> dict[str, Finding]:
    wf = parse_workflow(f".github/workflows/{case.file.name}", case.file.read_text(encoding="utf-8"))
    return {row_key(f): f for f in run_checks([wf])}


def status_of(rows: dict[str, Finding], key: str) -> str:
    f = rows.get(key)
    if f is None:
        return "none"
    return "ok" if f.status == "ok" else f"{f.status} {f.impact}"


def _failing(status: str) -> bool:
    return status.startswith(("fail", "warn"))


def tally(all_cases: list[Case]) -> dict[str, Counter[str]]:
    """Per check id: findings (failing rows), true and false positives, false negatives."""
    out: dict[str, Counter[str]] = {}
    for case in all_cases:
        rows = audit(case)
        for key, (want, _) in case.expect.items():
            got = status_of(rows, key)
            check = key.split("#", 1)[0]
            counts = out.setdefault(check, Counter())
            if _failing(got):
                counts["findings"] += 1
                counts["true positive" if _failing(want) else "false positive"] += 1
            elif _failing(want):
                counts["false negative"] += 1
            else:
                counts["true negative"] += 1
    return out
