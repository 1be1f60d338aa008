"""Run the audits (repository, GitHub, server) and decide. Read-only everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from freigabe.adapters import github_facts, server_facts
from freigabe.adapters.target import Target, is_fleet, open_target
from freigabe.audit import github as github_audit
from freigabe.audit import server as server_audit
from freigabe.audit.server import ServerFacts
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


def read_server_facts(
    loaded: LoadedConfig,
    target: Target,
    entries: list[dict[str, Any]],
    host: Host | None = None,
    drift: server_facts.Drift | None = None,
) -> ServerFacts:
    """What the server audit of one target judges (one host of a fleet: its own URL, its own
    ledger copy). The bytes the release needs are the plan's figure: `judged` adds them."""
    env_name = target.name
    try:
        config = resolved_config(loaded, env_name, target.transport)
    except UsageError:
        config = loaded.config  # the plan names what is missing; the sudo check sees the placeholder
    if host is not None:
        config = host_config(config, env_name, host, fleet=True)
    held, stale = lock.lock_state(target.transport, target.layout, target.env.lock_stale_after)
    return server_facts.gather(
        target,
        config,
        ledger=entries,
        lock=held.to_json() | {"text": lock.describe(held), "stale": stale} if held else None,
        marks=target.marks(),
        releases=target.releases(),
        redactor=REDACTOR,
        witness=Witness(loaded.root, witness_name(env_name, target.host)).digest(),
        started=drift,
    )


@dataclass(frozen=True)
class ServerPart:
    """One target's server facts, judged once the plan knows what the release needs on disk."""

    facts: ServerFacts
    host: str = ""  # a fleet's host: each of its findings names it


Part = list[Finding] | ServerPart


@dataclass
class Gathered:
    """Everything the audit read, in the order its findings are reported; `judge_audit` decides."""

    environment: str | None
    parts: list[Part] = field(default_factory=list)
    decisions: list[dict[str, Any]] | None = None  # attestations and waivers; None: no environment
    current: str | None = None  # the release live on the one target (not a fleet's), as read
    skipped: dict[str, str] = field(default_factory=dict)


def per_host(finding: Finding, host: str) -> Finding:
    subject = f"{host}/{finding.subject}" if finding.subject else host
    return finding.model_copy(update={"subject": subject, "evidence": {**finding.evidence, "host": host}})


def judged(part: Part, needs_bytes: int) -> list[Finding]:
    if isinstance(part, list):
        return part
    found = server_audit.evaluate(replace(part.facts, needs_bytes=needs_bytes))
    return [per_host(f, part.host) for f in found] if part.host else found


def _nothing() -> None:
    return None


def _one_target(loaded: LoadedConfig, target: Target, server: bool, gathered: Gathered) -> list[Part]:
    gathered.current = target.current()
    # the drift check (the longest read) starts first and runs while the ledger and the rest are read
    drift = server_facts.start_drift(target, gathered.current, loaded.config.deploy.revision_file) if server else None
    try:
        entries = recent_entries(loaded, target, gathered.current)
        gathered.decisions = decision_entries(loaded, target.name)
        return [ServerPart(read_server_facts(loaded, target, entries, drift=drift))] if server else []
    finally:
        if drift is not None:
            wait([drift.found])


def gather_audit(
    loaded: LoadedConfig | None,
    env_name: str | None,
    areas: tuple[Area, ...] = ("repo", "github", "server"),
    repo_dir: Path | None = None,
    sha: str | Callable[[], str | None] | None = None,
    linters: bool = True,
    target: Target | None = None,
    checkpoint: Callable[[], None] = _nothing,
) -> Gathered:
    """Read what the audits judge, read-only; the target first (the slowest: the drift check
    hashes every live file), then the repository, then GitHub. `target`: a connection the caller
    opened (one for the whole plan); `sha` may be a callable, asked only when GitHub is read (a
    plan knows its commit once the bundle is verified); `checkpoint` is called between the
    parts and may raise to stop reading."""
    gathered = Gathered(env_name)
    server: list[Part] = []
    if loaded is not None and env_name is not None:
        if is_fleet(loaded, env_name):  # every host on its own, and the fleet as a whole (issue 12)
            from freigabe.usecases.fleet_audit import gather_fleet

            server, gathered.decisions = gather_fleet(loaded, env_name, "server" in areas)
        elif target is not None:
            server = _one_target(loaded, target, "server" in areas, gathered)
        else:
            with open_target(loaded, env_name) as opened:  # one connection for the server facts and the ledger
                server = _one_target(loaded, opened, "server" in areas, gathered)
    checkpoint()
    if "repo" in areas:
        root = repo_dir or (loaded.root if loaded else Path.cwd())
        gathered.parts.append(repo_audit.audit_repo(root, linters=linters))
    checkpoint()
    if "github" in areas:
        if loaded is None or loaded.config.github is None:
            gathered.skipped["github"] = 'no [github] table in freigabe.toml (repo = "owner/name")'
        else:
            known = sha() if callable(sha) else sha
            commit = known if known and re.fullmatch(r"[0-9a-f]{40}", known) else None
            gathered.parts.append(
                github_audit.evaluate(github_facts.read(loaded.config.github, commit), loaded.config.github)
            )
    if (loaded is None or env_name is None) and "server" in areas:
        gathered.skipped["server"] = "needs freigabe.toml and an environment"
    gathered.parts += server
    return gathered


def judge_audit(
    loaded: LoadedConfig | None, gathered: Gathered, needs_bytes: int = 0, extra: list[Finding] | None = None
) -> AuditResult:
    """Judge what was gathered and decide. `needs_bytes`: what the new release needs on the
    target's disk; `extra`: findings gathered elsewhere for this environment (the plan's
    migrations), decided with the rest, attestations and waivers applied alike."""
    env_name, decisions = gathered.environment, gathered.decisions
    result = AuditResult(env_name, skipped=dict(gathered.skipped))
    findings = [f for part in gathered.parts for f in judged(part, needs_bytes)]
    if loaded is None or env_name is None or decisions is None:
        result.findings = _redacted(findings)
        return result
    findings += extra or []
    result.findings = _redacted(apply_waivers(apply_attestations(findings, decisions), decisions, loaded.root))
    env = loaded.config.environment(env_name)
    production = is_production(env_name, env, loaded.config.policy)
    result.decision = decide(result.findings, env_name, loaded.config.policy, production)
    return result


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
    """Gather and judge in one go (see `gather_audit` and `judge_audit`)."""
    return judge_audit(loaded, gather_audit(loaded, env_name, areas, repo_dir, sha, linters), needs_bytes, extra)
