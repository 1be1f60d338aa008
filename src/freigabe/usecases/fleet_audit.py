"""The server audit of a fleet: every host's checks on its own (each finding names its host), and
the fleet's own: hosts it cannot reach, and drift (hosts on different releases)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from freigabe.adapters.inventory import environment_hosts
from freigabe.adapters.target import Target, close_all, open_targets
from freigabe.audit.fleet import check_drift, check_reachable
from freigabe.config import LoadedConfig
from freigabe.core.findings import Finding
from freigabe.core.fleet import Host, witness_name
from freigabe.engine.recorder import decisions
from freigabe.engine.session import recent_entries


def _per_host(finding: Finding, host: str) -> Finding:
    subject = f"{host}/{finding.subject}" if finding.subject else host
    return finding.model_copy(update={"subject": subject, "evidence": {**finding.evidence, "host": host}})


def audit_fleet(
    loaded: LoadedConfig, env_name: str, server: bool, needs_bytes: int = 0
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """(findings, every attestation and waiver the hosts' ledgers hold, in time order)."""
    from freigabe.usecases.audit import server_findings

    env = loaded.config.environment(env_name)
    hosts = environment_hosts(loaded, env_name)
    opened = open_targets(loaded, env_name, hosts)
    by_name = {h.name: h for h in hosts}
    try:

        def one(name: str) -> tuple[list[Finding], list[dict[str, Any]], str | None]:
            target = opened[name]
            if not isinstance(target, Target):
                return [], [], None
            current = target.current()
            entries = recent_entries(loaded, target, current)  # brings the host's local copy up
            found = server_findings(loaded, target, entries, needs_bytes, by_name[name]) if server else []
            return [_per_host(f, name) for f in found], decisions(loaded.root, witness_name(env_name, name)), current

        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            results = dict(zip(by_name, pool.map(one, by_name), strict=True))
    finally:
        close_all(opened)
    findings: list[Finding] = []
    entries: list[dict[str, Any]] = []
    currents: dict[str, str | None] = {}
    for name, (found, host_entries, current) in results.items():
        findings += found
        entries += host_entries
        if isinstance(opened[name], Target):
            currents[name] = current
    if server:
        errors = {n: t.message for n, t in opened.items() if not isinstance(t, Target)}
        findings += check_reachable(errors, env.fleet.on_unreachable)
        findings += check_drift(currents, _roles(hosts))
    entries.sort(key=lambda e: (str(e.get("ts", "")), int(e.get("seq", 0))))
    return findings, entries


def _roles(hosts: list[Host]) -> dict[str, list[str]]:
    return {h.name: list(h.roles) for h in hosts}
