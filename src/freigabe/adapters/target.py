"""An environment's target, opened: its transport and where things are on it.

`Target` is a context manager (`with open_target(loaded, env) as target:`): the connection
is closed however the block ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from freigabe.adapters.transport import Transport, open_transport
from freigabe.config import LoadedConfig
from freigabe.config.models import EnvironmentConfig
from freigabe.core.layout import Layout
from freigabe.errors import UsageError


@dataclass
class Target:
    name: str
    env: EnvironmentConfig
    transport: Transport
    layout: Layout

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


def open_target(loaded: LoadedConfig, env_name: str) -> Target:
    env = loaded.config.environment(env_name)
    if len(env.targets) > 1:
        raise UsageError(
            f"environment {env_name} lists {len(env.targets)} targets; coordinated fleet deploys "
            "are not supported yet — configure one target per environment for now"
        )
    return Target(env_name, env, open_transport(env.targets[0], env.ssh), Layout(env.deploy_path))
