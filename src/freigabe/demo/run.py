"""`freigabe demo`: the whole pipeline on this machine, with real HTTP on loopback.

build v1 → plan → approval (shown as typed) → staging deploy, healthy → build v2 with a
broken health endpoint → staging deploy → health fails → automatic rollback, verified →
promotion of the staging bundle to production → `ledger verify`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from freigabe import terminal
from freigabe.adapters.bundle import list_members
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.config import LoadedConfig, load_config
from freigabe.core.words import plural
from freigabe.demo import app as demo_app
from freigabe.errors import LedgerError, RolledBack, UsageError
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.build import build, build_excludes, content_id
from freigabe.usecases.ledger_check import verify
from freigabe.usecases.planning import make_deploy_plan, save_plan
from freigabe.usecases.promote import plan_promotion
from freigabe.usecases.reporting import write_report

STABLE_FOR = 2.0


def _prepare_dir(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="freigabe-demo-"))
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty; give --dir a new or empty folder")
    directory.mkdir(parents=True, exist_ok=True)
    return directory.resolve()


def _content_sha(loaded: LoadedConfig) -> str:
    """The demo's app is no git checkout (and may sit inside one): name bundles by content."""
    source = loaded.root / loaded.config.build.source
    return content_id(source, list_members(source, build_excludes(loaded)))


def _served(url: str) -> str:
    try:
        return httpx.get(f"{url}/REVISION", timeout=2).text.strip()
    except httpx.HTTPError:
        return "(not answering)"


def run_demo(directory: Path | None, console: Console) -> None:
    started = time.monotonic()
    root = _prepare_dir(directory)
    token = secrets.token_urlsafe(32)
    os.environ["HEALTHCHECK_TOKEN"] = token  # the demo's CI secret, never printed
    servers: dict[str, ReleaseServer] = {}
    try:
        for name in ("staging", "production"):
            deploy_path = root / "servers" / name
            demo_app.write_shared(deploy_path, token)
            servers[name] = ReleaseServer(deploy_path, protected=("/health",)).start()
        (root / "freigabe.toml").write_text(
            demo_app.config_text(root, {n: s.url for n, s in servers.items()}, f"{STABLE_FOR:g}s")
        )
        app = root / "app"
        loaded = load_config(root / "freigabe.toml")
        reporter = terminal.ConsoleReporter(console, show_output=False)
        console.print(f"[bold]freigabe demo[/] in {root}")
        console.print(
            f"staging at {servers['staging'].url}, production at {servers['production'].url}"
            " (loopback web servers resolving current per request)\n"
        )

        def announce(title: str) -> None:
            console.print(Rule(title))

        shown = [False]
        reports: list[Path] = []

        def approve_and_deploy(env: str, bundle: Path | None, promoted: bool = False) -> None:
            if promoted:
                planned, stable = plan_promotion(loaded, env)
                console.print(
                    f"{stable.source} has served {stable.release} verified for "
                    f"{stable.seconds:.1f} s (needed {STABLE_FOR:g} s); health is green now"
                )
            else:
                assert bundle is not None
                planned = make_deploy_plan(loaded, env, bundle)
            plan = planned.plan
            save_plan(loaded, plan)
            report = write_report(loaded, env, plan, planned.audit)
            reports.append(report["html"])
            verdict = plan.decision.verdict if plan.decision else "—"
            console.print(
                f"audit: {plural(len(planned.audit.findings), 'finding')}, decision [bold]{verdict}[/]; "
                f"report {report['html']}"
            )
            terminal.print_plan(console, plan, compact=shown[0])
            shown[0] = True
            console.print(f"\nType [bold]{plan.approval_phrase}[/] to approve plan {plan.id[:12]}:")
            console.print(f"> {plan.approval_phrase}   [dim](typed by the demo)[/]")
            prepared = prepare_bundle(loaded, plan)
            result = apply_plan(loaded, prepared, phrase=plan.approval_phrase, reporter=reporter)
            console.print(
                f"[bold green]✔ {env} serves {result.release}[/] (the server answers {_served(servers[env].url)})\n"
            )

        announce("1. build v1")
        demo_app.write_app(app, "v1", healthy=True)
        v1 = build(loaded, sha=_content_sha(loaded)).bundle
        console.print(f"{v1.name}  sha256 {v1.sha256[:16]}…  ({plural(v1.files, 'file')})")

        announce("2. plan → approval → staging deploy")
        approve_and_deploy("staging", v1.path)

        announce("3. build v2 (its health endpoint reports a failing database)")
        demo_app.write_app(app, "v2", healthy=False)
        v2 = build(loaded, sha=_content_sha(loaded)).bundle
        console.print(f"{v2.name}  sha256 {v2.sha256[:16]}…")

        announce("4. staging deploy of v2 → health fails → automatic rollback")
        try:
            approve_and_deploy("staging", v2.path)
            raise UsageError("the broken release passed its health check; the demo is wrong")
        except RolledBack as exc:
            console.print(f"[bold yellow]↩ rolled back:[/] {escape(exc.message)}")
            console.print(f"  staging answers {_served(servers['staging'].url)} again\n")

        announce("5. promotion: the bundle live on staging goes to production")
        time.sleep(STABLE_FOR)
        approve_and_deploy("production", None, promoted=True)

        announce("6. ledger verify")
        for name in ("staging", "production"):
            check = verify(loaded, name)
            if not check.ok:
                raise LedgerError(f"demo ledger of {name} does not verify: {check.problems[0]}")
            console.print(
                f"[green]✔[/] {name}: {plural(check.target_entries, 'entry', 'entries')}, hash chain intact, "
                "local copy agrees"
            )

        summary = Table(title="freigabe demo — summary")
        summary.add_column("environment")
        summary.add_column("serves")
        summary.add_column("ledger")
        for name, server in servers.items():
            summary.add_row(
                name,
                _served(server.url),
                str(Path(loaded.config.environment(name).deploy_path) / ".freigabe/ledger.jsonl"),
            )
        console.print(summary)
        console.print(f"evidence of every run: {root / '.freigabe' / 'runs'}/<run>/evidence.md")
        console.print(f"plan reports (open in a browser): {reports[0]}")
        for path in reports[1:]:
            console.print(f"                                  {path}")
        console.print(f"done in {time.monotonic() - started:.1f} s")
    finally:
        for server in servers.values():
            server.stop()
