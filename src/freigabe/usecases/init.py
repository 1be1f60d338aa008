"""`freigabe init`: a commented freigabe.toml for a preset, and a .gitignore that keeps
freigabe's local state and reports out of the repository (and so out of every bundle)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from freigabe.config import load_config, parse_config
from freigabe.errors import UsageError
from freigabe.usecases.build import build_excludes

PRESETS = ("laravel", "generic")
IGNORED = (".freigabe/", "reports/")


@dataclass(frozen=True)
class Initialised:
    path: Path
    effective_exclude: list[str]
    gitignore: Path
    ignored_added: list[str]


def template(preset: str) -> str:
    if preset not in PRESETS:
        raise UsageError(f"preset {preset!r} does not exist; use --preset laravel or --preset generic")
    return resources.files("freigabe.config").joinpath(f"templates/{preset}.toml").read_text("utf-8")


def init(path: Path, preset: str, force: bool = False) -> Initialised:
    text = template(preset)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")
    parse_config(tomllib.loads(text.replace("{effective}", "")), str(path))  # the template is valid
    path.write_text(text.replace("{effective}", ""), encoding="utf-8")
    effective = build_excludes(load_config(path))
    path.write_text(text.replace("{effective}", ", ".join(effective)), encoding="utf-8")
    gitignore = path.parent / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    present = {line.strip().rstrip("/") for line in lines}
    added = [entry for entry in IGNORED if entry.rstrip("/") not in present]
    if added:
        body = "\n".join(lines).rstrip("\n")
        gitignore.write_text(
            (body + "\n\n" if body else "") + "# freigabe: local state and reports\n" + "\n".join(added) + "\n",
            encoding="utf-8",
        )
    return Initialised(path, effective, gitignore, added)
