"""Run the audits (repository, GitHub, server) and decide. Read-only everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from freigabe.adapters import github_facts, server_facts
from freigabe.adapters.target import Target, is_fleet, open_target
from freigabe.audit import github as github_audit
from freigabe.audit import server as server_audit
from freigabe.config import LoadedConfig
from freigabe.core.decision import Decision, decide
from freigabe.core.environments import is_production
from freigabe.core.findings import Finding
from freigabe.core.fleet import Host, host_config, witness_name
from freigabe.core.redact import REDACTOR
from freigabe.engine import lock
from freigabe.engine.session import decision_entries, recent_entries
from freigabe.engine.witness import Witness
from freigabe.errors import UsageError
from freigabe.usecases import repo_audit
from freigabe.usecases.attest import apply_attestations
from freigabe.usecases.placeholders import resolved_config
from freigabe.usecases.waive import apply_waivers

Area = Literal["repo", "github", "server"]


@dataclass
class AuditResult:
    environment: str | None
    findings: list[Finding] = field(default_factory=list)
    decision: Decision | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # area → why it did not run


def _redacted(findings: list[Finding]) -> list[Finding]:
    """Findings quote what they judged (command output, files): through the one redactor, always."""
    return [Finding.model_validate(REDACTOR.data(f.model_dump())) for f in findings]


def server_findings(
    loaded: LoadedConfig, target: Target, entries: list[dict[str, Any]], needs_bytes: int, host: Host | None = None
) -> list[Finding]:
    """The server audit of one target (one host of a fleet: its own URL, its own ledger copy)."""
    env_name = target.name
    try:
        config = resolved_config(loaded, env_name, target.transport)
    except UsageError:
        config = loaded.config  # the plan names what is missing; the sudo check sees the placeholder
    if host is not None:
        config = host_config(config, env_name, host, fleet=True)
    held, stale = lock.lock_state(target.transport, target.layout, target.env.lock_stale_after)
    facts = server_facts.gather(
        target,
        config,
        ledger=entries,
        lock=held.to_json() | {"text": lock.describe(held), "stale": stale} if held else None,
        marks=target.marks(),
        releases=target.releases(),
        redactor=REDACTOR,
        needs_bytes=needs_bytes,
        witness=Witness(loaded.root, witness_name(env_name, target.host)).digest(),
    )
    return server_audit.evaluate(facts)


def run_audit(
    loaded: LoadedConfig | None,
    env_name: str | None,
    areas: tuple[Area, ...] = ("repo", "github", "server"),
    repo_dir: Path | None = None,
    sha: str | None = None,
    needs_bytes: int = 0,
    linters: bool = True,
    extra: list[Finding] | None = None,
) -> AuditResult:
    """`extra`: findings gathered elsewhere for this environment (the plan's migrations), decided
    with the rest, attestations and waivers applied alike."""
    result = AuditResult(env_name)
    if "repo" in areas:
        root = repo_dir or (loaded.root if loaded else Path.cwd())
        result.findings += repo_audit.audit_repo(root, linters=linters)
    if "github" in areas:
        if loaded is None or loaded.config.github is None:
            result.skipped["github"] = 'no [github] table in freigabe.toml (repo = "owner/name")'
        else:
            commit = sha if sha and re.fullmatch(r"[0-9a-f]{40}", sha) else None
            result.findings += github_audit.evaluate(
                github_facts.read(loaded.config.github, commit), loaded.config.github
            )
    if loaded is None or env_name is None:
        if "server" in areas:
            result.skipped["server"] = "needs freigabe.toml and an environment"
        result.findings = _redacted(result.findings)
        return result
    if is_fleet(loaded, env_name):  # every host on its own, and the fleet as a whole (issue 12)
        from freigabe.usecases.fleet_audit import audit_fleet

        found, decisions = audit_fleet(loaded, env_name, "server" in areas, needs_bytes)
        result.findings += found
    else:
        with open_target(loaded, env_name) as target:  # one connection for the server facts and the ledger
            entries = recent_entries(loaded, target, target.current())
            decisions = decision_entries(loaded, env_name)
            if "server" in areas:
                result.findings += server_findings(loaded, target, entries, needs_bytes)
    result.findings += extra or []
    result.findings = _redacted(apply_waivers(apply_attestations(result.findings, decisions), decisions, loaded.root))
    env = loaded.config.environment(env_name)
    production = is_production(env_name, env, loaded.config.policy)
    result.decision = decide(result.findings, env_name, loaded.config.policy, production)
    return result
