"""`freigabe build`: build, check, layer-1 gates, then the reproducible bundle."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from freigabe.adapters.bundle import (
    BundleInfo,
    bundle_name,
    create_bundle,
    file_sha256,
    list_members,
    prune_bundles,
    source_secrets,
)
from freigabe.adapters.transport import LocalTransport
from freigabe.config import LoadedConfig
from freigabe.core.bundle_policy import effective_exclude
from freigabe.errors import BundleError, GateFailed, StepFailed, UsageError


@dataclass
class BuildResult:
    bundle: BundleInfo
    commands: list[dict[str, object]] = field(default_factory=list)
    gates_passed: int = 0
    pruned: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # the effective list the bundle was built with


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
    exclude = build_excludes(loaded)
    members = list_members(source, exclude)
    secrets = {p: why for p, why in source_secrets(source, members).items() if p not in cfg.allow_secrets}
    if secrets:
        first, why = next(iter(secrets.items()))
        more = f" (and {len(secrets) - 1} more: {', '.join(list(secrets)[1:4])})" if len(secrets) > 1 else ""
        raise BundleError(
            f"{first}{more} would ship in the bundle and looks like a secret ({why}); add it to [build] exclude, "
            "or if it must ship, allow that exact path in [build] allow_secrets — no bundle was written"
        )
    gates = layer1_gates(members, list(loaded.config.gates.required_files), list(loaded.config.gates.required_dirs))
    warnings = []
    head = _git(source, "rev-parse", "HEAD")
    mtime: int | None = None
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        mtime = int(os.environ["SOURCE_DATE_EPOCH"])
    if sha is None and head:
        sha = head
        changed = _changed_members(source, members)
        if changed:
            # Named by content too: two builds of different uncommitted trees never share a name.
            sha = f"{head[:12]}-dirty-{content_id(source, members)[:12]}"
            warnings.append(
                f"the git tree has uncommitted changes ({', '.join(changed[:3])}"
                f"{', …' if len(changed) > 3 else ''}): the bundle is named {sha} so it is never "
                f"mistaken for commit {head[:12]}"
            )
        if mtime is None:
            stamp = _git(source, "log", "-1", "--format=%ct")
            mtime = int(stamp) if stamp and stamp.isdigit() else None
    if sha is None:
        sha = content_id(source, members)
    if not sha.replace("-", "").isalnum():
        raise UsageError(f"--sha {sha!r} may hold only letters, digits and '-'")
    earlier = out_dir / bundle_name(sha)
    before = file_sha256(earlier) if earlier.is_file() else None
    info = create_bundle(source, out_dir, sha, exclude, mtime)
    if before is not None and before != info.sha256:
        warnings.append(
            f"replaced {info.name}, which had different content (SHA-256 {before[:12]}… → "
            f"{info.sha256[:12]}…); a plan made for the earlier bundle is stale now"
        )
    pruned = prune_bundles(out_dir, cfg.keep_bundles, cfg.retention_days)
    return BuildResult(info, commands, gates, pruned, warnings, exclude)


def build_excludes(loaded: LoadedConfig) -> list[str]:
    """Everything a build leaves out: the protected names, the preset's list, the user's list,
    and freigabe's own output (bundles, reports, local state) where it lies inside the source."""
    cfg = loaded.config.build
    source = (loaded.root / cfg.source).resolve()
    own = [loaded.root / cfg.output_dir, loaded.root / "reports", loaded.state_dir]
    extra = [str(p.resolve().relative_to(source)) for p in own if p.resolve().is_relative_to(source)]
    return effective_exclude(list(cfg.default_exclude), list(cfg.exclude), [e for e in extra if e != "."])


def _changed_members(source: Path, members: list[str]) -> list[str]:
    """Uncommitted changes (tracked or untracked, not ignored) that end up in the bundle."""
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    prefix = _git(source, "rev-parse", "--show-prefix") or ""
    shipped = set(members)
    entries = out.stdout.decode("utf-8", "replace").split("\0")
    changed, skip = [], False
    for entry in entries:
        if skip or len(entry) < 4:
            skip = False
            continue
        status, path = entry[:2], entry[3:]
        skip = "R" in status or "C" in status  # a rename is followed by its old path
        rel = path.removeprefix(prefix)
        if rel in shipped:
            changed.append(rel)
    return changed
