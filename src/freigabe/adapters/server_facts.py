"""The facts a target shows, read through its transport for the server audit. Read-only.

Everything a check judges comes from here; the checks themselves (`freigabe.audit.server`)
are pure. Command output and configuration files pass through the redactor first.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from freigabe.adapters import http_client
from freigabe.adapters.php_fpm import fpm_configs, reloads_fpm
from freigabe.adapters.remote_digest import remote_value_digest
from freigabe.adapters.target import Target
from freigabe.adapters.transport import Transport
from freigabe.audit.server import CommandFact, ServerFacts
from freigabe.config.models import Config, EnvironmentConfig
from freigabe.core.layout import is_release_name
from freigabe.core.redact import Redactor

T = TypeVar("T")


def _token_env(env: EnvironmentConfig) -> str | None:
    for check in env.health:
        if check.bearer_token_env:
            return check.bearer_token_env
    return None


_ADDED = "--- added ---"  # ends no line sha256sum prints

# One command, one round trip, and nothing but the differences travel: the files the manifest's
# checksums no longer match, then (after the marker) the files that are not in the manifest:
# every listed path is printed twice and every found file once, so `uniq -u` keeps the found
# files the list does not name. A checksum line is "<64 hex>  ./path" (release.extract writes it).
_DRIFT = r"""
[ -f "$2" ] || { printf 'no manifest\n'; exit 0; }
cd "$1" || exit 2
sha256sum --quiet -c "$2" 2>/dev/null
printf '%s\n' "$3"
{ cut -c67- "$2"; cut -c67- "$2"; find . -type f; } | LC_ALL=C sort | LC_ALL=C uniq -u
"""


def _drift(target: Target, release: str, revision_file: str) -> dict[str, list[str]] | None:
    """The live release against the checksums recorded when it was deployed, checked on the
    target; None when the release has no checksums (not deployed by freigabe)."""
    t, layout = target.transport, target.layout
    check = t.run(["sh", "-c", _DRIFT, "sh", layout.release(release), layout.sums(release), _ADDED], timeout=600)
    lines = check.output.splitlines()
    if lines == ["no manifest"]:
        return None
    if _ADDED not in lines:
        why = " ".join(lines[-3:]).strip() or f"exit status {check.returncode}"
        return {"changed": [f"(the check could not run on the target: {why[:300]})"], "added": []}
    cut = lines.index(_ADDED)
    changed = sorted(
        {
            line.rsplit(":", 1)[0].removeprefix("./")
            for line in lines[:cut]
            if line.rstrip().endswith(("FAILED", "FAILED open or read"))
        }
    )
    added = sorted(p.removeprefix("./") for p in lines[cut + 1 :] if p and p != f"./{revision_file}")
    return {"changed": changed, "added": added}


def _ledger_prefix(t: Transport, path: str, witness: tuple[int, str] | None) -> tuple[int, str, str] | None:
    """The target's SHA-256 of as many ledger bytes as the local copy holds (one command, 64 bytes back)."""
    if witness is None or witness[0] == 0:
        return None
    size, mine = witness
    result = t.run(["sh", "-c", 'head -c "$1" "$2" | sha256sum', "sh", str(size), path], timeout=120)
    found = [w for w in result.output.split() if len(w) == 64]
    return size, mine, found[-1] if result.ok and found else "unreadable"


def _up_from(path: str) -> list[str]:
    """`path` and each folder above it, up to (not including) the root."""
    chain = []
    while path not in ("", "/"):
        chain.append(path)
        path = posixpath.dirname(path)
    return chain


def _probe_url(url: str) -> str | None:
    """None when the environment URL answers at all (any HTTP status), else why it does not."""
    try:
        http_client.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None


