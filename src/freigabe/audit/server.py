"""Server audit: the facts a target shows (gathered by `adapters.server_facts`), and pure checks.

Each check is a function of `ServerFacts` only: no transport, no I/O. The facts arrive redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from freigabe.audit.fpm import FpmConfig, check_reload_timeout
from freigabe.core.findings import Finding, finding
from freigabe.core.runs import killed_switch_run, live_state
from freigabe.core.words import plural


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
    ledger_prefix: tuple[int, str, str] | None = None  # (bytes, the witness's SHA-256, the target's) or None
    fpm_configs: list[FpmConfig] = field(default_factory=list)  # the PHP-FPM configurations in use
    fpm_reloaded: bool = False  # a reload command of this environment reloads PHP-FPM


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


def check_fpm(f: ServerFacts) -> list[Finding]:
    return check_reload_timeout(f.fpm_configs, f.fpm_reloaded)


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
    # A run killed between the rename and its ledger entry set out to make `current` live: the
    # ledger accounts for it (and server.live-unverified says it was never verified).
    killed = killed_switch_run(f.ledger, f.current) if last != f.current_link else None
    accounted = killed is not None
    ok = last == f.current_link or accounted
    return [
        finding(
            "server.unrecorded-switch",
            "server",
            "current was set by freigabe",
            soll="the ledger's last switch is what current points at",
            ist=f"current → {f.current_link}, the ledger's last switch → {last}"
            if not ok
            else (
                f"run {killed} set out to make {f.current} live (killed before its switch was recorded)"
                if accounted
                else "matches the ledger"
            ),
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


def check_ledger(f: ServerFacts) -> list[Finding]:
    """The target's ledger still holds, byte for byte, every entry the local copy witnessed."""
    if f.ledger_prefix is None:
        return []
    size, mine, theirs = f.ledger_prefix
    same = mine == theirs
    return [
        finding(
            "server.ledger",
            "server",
            "Ledger unchanged since the local copy saw it",
            soll="the target's ledger starts with exactly the entries the local copy witnessed",
            ist=f"its first {size} bytes match the local copy"
            if same
            else f"its first {size} bytes differ from the local copy (SHA-256 {theirs[:12]}… instead of {mine[:12]}…): "
            "entries were edited or replaced on the target",
            impact="P0",
            ok=same,
            evidence={"bytes": size, "local_sha256": mine, "target_sha256": theirs},
            fix="`freigabe ledger verify ENV` shows which entries; find out who changed them before any deploy",
        )
    ]


CHECKS = [
    check_url,
    check_ledger,
    check_current,
    check_live_verified,
    check_failed_release,
    check_required_files,
    check_lock,
    check_disk,
    check_token,
    check_sudo,
    check_nginx,
    check_fpm,
    check_env_link,
    check_migrations,
    check_drift,
    check_unrecorded_switch,
]


def evaluate(facts: ServerFacts) -> list[Finding]:
    return [row for check in CHECKS for row in check(facts)]
