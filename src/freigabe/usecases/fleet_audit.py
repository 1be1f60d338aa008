"""The server audit of a fleet: every host's checks on its own (each finding names its host), and
the fleet's own: hosts it cannot reach, and drift (hosts on different releases)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from freigabe.adapters.inventory import environment_hosts
from freigabe.adapters.target import Target, close_all, open_targets
from freigabe.audit.fleet import check_drift, check_reachable
from freigabe.config import LoadedConfig
from freigabe.core.fleet import Host, witness_name
from freigabe.engine.recorder import decisions
from freigabe.engine.session import recent_entries
from freigabe.usecases.audit import Part, ServerPart, read_server_facts


def gather_fleet(loaded: LoadedConfig, env_name: str, server: bool) -> tuple[list[Part], list[dict[str, Any]]]:
    """(each host's server facts, then the fleet's own findings; every attestation and waiver the
    hosts' ledgers hold, in time order)."""
    env = loaded.config.environment(env_name)
    hosts = environment_hosts(loaded, env_name)
    opened = open_targets(loaded, env_name, hosts)
    by_name = {h.name: h for h in hosts}
    try:

        def one(name: str) -> tuple[ServerPart | None, list[dict[str, Any]], str | None]:
            target = opened[name]
            if not isinstance(target, Target):
                return None, [], None
            current = target.current()
            entries = recent_entries(loaded, target, current)  # brings the host's local copy up
            facts = ServerPart(read_server_facts(loaded, target, entries, by_name[name]), name) if server else None
            return facts, decisions(loaded.root, witness_name(env_name, name)), current

        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            results = dict(zip(by_name, pool.map(one, by_name), strict=True))
    finally:
        close_all(opened)
    parts: list[Part] = []
    entries: list[dict[str, Any]] = []
    currents: dict[str, str | None] = {}
    for name, (facts, host_entries, current) in results.items():
        if facts is not None:
            parts.append(facts)
        entries += host_entries
        if isinstance(opened[name], Target):
            currents[name] = current
    if server:
        errors = {n: t.message for n, t in opened.items() if not isinstance(t, Target)}
        parts.append(check_reachable(errors, env.fleet.on_unreachable) + check_drift(currents, _roles(hosts)))
    entries.sort(key=lambda e: (str(e.get("ts", "")), int(e.get("seq", 0))))
    return parts, entries


def _roles(hosts: list[Host]) -> dict[str, list[str]]:
    return {h.name: list(h.roles) for h in hosts}
