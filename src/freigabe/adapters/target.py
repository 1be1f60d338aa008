"""An environment's target, opened: its transport and where things are on it.

`Target` is a context manager (`with open_target(loaded, env) as target:`): the connection
is closed however the block ends. In a fleet each host is a target of its own
(`open_target(loaded, env, host)`); `open_targets` opens several at once.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from freigabe.adapters.inventory import environment_hosts, ssh_config
from freigabe.adapters.transport import Transport, open_transport
from freigabe.config import LoadedConfig
from freigabe.config.models import EnvironmentConfig
from freigabe.core.fleet import Host
from freigabe.core.layout import Layout
from freigabe.errors import FreigabeError, TargetError, Unreachable, UsageError


@dataclass
class Target:
    name: str  # the environment
    env: EnvironmentConfig
    transport: Transport
    layout: Layout
    host: str = ""  # the host's name in a fleet; "" for the only host of an environment

    def current(self) -> str | None:
        return self.layout.release_of(self.transport.readlink(self.layout.current))

    def marks(self) -> dict[str, dict[str, Any]]:
        """Each release's good/bad mark, with its reason."""
        marks: dict[str, dict[str, Any]] = {}
        for name in self.transport.listdir(self.layout.marks):
            if name.endswith(".json"):
                try:
                    data = json.loads(self.transport.read(f"{self.layout.marks}/{name}"))
                except ValueError:
                    continue
                marks[name[: -len(".json")]] = data
        return marks

    def releases(self) -> list[str]:
        return [n for n in self.transport.listdir(self.layout.releases) if not n.startswith(".")]

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def is_fleet(loaded: LoadedConfig, env_name: str) -> bool:
    return len(environment_hosts(loaded, env_name)) > 1


def open_target(loaded: LoadedConfig, env_name: str, host: Host | None = None, *, what: str = "this command") -> Target:
    """The environment's only target, or one host of its fleet."""
    env = loaded.config.environment(env_name)
    if host is None:
        hosts = environment_hosts(loaded, env_name)
        if len(hosts) > 1:
            raise UsageError(
                f"environment {env_name} is a fleet of {len(hosts)} hosts ({', '.join(h.name for h in hosts)}); "
                f"{what} works on one target — run it for an environment with one host"
            )
        host, name = hosts[0], ""
    else:
        name = host.name if is_fleet(loaded, env_name) else ""
    ssh = ssh_config(env.ssh, host)
    try:
        transport = open_transport(host.target, ssh)
    except TargetError as exc:
        if not isinstance(exc, Unreachable) and not _answers(ssh.jump or host.target, ssh.connect_timeout):
            raise Unreachable(exc.message) from None
        raise
    return Target(env_name, env, transport, Layout(env.deploy_path), name)


def _answers(target: str, timeout: float) -> bool:
    """Whether anything accepts a TCP connection at the target's SSH address: a refused key or an
    unknown host key is a problem to fix, a host that does not answer at all is unreachable."""
    parts = urlsplit(target)
    if parts.scheme != "ssh" or not parts.hostname:
        return True
    try:
        with socket.create_connection((parts.hostname, parts.port or 22), timeout=min(timeout, 5.0)):
            return True
    except OSError:
        return False


Opened = Target | FreigabeError


def open_targets(loaded: LoadedConfig, env_name: str, hosts: list[Host], concurrency: int = 16) -> dict[str, Opened]:
    """Several hosts at once (connections in parallel); a host that cannot be reached maps to its error."""

    def one(host: Host) -> Opened:
        try:
            return open_target(loaded, env_name, host)
        except FreigabeError as exc:
            return exc

    if len(hosts) == 1:
        return {hosts[0].name: one(hosts[0])}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(hosts)))) as pool:
        return dict(zip((h.name for h in hosts), pool.map(one, hosts), strict=True))


def close_all(targets: dict[str, Opened]) -> None:
    for target in targets.values():
        if isinstance(target, Target):
            target.close()


def each_host(loaded: LoadedConfig, env_name: str, hosts: list[Host], read: Callable[[Target], object]) -> None:
    """Open every host, run `read` on each reachable one (in parallel), close them all."""
    targets = open_targets(loaded, env_name, hosts)
    try:
        reachable = [t for t in targets.values() if isinstance(t, Target)]
        if len(reachable) <= 1:
            for target in reachable:
                read(target)
            return
        with ThreadPoolExecutor(max_workers=min(16, len(reachable))) as pool:
            list(pool.map(read, reachable))
    finally:
        close_all(targets)
