"""Audit a repository's workflows: gather the facts (adapter), judge them (pure checks)."""

from __future__ import annotations

from pathlib import Path

from freigabe.adapters.workflows import gather_repo
from freigabe.audit.repo import evaluate
from freigabe.core.findings import Finding


def audit_repo(repo: Path, linters: bool = True) -> list[Finding]:
    return evaluate(gather_repo(repo, linters=linters))
