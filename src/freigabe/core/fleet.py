"""A fleet: the hosts of one environment, the order they switch in, and drift. Pure.

An environment with one target is a fleet of one: the same planning and the same run, with
its one host playing every role. Several hosts get one release name, are prepared together,
migrated once (on the `migrate` host), switched together (or canary first, or in waves) and
verified each through its own address; a failure sends every switched host back.
"""

from __future__ import annotations

import math
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from freigabe.config.models import Config, EnvironmentConfig, FleetConfig
from freigabe.core.urls import same_origin

Strategy = Literal["all-at-once", "canary", "waves"]
OnUnreachable = Literal["abort", "skip"]


class Host(BaseModel):
    """One host as the run reaches it: its SSH target (port and user applied), roles, own URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    target: str
    roles: list[str] = Field(default_factory=lambda: ["web"])
    url: str | None = None  # where it answers HTTP itself; None: the environment URL (a fleet of one)
    key_file: str | None = None
    jump: str | None = None

    @property
    def web(self) -> bool:
        return "web" in self.roles

    @property
    def migrate(self) -> bool:
        return "migrate" in self.roles


class FleetPolicy(BaseModel):
    """What the approver agrees to besides the steps: order, batches, and what an unreachable host means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy = "all-at-once"
    batches: list[list[str]]  # hosts switched together, batch after batch, verified in between
    on_unreachable: OnUnreachable = "abort"
    concurrency: int = 8


def witness_name(env: str, host: str) -> str:
    """The local ledger copy of one host: `<env>` for the only host, `<env>/<host>` in a fleet."""
    return f"{env}/{host}" if host else env


def wave_count(size: int | str, hosts: int) -> int:
    if isinstance(size, int):
        return max(1, min(size, hosts))
    return max(1, min(hosts, math.ceil(hosts * int(size.rstrip("%")) / 100)))


def switch_batches(hosts: list[Host], fleet: FleetConfig, strategy: Strategy | None = None) -> list[list[str]]:
    """The switch order. Hosts that serve no HTTP (workers, a migrate-only host) go with the last
    batch: nothing they run is verified by a health check, so they follow the verified web hosts."""
    strategy = strategy or fleet.strategy
    web = [h.name for h in hosts if h.web]
    rest = [h.name for h in hosts if not h.web]
    if strategy == "all-at-once" or len(hosts) == 1 or not web:
        return [[h.name for h in hosts]]
    if strategy == "canary":
        canary = fleet.canary if fleet.canary in web else web[0]
        others = [n for n in web if n != canary] + rest
        return [[canary], others] if others else [[canary]]
    size = wave_count(fleet.wave_size, len(web))
    waves = [web[i : i + size] for i in range(0, len(web), size)]
    waves[-1] = waves[-1] + rest
    return waves


def rebase(url: str, env_url: str, host_url: str) -> str:
    """A check URL on the environment's origin, sent to one host's own address instead."""
    if "://" not in url:
        return url
    if not same_origin(url, env_url):
        return url
    parts, base = urlsplit(url), urlsplit(host_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def host_config(config: Config, env_name: str, host: Host, fleet: bool) -> Config:
    """The config as one host of a fleet sees it: checks sent to its own URL (credentials with
    them, to that origin only), migrations and the database dump only on the `migrate` host.
    A fleet of one sees the config as it is."""
    if not fleet:
        return config
    env = config.environment(env_name)
    updates: dict[str, Any] = {}
    if host.web and host.url:
        base = env.url
        updates["url"] = host.url
        updates["health"] = [c.model_copy(update={"url": rebase(c.url, base, host.url)}) for c in env.health]
        probe = env.readiness.probe
        if probe is not None:
            probe = probe.model_copy(update={"url": rebase(probe.url, base, host.url)})
            updates["readiness"] = env.readiness.model_copy(update={"probe": probe})
        assets = env.assets
        updates["assets"] = assets.model_copy(
            update={
                "manifest": rebase(assets.manifest, base, host.url) if assets.manifest else None,
                "base": rebase(assets.base, base, host.url),
                "extra": [rebase(u, base, host.url) for u in assets.extra],
            }
        )
    if not host.migrate:
        updates["backup"] = env.backup.model_copy(update={"db_dump": None})
    environment: EnvironmentConfig = env.model_copy(update=updates)
    deploy = config.deploy if host.migrate else config.deploy.model_copy(update={"migrate": []})
    return config.model_copy(update={"deploy": deploy, "environments": {**config.environments, env_name: environment}})


def fleet_release(currents: dict[str, str | None]) -> str | None:
    """The release most hosts serve (ties: the newest name); None when none serves one."""
    counts: dict[str, int] = {}
    for release in currents.values():
        if release:
            counts[release] = counts.get(release, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda r: (counts[r], r))


def drifted(currents: dict[str, str | None]) -> dict[str, str | None]:
    """The hosts whose live release is not the fleet's, with what they serve."""
    release = fleet_release(currents)
    return {host: current for host, current in currents.items() if current != release}


def primary(hosts: list[Host]) -> Host:
    """Where environment-wide records go (attestations, waivers): the `migrate` host, else the first."""
    return next((h for h in hosts if h.migrate), hosts[0])