def _beside(work: Callable[[], T]) -> Future[T]:
    """`work` in a thread of its own (ended when the work is); its result or error in the future."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="freigabe-facts")
    try:
        return pool.submit(work)
    finally:
        pool.shutdown(wait=False)


@dataclass(frozen=True)
class Drift:
    """A drift check under way (see `start_drift`)."""

    release: str
    found: Future[dict[str, list[str]] | None]


def start_drift(target: Target, release: str | None, revision_file: str) -> Drift | None:
    """Start the drift check of `release` (it hashes every file there) in a thread of its own, so
    the other facts are read meanwhile; `gather` takes it. Wait for it however the reading ends."""
    if release is None:
        return None
    return Drift(release, _beside(lambda: _drift(target, release, revision_file)))


def gather(
    target: Target,
    cfg: Config,
    *,
    ledger: list[dict[str, Any]],
    lock: dict[str, Any] | None,
    marks: dict[str, dict[str, Any]],
    releases: list[str],
    redactor: Redactor,
    witness: tuple[int, str] | None = None,
    started: Drift | None = None,
) -> ServerFacts:
    """Read what the server shows, through the transport; changes nothing. Command output is
    redacted before it becomes a fact (and so before any report or terminal sees it)."""
    t, layout, env = target.transport, target.layout, cfg.environment(target.name)
    # what is where, in two looks: the current link and the deploy path (a deploy path that does
    # not exist yet is measured where it will be created), then the live release's own paths
    above = _up_from(env.deploy_path)
    seen = t.kinds([layout.current, *above])
    link = seen[layout.current].link if seen[layout.current].kind == "link" else None
    measured_at = next((p for p in above if seen[p].kind != "none"), "/")
    current = layout.release_of(link)
    current_dir = layout.release(current) if current else None
    is_release, missing, env_link = False, [], None
    if current_dir:
        files = [f"{current_dir}/{f}" for f in cfg.gates.required_files]
        dirs = [f"{current_dir}/{d}" for d in cfg.gates.required_dirs]
        inside = t.kinds([current_dir, *files, *dirs, f"{current_dir}/.env"])
        is_release = inside[current_dir].kind == "dir"
        if is_release:
            missing = [f for f, p in zip(cfg.gates.required_files, files, strict=True) if inside[p].kind == "none"]
            missing += [f"{d}/" for d, p in zip(cfg.gates.required_dirs, dirs, strict=True) if inside[p].kind != "dir"]
            env_file = inside[f"{current_dir}/.env"]
            env_link = env_file.link if env_file.kind == "link" else None
    # the drift check hashes every live file there: it runs (in a channel of its own) while the
    # other facts are read (started by the caller, or here), and is waited for however this ends
    drift: Future[dict[str, list[str]] | None] | None = None
    if is_release and current:
        own = (
            started
            if started and started.release == current
            else start_drift(target, current, cfg.deploy.revision_file)
        )
        drift = own.found if own else None
    try:
        token_env = _token_env(env)
        local_digest = remote_digest = None
        note = "no health check uses a bearer token"
        if token_env:
            value = os.environ.get(token_env)
            local_digest = hashlib.sha256(value.encode()).hexdigest() if value else None
            remote_digest, note = remote_value_digest(t, f"{layout.shared}/.env", env.server.token_key)
            if value is None:
                note = f"{token_env} is not set in this shell"
        reload_cmds = env.reload if env.reload is not None else cfg.deploy.reload
        sudo_cmds = [argv for argv in reload_cmds if argv and argv[0] == "sudo"]
        sudo = []
        for argv in sudo_cmds:
            rest = [a for a in argv[1:] if a not in ("-n", "--non-interactive")]
            result = t.run(["sudo", "-n", "-l", *rest], timeout=20)
            sudo.append(
                CommandFact(["sudo", "-n", "-l", *rest], result.returncode, redactor.text(result.output[-400:]))
            )
        nginx_test = None
        if env.server.nginx_test:
            result = t.run(env.server.nginx_test, timeout=30)
            nginx_test = CommandFact(env.server.nginx_test, result.returncode, redactor.text(result.output[-600:]))
        configs = {
            path: redactor.text(t.read(path).decode("utf-8", "replace"))
            for path in env.server.nginx_config
            if t.exists(path)
        }
        reloads_php = reloads_fpm(reload_cmds)
        fpm = fpm_configs(t, env.server.php_fpm_config, redactor) if reloads_php or env.server.php_fpm_config else []
        migrations = None
        if env.server.migrations_status and is_release and current_dir:
            result = t.run(env.server.migrations_status, cwd=current_dir, timeout=120)
            migrations = CommandFact(
                env.server.migrations_status, result.returncode, redactor.text(result.output[-4000:])
            )
        return ServerFacts(
            deploy_path=env.deploy_path,
            current_link=link,
            current=current,
            current_is_release=is_release,
            releases=sorted(r for r in releases if is_release_name(r)),
            marks=marks,
            ledger=ledger,
            required_files=list(cfg.gates.required_files),
            required_dirs=list(cfg.gates.required_dirs),
            missing_in_current=missing,
            lock=lock,
            free_bytes=t.disk_free(measured_at),
            disk_measured_at=measured_at,
            url=env.url,
            url_answer=_probe_url(env.url),
            ledger_prefix=_ledger_prefix(t, layout.ledger, witness),
            needs_bytes=0,  # the new release's figure: the plan sets it when it judges (usecases.audit.judged)
            token_env=token_env,
            token_local_digest=local_digest,
            token_remote_digest=remote_digest,
            token_note=note,
            sudo=sudo,
            sudo_commands=sudo_cmds,
            nginx_test=nginx_test,
            nginx_configs=configs,
            fpm_configs=fpm,
            fpm_reloaded=reloads_php,
            env_link=env_link,
            shared_dir=layout.shared,
            migrations=migrations,
            drift=drift.result() if drift is not None else None,
        )
    finally:
        wait([f for f in (drift, started.found if started else None) if f is not None])
