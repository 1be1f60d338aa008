"""Load `freigabe.toml`: TOML → preset defaults → pydantic, with readable errors."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from freigabe.config.models import Config
from freigabe.config.presets import apply_preset
from freigabe.core.names import CONFIG_NAME
from freigabe.core.redact import REDACTOR
from freigabe.errors import ConfigError


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    path: Path

    @property
    def root(self) -> Path:
        """The project directory: where freigabe.toml lives and `.freigabe/` is kept."""
        return self.path.parent

    @property
    def digest(self) -> str:
        return config_digest(self.config)

    @property
    def state_dir(self) -> Path:
        """`.freigabe/` beside freigabe.toml: plans, the ledger witness, run logs, keys, refusals."""
        return self.root / ".freigabe"


def config_digest(config: Config) -> str:
    """SHA-256 of the validated config: comments and key order do not change it."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _fix_for(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "add this key"
    if kind == "extra_forbidden":
        return "remove it or correct the spelling"
    if kind == "literal_error":
        return f"use one of: {error.get('ctx', {}).get('expected', '')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give a value of the right type ({error['msg'].lower()})"
    return "correct the value"


def format_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "value_error":  # our validators already say what to write
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"{where}: {error['msg']} — {_fix_for(error)}")
    return problems


def parse_config(data: dict[str, Any], source: str = CONFIG_NAME) -> Config:
    try:
        return Config.model_validate(apply_preset(data))
    except ValidationError as exc:
        problems = format_problems(exc)
        count = len(problems)
        raise ConfigError(
            f"{source} has {count} problem{'s' if count != 1 else ''}; fix "
            f"{'them' if count != 1 else 'it'} and run the command again",
            problems,
        ) from None


def find_config(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or above; create one with "
        "`freigabe init --preset laravel` (or --preset generic) or pass --config PATH"
    )


def load_config(path: Path | None = None) -> LoadedConfig:
    config_path = path if path is not None else find_config()
    if not config_path.is_file():
        raise ConfigError(
            f"config file {config_path} does not exist; create it with `freigabe init` or pass the right --config PATH"
        )
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid TOML ({exc}); fix the syntax there") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{config_path} is not UTF-8 text; save it as UTF-8") from None
    loaded = LoadedConfig(parse_config(data, str(config_path)), config_path.resolve())
    register_secrets(loaded.config)
    return loaded


def secret_env_names(config: Config) -> list[str]:
    """Every environment variable the config names as holding a secret."""
    names: list[str] = []
    for env in config.environments.values():
        sources: list[Any] = [*env.health, env.assets, env.readiness.probe]
        for source in sources:
            for attr in ("bearer_token_env", "basic_auth_password_env"):
                name = getattr(source, attr, None)
                if name and name not in names:
                    names.append(name)
    if config.github is not None:
        names += [n for n in config.github.token_env if n not in names]
    return names


def register_secrets(config: Config) -> None:
    """Hand the values of every secret the config names to the process's one redactor."""
    REDACTOR.extend([os.environ.get(name, "") for name in secret_env_names(config)])
