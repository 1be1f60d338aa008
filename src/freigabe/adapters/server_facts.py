"""The facts a target shows, read through its transport for the server audit. Read-only.

Everything a check judges comes from here; the checks themselves (`freigabe.audit.server`)
are pure. Command output and configuration files pass through the redactor first.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from typing import Any

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


def _token_env(env: EnvironmentConfig) -> str | None:
    for check in env.health:
        if check.bearer_token_env:
            return check.bearer_token_env
    return None


def _drift(target: Target, release: str, revision_file: str) -> dict[str, list[str]] | None:
    t, layout = target.transport, target.layout
    sums = layout.sums(release)
    if not t.exists(sums):
        return None
    release_dir = layout.release(release)
    check = t.run(
        ["sh", "-c", 'cd "$1" && sha256sum --quiet -c "$2" 2>/dev/null', "sh", release_dir, sums], timeout=600
    )
    changed = sorted(
        {
            line.rsplit(":", 1)[0].removeprefix("./")
            for line in check.output.splitlines()
            if line.rstrip().endswith(("FAILED", "FAILED open or read"))
        }
    )
    listed = t.run(["sh", "-c", 'cd "$1" && find . -type f', "sh", release_dir], timeout=600)
    known = {line.split("  ", 1)[1].strip() for line in t.read(sums).decode().splitlines() if "  " in line}
    added = sorted(
        p.removeprefix("./") for p in listed.output.splitlines() if p and p not in known and p != f"./{revision_file}"
    )
    return {"changed": changed, "added": added}


def _ledger_prefix(t: Transport, path: str, witness: tuple[int, str] | None) -> tuple[int, str, str] | None:
    """The target's SHA-256 of as many ledger bytes as the local copy holds (one command, 64 bytes back)."""
    if witness is None or witness[0] == 0:
        return None
    size, mine = witness
    result = t.run(["sh", "-c", 'head -c "$1" "$2" | sha256sum', "sh", str(size), path], timeout=120)
    found = [w for w in result.output.split() if len(w) == 64]
    return size, mine, found[-1] if result.ok and found else "unreadable"


def _nearest_existing(t: Transport, path: str) -> str:
    """A deploy path that does not exist yet is measured where it will be created."""
    while path not in ("", "/") and not t.exists(path):
        path = posixpath.dirname(path)
    return path or "/"


def _probe_url(url: str) -> str | None:
    """None when the environment URL answers at all (any HTTP status), else why it does not."""
    try:
        http_client.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None


def gather(
    target: Target,
    cfg: Config,
    *,
    ledger: list[dict[str, Any]],
    lock: dict[str, Any] | None,
    marks: dict[str, dict[str, Any]],
    releases: list[str],
    redactor: Redactor,
    needs_bytes: int = 0,
    witness: tuple[int, str] | None = None,
) -> ServerFacts:
    """Read what the server shows, through the transport; changes nothing. Command output is
    redacted before it becomes a fact (and so before any report or terminal sees it)."""
    t, layout, env = target.transport, target.layout, cfg.environment(target.name)
    link = t.readlink(layout.current)
    current = layout.release_of(link)
    current_dir = layout.release(current) if current else None
    is_release = bool(current_dir and t.is_dir(current_dir))
    missing = []
    if is_release and current_dir:
        missing = [f for f in cfg.gates.required_files if not t.exists(f"{current_dir}/{f}")]
        missing += [f"{d}/" for d in cfg.gates.required_dirs if not t.is_dir(f"{current_dir}/{d}")]
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
        sudo.append(CommandFact(["sudo", "-n", "-l", *rest], result.returncode, redactor.text(result.output[-400:])))
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
        migrations = CommandFact(env.server.migrations_status, result.returncode, redactor.text(result.output[-4000:]))
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
        free_bytes=t.disk_free(_nearest_existing(t, env.deploy_path)),
        disk_measured_at=_nearest_existing(t, env.deploy_path),
        url=env.url,
        url_answer=_probe_url(env.url),
        ledger_prefix=_ledger_prefix(t, layout.ledger, witness),
        needs_bytes=needs_bytes,
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
        env_link=t.readlink(f"{current_dir}/.env") if is_release and current_dir else None,
        shared_dir=layout.shared,
        migrations=migrations,
        drift=_drift(target, current, cfg.deploy.revision_file) if is_release and current else None,
    )
