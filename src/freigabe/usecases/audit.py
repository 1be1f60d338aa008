"""Run the audits (repository, GitHub, server) and decide. Read-only everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from freigabe.audit import github as github_audit
from freigabe.audit import server as server_audit
from freigabe.config import LoadedConfig
from freigabe.core.decision import Decision, decide
from freigabe.core.findings import Finding
from freigabe.usecases import repo_audit
from freigabe.usecases.attest import apply_attestations
from freigabe.usecases.records import read_target_entries
from freigabe.usecases.targets import open_target
from freigabe.usecases.waive import apply_waivers

Area = Literal["repo", "github", "server"]


@dataclass
class AuditResult:
    environment: str | None
    findings: list[Finding] = field(default_factory=list)
    decision: Decision | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # area → why it did not run


def run_audit(
    loaded: LoadedConfig | None,
    env_name: str | None,
    areas: tuple[Area, ...] = ("repo", "github", "server"),
    repo_dir: Path | None = None,
    sha: str | None = None,
    needs_bytes: int = 0,
    linters: bool = True,
) -> AuditResult:
    result = AuditResult(env_name)
    if "repo" in areas:
        root = repo_dir or (loaded.root if loaded else Path.cwd())
        result.findings += repo_audit.audit_repo(root, linters=linters)
    if "github" in areas:
        if loaded is None or loaded.config.github is None:
            result.skipped["github"] = 'no [github] table in freigabe.toml (repo = "owner/name")'
        else:
            commit = sha if sha and re.fullmatch(r"[0-9a-f]{40}", sha) else None
            result.findings += github_audit.audit_github(loaded.config.github, commit)
    if loaded is None or env_name is None:
        if "server" in areas:
            result.skipped["server"] = "needs freigabe.toml and an environment"
        return result
    target = open_target(loaded, env_name)  # one connection for the server facts and the ledger
    try:
        if "server" in areas:
            facts = server_audit.gather(target, loaded, env_name, needs_bytes)
            result.findings += server_audit.evaluate(facts)
            entries = facts.ledger
        else:
            entries = read_target_entries(target.transport, target.layout)
    finally:
        target.close()
    result.findings = apply_waivers(apply_attestations(result.findings, entries), entries, loaded.root)
    env = loaded.config.environment(env_name)
    production = env_name in loaded.config.policy.production_environments or env.promotion is not None
    result.decision = decide(result.findings, env_name, loaded.config.policy, production)
    return result
