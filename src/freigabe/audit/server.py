"""Server audit: facts gathered through the transport (read-only), then pure checks."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from freigabe.adapters.remote_digest import remote_value_digest
from freigabe.adapters.transport import Transport
from freigabe.config import LoadedConfig
from freigabe.core.findings import Finding, finding
from freigabe.core.layout import is_release_name
from freigabe.core.runs import live_state
from freigabe.core.words import plural
from freigabe.errors import UsageError
from freigabe.usecases import lock as locks
from freigabe.usecases.placeholders import resolved_config
from freigabe.usecases.records import read_target_entries
from freigabe.usecases.status import list_releases, read_marks
from freigabe.usecases.targets import Target


@dataclass
class CommandFact:
    argv: list[str]
    returncode: int
    output: str


@dataclass
class ServerFacts:
    deploy_path: str
    current_link: str | None
    current: str | None
    current_is_release: bool
    releases: list[str]
    marks: dict[str, dict[str, Any]]
    ledger: list[dict[str, Any]]
    required_files: list[str]
    required_dirs: list[str]
    missing_in_current: list[str]
    lock: dict[str, Any] | None
    free_bytes: int
    needs_bytes: int
    token_env: str | None
    token_local_digest: str | None
    token_remote_digest: str | None
    token_note: str
    sudo: list[CommandFact] = field(default_factory=list)
    sudo_commands: list[list[str]] = field(default_factory=list)
    nginx_test: CommandFact | None = None
    nginx_configs: dict[str, str] = field(default_factory=dict)
    env_link: str | None = None
    shared_dir: str = ""
    migrations: CommandFact | None = None
    drift: dict[str, list[str]] | None = None  # {"changed": [...], "added": [...]}, None: no manifest
    disk_measured_at: str = ""
    url: str = ""
    url_answer: str | None = None  # why the environment URL does not answer; None: it answers


def _token_env(loaded: LoadedConfig, env_name: str) -> str | None:
    env = loaded.config.environment(env_name)
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


def _nearest_existing(t: Transport, path: str) -> str:
    """A deploy path that does not exist yet is measured where it will be created."""
    while path not in ("", "/") and not t.exists(path):
        path = posixpath.dirname(path)
    return path or "/"


def _probe_url(url: str) -> str | None:
    """None when the environment URL answers at all (any HTTP status), else why it does not."""
    try:
        httpx.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None


def gather(target: Target, loaded: LoadedConfig, env_name: str, needs_bytes: int = 0) -> ServerFacts:
    t, layout, env = target.transport, target.layout, target.env
    cfg = loaded.config
    link = t.readlink(layout.current)
    current = layout.release_of(link)
    current_dir = layout.release(current) if current else None
    is_release = bool(current_dir and t.is_dir(current_dir))
    missing = []
    if is_release and current_dir:
        missing = [f for f in cfg.gates.required_files if not t.exists(f"{current_dir}/{f}")]
        missing += [f"{d}/" for d in cfg.gates.required_dirs if not t.is_dir(f"{current_dir}/{d}")]
    held = locks.read_lock(t, layout)
    token_env = _token_env(loaded, env_name)
    local_digest = remote_digest = None
    note = "no health check uses a bearer token"
    if token_env:
        value = os.environ.get(token_env)
        local_digest = hashlib.sha256(value.encode()).hexdigest() if value else None
        remote_digest, note = remote_value_digest(t, f"{layout.shared}/.env", env.server.token_key)
        if value is None:
            note = f"{token_env} is not set in this shell"
    try:
        resolved = resolved_config(loaded, env_name, t)
    except UsageError:
        resolved = cfg  # the plan says what is missing; the sudo check sees the placeholder
    renv = resolved.environment(env_name)
    reload_cmds = renv.reload if renv.reload is not None else resolved.deploy.reload
    sudo_cmds = [argv for argv in reload_cmds if argv and argv[0] == "sudo"]
    sudo = []
    for argv in sudo_cmds:
        rest = [a for a in argv[1:] if a not in ("-n", "--non-interactive")]
        result = t.run(["sudo", "-n", "-l", *rest], timeout=20)
        sudo.append(CommandFact(["sudo", "-n", "-l", *rest], result.returncode, result.output[-400:]))
    nginx_test = None
    if env.server.nginx_test:
        result = t.run(env.server.nginx_test, timeout=30)
        nginx_test = CommandFact(env.server.nginx_test, result.returncode, result.output[-600:])
    configs = {path: t.read(path).decode("utf-8", "replace") for path in env.server.nginx_config if t.exists(path)}
    migrations = None
    if env.server.migrations_status and is_release and current_dir:
        result = t.run(env.server.migrations_status, cwd=current_dir, timeout=120)
        migrations = CommandFact(env.server.migrations_status, result.returncode, result.output[-4000:])
    return ServerFacts(
        deploy_path=env.deploy_path,
        current_link=link,
        current=current,
        current_is_release=is_release,
        releases=sorted(r for r in list_releases(target) if is_release_name(r)),
        marks=read_marks(target),
        ledger=read_target_entries(t, layout),
        required_files=list(cfg.gates.required_files),
        required_dirs=list(cfg.gates.required_dirs),
        missing_in_current=missing,
        lock=held.to_json() | {"text": locks.describe(held), "stale": held.stale_reason(env.lock_stale_after)}
        if held
        else None,
        free_bytes=t.disk_free(_nearest_existing(t, env.deploy_path)),
        disk_measured_at=_nearest_existing(t, env.deploy_path),
        url=env.url,
        url_answer=_probe_url(env.url),
        needs_bytes=needs_bytes,
        token_env=token_env,
        token_local_digest=local_digest,
        token_remote_digest=remote_digest,
        token_note=note,
        sudo=sudo,
        sudo_commands=sudo_cmds,
        nginx_test=nginx_test,
        nginx_configs=configs,
        env_link=t.readlink(f"{current_dir}/.env") if is_release and current_dir else None,
        shared_dir=layout.shared,
        migrations=migrations,
        drift=_drift(target, current, cfg.deploy.revision_file) if is_release and current else None,
    )


# ---------------------------------------------------------------- checks (pure)


def check_current(f: ServerFacts) -> list[Finding]:
    if f.current_link is None:
        return [
            finding(
                "server.current",
                "server",
                "current symlink",
                soll="current → a complete release",
                ist="no current link yet (first deploy)",
                impact="P2",
                ok=False,
                status="warn",
                fix="the first deploy creates it",
            )
        ]
    return [
        finding(
            "server.current",
            "server",
            "current symlink",
            soll="current → a complete release",
            ist=f"current → {f.current_link}" + ("" if f.current_is_release else " (missing!)"),
            impact="P0",
            ok=f.current_is_release,
            evidence={"link": f.current_link},
            fix="roll back to a release that exists: `freigabe rollback ENV --to RELEASE`",
        )
    ]


def _last_reason(ledger: list[dict[str, Any]], release: str) -> str | None:
    runs = {e["run"] for e in ledger if e["event"] == "run.started" and e["data"].get("release") == release}
    for entry in reversed(ledger):
        if entry["run"] in runs and entry["event"] == "run.finished":
            return f"{entry['data'].get('outcome')}: {entry['data'].get('reason') or ''}".strip(": ")
    return None


def check_failed_release(f: ServerFacts) -> list[Finding]:
    if not f.releases:
        return []
    newest = f.releases[-1]
    # A newer release that is marked good (left by a manual rollback) did not fail.
    ok = newest == f.current or (f.marks.get(newest) or {}).get("mark") == "good"
    reason = _last_reason(f.ledger, newest) or (f.marks.get(newest) or {}).get("reason")
    return [
        finding(
            "server.failed-release",
            "server",
            "Newest release is the live one",
            soll="the newest release is current (no failed deploy since)",
            ist=(
                f"{plural(len(f.releases), 'release')}, newest is current"
                if newest == f.current
                else f"newest release {newest} is not current but is marked good (a manual rollback)"
            )
            if ok
            else f"newest release {newest} is not current — " + (reason or "no reason in the ledger"),
            impact="P1",
            ok=ok,
            status=None if ok else "warn",
            evidence={"newest": newest, "current": f.current},
            fix="find the root cause in `freigabe evidence RUN`; `freigabe fix server.failed-release` removes it",
        )
    ]


def check_required_files(f: ServerFacts) -> list[Finding]:
    if not f.current_is_release:
        return []
    checks = len(f.required_files) + len(f.required_dirs)
    return [
        finding(
            "server.required-files",
            "server",
            "Required files in the live release",
            soll=f"{checks} required files and directories present",
            impact="P0",
            ist=f"missing: {', '.join(f.missing_in_current)}" if f.missing_in_current else f"{checks}/{checks} present",
            ok=not f.missing_in_current,
            fix="deploy a complete release or roll back",
        )
    ]


def check_lock(f: ServerFacts) -> list[Finding]:
    if f.lock is None:
        return [finding("server.lock", "server", "Deploy lock", soll="free", ist="free", impact="P1", ok=True)]
    return [
        finding(
            "server.lock",
            "server",
            "Deploy lock",
            soll="free when no deploy runs",
            ist=f"{f.lock['text']}" + (f" — looks abandoned: {f.lock['stale']}" if f.lock.get("stale") else ""),
            impact="P1",
            ok=False,
            status="fail" if f.lock.get("stale") else "warn",
            fix="`freigabe fix server.lock` clears an abandoned lock (after checking that run is gone)",
            evidence=f.lock,
        )
    ]


def check_disk(f: ServerFacts) -> list[Finding]:
    need = f.needs_bytes * 2
    return [
        finding(
            "server.disk",
            "server",
            "Free disk space",
            soll=f"≥ {need // 2**20} MiB free (twice the release)",
            ist=f"{f.free_bytes // 2**20} MiB free"
            + (
                f" at {f.disk_measured_at} (the deploy path does not exist yet)"
                if f.disk_measured_at != f.deploy_path
                else ""
            ),
            impact="P1",
            ok=f.free_bytes >= need,
            fix="free space on the target (old backups, `freigabe cleanup ENV`)",
        )
    ]


def check_token(f: ServerFacts) -> list[Finding]:
    if f.token_env is None:
        return []
    soll = "SHA-256 of the token value here = SHA-256 of the value in the target's .env"
    if f.token_local_digest is None or f.token_remote_digest is None:
        return [
            finding(
                "server.token-digest",
                "server",
                "Health token matches",
                soll=soll,
                ist=f.token_note,
                impact="P1",
                ok=False,
                status="pending" if f.token_local_digest is None else "fail",
                fix=f"export {f.token_env} here and set it in shared/.env on the target",
            )
        ]
    same = f.token_local_digest == f.token_remote_digest
    return [
        finding(
            "server.token-digest",
            "server",
            "Health token matches",
            soll=soll,
            ist=("digests match" if same else "digests differ: health checks will answer 401")
            + f" (local {f.token_local_digest[:12]}…, target {f.token_remote_digest[:12]}…)",
            impact="P1",
            ok=same,
            evidence={"local_sha256": f.token_local_digest, "target_sha256": f.token_remote_digest},
            fix=f"make {f.token_env} (CI secret) and the target's .env hold the same value",
        )
    ]


def check_sudo(f: ServerFacts) -> list[Finding]:
    if not f.sudo_commands:
        return [
            finding(
                "server.sudo",
                "server",
                "Reload without a password",
                soll="reloads need no password",
                ist="no reload command uses sudo",
                impact="P1",
                ok=True,
            )
        ]
    refused = [c for c in f.sudo if c.returncode != 0]
    return [
        finding(
            "server.sudo",
            "server",
            "Reload without a password",
            soll="`sudo -n -l` allows each reload command without a password",
            ist=(
                "refused: "
                + "; ".join(f"{' '.join(c.argv[3:])} ({c.output.strip()[:80] or c.returncode})" for c in refused)
            )
            if refused
            else f"{plural(len(f.sudo), 'reload command')} allowed",
            impact="P1",
            ok=not refused,
            fix="add a NOPASSWD sudoers rule for exactly those commands for the deploy user",
        )
    ]


_DOC_ROOT = re.compile(r"fastcgi_param\s+SCRIPT_FILENAME\s+\$document_root")
_REAL_ROOT = re.compile(r"fastcgi_param\s+SCRIPT_FILENAME\s+\$realpath_root")
_CURRENT_ROOT = re.compile(r"^\s*root\s+\S*/current(?:/\S*)?\s*;", re.MULTILINE)


def check_nginx(f: ServerFacts) -> list[Finding]:
    rows = []
    if f.nginx_test is not None:
        rows.append(
            finding(
                "server.nginx",
                "server",
                "nginx -t",
                subject="config-test",
                soll="`nginx -t` passes",
                ist="passes" if f.nginx_test.returncode == 0 else f"fails: {f.nginx_test.output.strip()[-160:]}",
                impact="P1",
                ok=f.nginx_test.returncode == 0,
                fix="fix the nginx configuration first",
            )
        )
    for path, text in f.nginx_configs.items():
        under_current = bool(_CURRENT_ROOT.search(text))
        stale = under_current and bool(_DOC_ROOT.search(text)) and not _REAL_ROOT.search(text)
        rows.append(
            finding(
                "server.nginx",
                "server",
                "PHP sees the new release at once",
                subject=path,
                soll="a root under current/ passes $realpath_root to PHP-FPM",
                ist="$document_root with a root under a symlinked current: OPcache and PHP's realpath cache "
                "keep serving the old release after a switch"
                if stale
                else ("$realpath_root" if _REAL_ROOT.search(text) else "root is not under current/"),
                impact="P1",
                ok=not stale,
                location=path,
                fix="fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name; "
                "fastcgi_param DOCUMENT_ROOT $realpath_root;",
            )
        )
    return rows


def check_env_link(f: ServerFacts) -> list[Finding]:
    if not f.current_is_release:
        return []
    ok = bool(f.env_link and f.env_link.startswith(f.shared_dir))
    return [
        finding(
            "server.env-link",
            "server",
            ".env is a link into shared/",
            soll=f".env → {f.shared_dir}/.env",
            ist=f".env → {f.env_link}" if f.env_link else ".env is not a link (a copy is lost at the next deploy)",
            impact="P1",
            ok=ok,
            fix="add .env to [deploy] shared_files",
        )
    ]


def check_migrations(f: ServerFacts) -> list[Finding]:
    if f.migrations is None:
        return []
    if f.migrations.returncode != 0:
        return [
            finding(
                "server.migrations",
                "server",
                "Pending migrations",
                soll="the status command runs",
                ist=f"exit {f.migrations.returncode}: {f.migrations.output.strip()[-120:]}",
                impact="P1",
                ok=False,
                fix="run the migrations status command by hand to see why",
            )
        ]
    pending = [ln.strip() for ln in f.migrations.output.splitlines() if re.search(r"\bpending\b", ln, re.I)]
    return [
        finding(
            "server.migrations",
            "server",
            "Pending migrations",
            soll="known before the deploy",
            ist=f"{len(pending)} pending: " + "; ".join(pending[:5]) if pending else "none pending",
            impact="P2",
            ok=not pending,
            status=None if not pending else "warn",
            fix="the deploy runs them after the backup; review them first",
            evidence={"pending": pending},
        )
    ]


def check_drift(f: ServerFacts) -> list[Finding]:
    if not f.current_is_release:
        return []
    if f.drift is None:
        return [
            finding(
                "server.release-drift",
                "server",
                "Live release unchanged since deploy",
                soll="files match the manifest recorded at deploy",
                impact="P1",
                ok=False,
                status="pending",
                ist="no manifest for this release (not deployed by freigabe)",
                fix="deploy once with freigabe to record one",
            )
        ]
    changed, added = f.drift["changed"], f.drift["added"]
    return [
        finding(
            "server.release-drift",
            "server",
            "Live release unchanged since deploy",
            soll="no file edited on the server (hotfixes go through a deploy)",
            impact="P1",
            ist=(
                f"changed: {', '.join(changed[:8]) or '—'}; added: {', '.join(added[:8]) or '—'}"
                if changed or added
                else "all files match the manifest"
            ),
            ok=not (changed or added),
            evidence=f.drift,
            fix="put the hotfix into the repository and deploy it; never edit files in current",
        )
    ]


def check_unrecorded_switch(f: ServerFacts) -> list[Finding]:
    switches = [e for e in f.ledger if e["event"] == "switch"]
    if f.current_link is None:
        return []
    if not switches:
        return [
            finding(
                "server.unrecorded-switch",
                "server",
                "current was set by freigabe",
                soll="the ledger's last switch is what current points at",
                impact="P0",
                ok=False,
                status="warn",
                ist="no switch recorded yet: current predates freigabe",
                fix="the first freigabe deploy records its switch",
            )
        ]
    last = switches[-1]["data"].get("after")
    ok = last == f.current_link
    return [
        finding(
            "server.unrecorded-switch",
            "server",
            "current was set by freigabe",
            soll="the ledger's last switch is what current points at",
            ist=f"current → {f.current_link}, the ledger's last switch → {last}" if not ok else "matches the ledger",
            impact="P0",
            ok=ok,
            fix="find out who switched by hand; then `freigabe rollback ENV --to` the right release",
        )
    ]


def check_live_verified(f: ServerFacts) -> list[Finding]:
    """The live release was proven to answer by the run that made it live (see core/runs)."""
    state = live_state(f.ledger, f.current)
    if not state.known:
        return []  # nothing live, or not made live by freigabe (server.unrecorded-switch says so)
    return [
        finding(
            "server.live-unverified",
            "server",
            "Live release verified",
            soll="the run that made the live release live proved it answers healthy",
            ist=f"{f.current} verified ({state.reason})" if state.verified else state.reason,
            impact="P0",
            ok=state.verified,
            evidence={"run": state.run, "outcome": state.outcome, "previous": state.previous},
            fix="`freigabe recover ENV` checks it as the deploy would have and rolls back if it fails",
        )
    ]


def check_url(f: ServerFacts) -> list[Finding]:
    return [
        finding(
            "server.url",
            "server",
            "The environment URL answers",
            soll=f"{f.url} answers HTTP (the deploy checks it before anything changes, SOLL 5)",
            ist=f"{f.url} answers" if f.url_answer is None else f"{f.url} does not answer ({f.url_answer})",
            impact="P1",
            ok=f.url_answer is None,
            fix="start the web server, or correct `url` in freigabe.toml; the deploy would stop at url.check",
        )
    ]


CHECKS = [
    check_url,
    check_current,
    check_live_verified,
    check_failed_release,
    check_required_files,
    check_lock,
    check_disk,
    check_token,
    check_sudo,
    check_nginx,
    check_env_link,
    check_migrations,
    check_drift,
    check_unrecorded_switch,
]


def evaluate(facts: ServerFacts) -> list[Finding]:
    return [row for check in CHECKS for row in check(facts)]
