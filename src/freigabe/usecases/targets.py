"""An environment's target, opened: its transport and where things are on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freigabe.adapters.transport import Transport, open_transport
from freigabe.config import LoadedConfig
from freigabe.config.models import EnvironmentConfig
from freigabe.core.layout import Layout
from freigabe.errors import UsageError


@dataclass
class Target:
    """An environment's target, opened: the transport and where things are on it."""

    name: str
    env: EnvironmentConfig
    transport: Transport
    layout: Layout

    def current(self) -> str | None:
        return self.layout.release_of(self.transport.readlink(self.layout.current))

    def close(self) -> None:
        self.transport.close()


def open_target(loaded: LoadedConfig, env_name: str) -> Target:
    env = loaded.config.environment(env_name)
    if len(env.targets) > 1:
        raise UsageError(
            f"environment {env_name} lists {len(env.targets)} targets; coordinated fleet deploys "
            "are not supported yet — configure one target per environment for now"
        )
    return Target(env_name, env, open_transport(env.targets[0], env.ssh), Layout(env.deploy_path))


def state_dir(loaded: LoadedConfig) -> Path:
    return loaded.root / ".freigabe"
