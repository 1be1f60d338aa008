"""What a fleet's hosts show, read together (read-only): each host's live release, releases, marks,
lock and ledger, and the release the fleet as a whole serves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from freigabe.adapters.inventory import environment_hosts, select
from freigabe.adapters.target import Target, close_all, open_targets
from freigabe.config import LoadedConfig
from freigabe.config.models import Config
from freigabe.core.fleet import Host, drifted, fleet_release
from freigabe.engine import lock
from freigabe.engine.session import target_entries
from freigabe.errors import FreigabeError
from freigabe.usecases.placeholders import resolved_config


@dataclass
class HostState:
    host: Host
    reachable: bool
    error: str = ""
    current: str | None = None
    releases: list[str] = field(default_factory=list)
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: lock.LockInfo | None = None
    lock_stale: str | None = None
    config: Config | None = None  # with the host's placeholders filled in (its PHP-FPM service)
    config_error: FreigabeError | None = None

    @property
    def name(self) -> str:
        return self.host.name


@dataclass
class FleetState:
    environment: str
    hosts: dict[str, HostState]

    @property
    def currents(self) -> dict[str, str | None]:
        return {n: h.current for n, h in self.hosts.items() if h.reachable}

    @property
    def release(self) -> str | None:
        return fleet_release(self.currents)

    @property
    def drift(self) -> dict[str, str | None]:
        return drifted(self.currents)

    @property
    def unreachable(self) -> dict[str, str]:
        return {n: h.error for n, h in self.hosts.items() if not h.reachable}


def read_host(loaded: LoadedConfig, target: Target, host: Host, ledger: bool = True) -> HostState:
    state = HostState(host, True)
    state.current = target.current()
    state.releases = target.releases()
    state.marks = target.marks()
    if ledger:
        state.entries = target_entries(loaded, target)
    state.lock, state.lock_stale = lock.lock_state(target.transport, target.layout, target.env.lock_stale_after)
    try:
        state.config = resolved_config(loaded, target.name, target.transport)
    except FreigabeError as exc:
        state.config_error = exc
    return state


def read_fleet(loaded: LoadedConfig, env_name: str, wanted: list[str] | None = None, ledger: bool = True) -> FleetState:
    """Every (or every selected) host of the environment, read in parallel; one that cannot be
    reached is named with the reason, not dropped."""
    hosts = select(environment_hosts(loaded, env_name), wanted, env_name)
    opened = open_targets(loaded, env_name, hosts)
    try:
        by_name = {h.name: h for h in hosts}

        def one(name: str) -> HostState:
            target = opened[name]
            if not isinstance(target, Target):
                return HostState(by_name[name], False, target.message)
            try:
                return read_host(loaded, target, by_name[name], ledger)
            except FreigabeError as exc:
                if ledger and "ledger" in type(exc).__name__.lower():
                    raise
                return HostState(by_name[name], False, exc.message)

        names = [h.name for h in hosts]
        if len(names) == 1:
            states = [one(names[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
                states = list(pool.map(one, names))
    finally:
        close_all(opened)
    return FleetState(env_name, {s.name: s for s in states})


def merged_entries(state: FleetState) -> list[dict[str, Any]]:
    """Every host's ledger entries in time order (environment-wide records: waivers, attestations)."""
    entries = [e for h in state.hosts.values() for e in h.entries]
    return sorted(entries, key=lambda e: (str(e.get("ts", "")), int(e.get("seq", 0))))
