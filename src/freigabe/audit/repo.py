"""Repository audit: the workflows under `.github/workflows`, judged from parsed facts.

`evaluate` is pure (facts → findings). Gathering the facts (reading files, parsing YAML and
shell, running actionlint and zizmor) is the adapter's job (`freigabe.adapters.workflows`);
`freigabe.usecases.repo_audit.audit_repo(repo, linters)` does both.
"""

from __future__ import annotations

from freigabe.audit.checks import run_checks
from freigabe.audit.checks.linters import linter_findings
from freigabe.audit.facts import RepoFacts
from freigabe.core.findings import Finding


def evaluate(facts: RepoFacts) -> list[Finding]:
    rows = run_checks(list(facts.workflows))
    for run in facts.linters:
        rows += linter_findings(run)
    return rows
