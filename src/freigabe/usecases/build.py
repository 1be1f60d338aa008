"""`freigabe build`: build, check, layer-1 gates, then the reproducible bundle."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from freigabe.adapters.bundle import BundleInfo, create_bundle, list_members, prune_bundles
from freigabe.adapters.transport import LocalTransport
from freigabe.config import LoadedConfig
from freigabe.errors import GateFailed, StepFailed, UsageError


@dataclass
class BuildResult:
    bundle: BundleInfo
    commands: list[dict[str, object]] = field(default_factory=list)
    gates_passed: int = 0
    pruned: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _git(source: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def content_id(source: Path, members: list[str]) -> str:
    """A commit-like id for a tree outside git: SHA-1 of paths and contents (40 hex)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for rel in members:
        path = source / rel
        digest.update(rel.encode() + b"\0")
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
        elif path.is_symlink():
            digest.update(os.readlink(path).encode())
    return digest.hexdigest()


def layer1_gates(members: list[str], files: list[str], dirs: list[str]) -> int:
    present = set(members)
    missing = [f for f in files if f not in present]
    missing += [f"{d}/" for d in dirs if d not in present]
    if missing:
        raise GateFailed(
            f"layer-1 gate failed: the bundle would lack {', '.join(missing)}; fix the build "
            "(or [build] exclude) — no bundle was written"
        )
    return len(files) + len(dirs)


def build(
    loaded: LoadedConfig,
    *,
    sha: str | None = None,
    on_command: Callable[[list[str]], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BuildResult:
    cfg = loaded.config.build
    source = (loaded.root / cfg.source).resolve()
    if not source.is_dir():
        raise UsageError(f"[build] source {source} is not a directory; fix `source` in freigabe.toml")
    runner = LocalTransport()
    commands: list[dict[str, object]] = []
    for phase, argvs in (("build", cfg.commands), ("check", cfg.checks), ("finalize", cfg.finalize)):
        for argv in argvs:
            if on_command:
                on_command(argv)
            result = runner.run(argv, cwd=str(source), timeout=cfg.command_timeout, on_line=on_line)
            commands.append(
                {"phase": phase, "argv": argv, "exit": result.returncode, "seconds": round(result.seconds, 2)}
            )
            if not result.ok:
                raise StepFailed(
                    f"{phase} command `{' '.join(argv)}` failed (exit {result.returncode}: "
                    f"{result.tail(1) or 'no output'}); fix it — no bundle was written"
                )
    out_dir = (loaded.root / cfg.output_dir).resolve()
    exclude = list(cfg.exclude)
    if out_dir.is_relative_to(source):
        exclude.append(str(out_dir.relative_to(source)))
    members = list_members(source, exclude)
    gates = layer1_gates(members, list(loaded.config.gates.required_files), list(loaded.config.gates.required_dirs))
    warnings = []
    head = _git(source, "rev-parse", "HEAD")
    mtime: int | None = None
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        mtime = int(os.environ["SOURCE_DATE_EPOCH"])
    if sha is None and head:
        sha = head
        if _git(source, "status", "--porcelain", "--untracked-files=no"):
            sha = f"{head[:32]}dirty"
            warnings.append(
                "the git tree has uncommitted changes: the bundle is named "
                f"{sha} so it is never mistaken for commit {head[:12]}"
            )
        if mtime is None:
            stamp = _git(source, "log", "-1", "--format=%ct")
            mtime = int(stamp) if stamp and stamp.isdigit() else None
    if sha is None:
        sha = content_id(source, members)
    if not sha.replace("-", "").isalnum():
        raise UsageError(f"--sha {sha!r} may hold only letters, digits and '-'")
    info = create_bundle(source, out_dir, sha, exclude, mtime)
    pruned = prune_bundles(out_dir, cfg.keep_bundles, cfg.retention_days)
    return BuildResult(info, commands, gates, pruned, warnings)
