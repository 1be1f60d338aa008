"""Which environment variables the config names as holding secrets. Pure: names only, no values."""

from __future__ import annotations

from freigabe.config.models import Config


def environment_secret_names(config: Config, env_name: str) -> list[str]:
    """The secrets an environment's health checks, release probe and asset check send."""
    env = config.environment(env_name)
    names: list[str] = []
    for holder in [*env.health, env.assets, env.readiness.probe]:
        for attr in ("bearer_token_env", "basic_auth_password_env"):
            name = getattr(holder, attr, None)
            if name and name not in names:
                names.append(name)
    return names


def secret_names(config: Config) -> list[str]:
    """Every secret the config names, the GitHub token variables included."""
    names: list[str] = []
    for env_name in config.environments:
        names += [n for n in environment_secret_names(config, env_name) if n not in names]
    if config.github is not None:
        names += [n for n in config.github.token_env if n not in names]
    return names
