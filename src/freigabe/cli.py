"""The command line: parse, call a use case, terminal. No deployment logic lives here."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from freigabe.core.names import ABORT_PHRASE, CONFIG_NAME
from freigabe.core.redact import REDACTOR
from freigabe.core.words import plural
from freigabe.errors import ExitCode, FreigabeError, UsageError
from freigabe.interrupts import Interrupted


class _Lazy:
    """A module imported on first use: the rendering and everything below it stay unloaded for
    `--help`, `--version` and usage errors (issue: `freigabe --help` in ≤ 0.15 s)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attr)


if TYPE_CHECKING:
    from rich.console import Console

    from freigabe import terminal, terminal_actions
    from freigabe.config import LoadedConfig
    from freigabe.core.plan import Plan
    from freigabe.usecases.ci_citizen import Citizen
else:
    # Loaded when a command first prints, not for `--help` or a mistyped option (see _Lazy).
    terminal = _Lazy("freigabe.terminal")
    terminal_actions = _Lazy("freigabe.terminal_actions")

app = typer.Typer(
    name="freigabe",
    help="Gated, zero-downtime release deployments: plan, approve, deploy, verify, roll back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # Click's plain help: Typer's Rich panels cost ~60 ms of imports per --help
)
ledger_app = typer.Typer(help="The hash-chained deployment ledger.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(ledger_app, name="ledger")
ci_app = typer.Typer(
    help="GitHub Actions workflows in which freigabe is the deploy step.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(ci_app, name="ci")


def _version(value: bool) -> None:
    if value:
        from freigabe import __version__

        out.print(f"freigabe {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Gated, zero-downtime release deployments: plan, approve, deploy, verify, roll back."""


# Piped output (CI logs, scripts) is never wrapped at 80 columns: a finding id, a path or an
# approval phrase stays on one line. A terminal gets its own width.
_PIPED_WIDTH = None if sys.stdout.isatty() else 240


def _redacting_console(**options: Any) -> "Console":
    """Everything the terminal shows passes the process's one redactor, whatever printed it."""
    from rich.console import Console

    class RedactingConsole(Console):
        def _render_buffer(self, buffer: Any) -> str:
            return REDACTOR.text(super()._render_buffer(buffer))

    return RedactingConsole(**options)


class _OnFirstUse:
    """The console, made when something is first printed: `--help` and a usage error never
    load the renderer (Rich's console is a third of the help's import time)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _redacting_console(**self._options)
        return getattr(self._console, name)


def escape(text: str) -> str:
    """Rich markup in `text` shown as written."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


out = cast("Console", _OnFirstUse(highlight=False, soft_wrap=True, width=_PIPED_WIDTH))
err = cast(
    "Console", _OnFirstUse(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 240)
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help=f"Path to {CONFIG_NAME} (default: search upwards).")
]
EnvArg = Annotated[str, typer.Argument(help="Environment name from freigabe.toml, e.g. staging.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def failures() -> Iterator[None]:
    """One sentence and a documented exit code for every expected failure."""
    try:
        yield
    except FreigabeError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        _citizen().failed(exc.message)
        for problem in getattr(exc, "problems", []):
            err.print(f"  • {escape(problem)}")
        raise typer.Exit(int(exc.exit_code)) from None
    except (KeyboardInterrupt, Interrupted) as exc:
        what = f"interrupted by {exc.signal}" if isinstance(exc, Interrupted) else "interrupted"
        err.print(f"[bold red]{what}[/] before anything was changed on a target; `freigabe status ENV` shows the state")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def _load(config: Path | None) -> "LoadedConfig":
    from freigabe.config import load_config

    loaded = load_config(config)
    _citizen().mask_config_secrets(loaded.config)  # in GitHub Actions: before anything can print a secret
    return loaded


def _citizen() -> "Citizen":

    from freigabe.usecases.ci_citizen import Citizen

    return Citizen()


def _ask(plan: "Plan") -> str | None:
    terminal.print_plan(out, plan)
    terminal.print_verdict(out, plan)
    if not sys.stdin.isatty():
        return None
    out.print(f"\nType [bold]{plan.approval_phrase}[/] to approve plan {plan.id[:12]}, or {ABORT_PHRASE} to cancel:")
    try:
        return input("> ")
    except EOFError:
        return None


# ---------------------------------------------------------------- commands


@app.command()
def init(
    preset: Annotated[str, typer.Option(help="laravel or generic")] = "laravel",
    path: Annotated[Path, typer.Option(help="Where to write the file.")] = Path(CONFIG_NAME),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented freigabe.toml for a preset; keep .freigabe/ and reports/ out of git."""
    from freigabe.usecases.init import init as write_config

    with failures():
        done = write_config(path, preset, force)
        out.print(f"wrote {path} (preset {preset}); edit the environments, then `freigabe build`")
        out.print(f"never in a bundle: {escape(', '.join(done.effective_exclude))}")
        if done.ignored_added:
            out.print(f"added {', '.join(done.ignored_added)} to {done.gitignore}")


@app.command()
def build(
    config: ConfigOpt = None,
    sha: Annotated[str | None, typer.Option(help="Name the bundle with this id (default: git HEAD).")] = None,
    quiet: Annotated[bool, typer.Option(help="Do not echo command output.")] = False,
) -> None:
    """Build, run checks, pass layer-1 gates, write deployment-bundle-<sha>.tar.gz + .sha256."""
    from freigabe.usecases.build import build as run_build

    with failures():
        loaded = _load(config)
        result = run_build(
            loaded,
            sha=sha,
            on_command=lambda argv: out.print(f"[bold]$ {escape(' '.join(argv))}[/]"),
            on_line=None if quiet else (lambda line: out.print(f"  [dim]{escape(line)}[/]")),
        )
        for warning in result.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}")
        out.print(f"excluded: {escape(', '.join(result.exclude))}")
        info = result.bundle
        out.print(f"[green]✔[/] layer-1 gates {result.gates_passed}/{result.gates_passed} passed")
        out.print(f"[green]✔[/] {info.path} ({plural(info.files, 'file')}, {info.size // 1024} KiB)")
        out.print(f"  sha256 {info.sha256}")
        if result.pruned:
            out.print(f"  pruned {plural(len(result.pruned), 'old bundle')}")


LangOpt = Annotated[str, typer.Option("--lang", help="Report language: en or de.")]
HostsOpt = Annotated[
    list[str] | None,
    typer.Option("--hosts", help="Fleet: only these hosts (web3,web4 or role:worker); a deploy then catches them up."),
]
StrategyOpt = Annotated[
    str | None, typer.Option("--strategy", help="Fleet: all-at-once, canary or waves (default: the config's).")
]
WaveOpt = Annotated[str | None, typer.Option("--wave-size", help="Fleet waves: hosts per wave, or a percentage.")]
UnreachableOpt = Annotated[
    str | None,
    typer.Option("--on-unreachable", help="Fleet: abort (default) or skip a host unreachable before the switch."),
]


def _fleet_options(strategy: str | None, wave_size: str | None, on_unreachable: str | None) -> dict[str, Any]:
    from freigabe.config.models import FleetConfig

    if strategy not in (None, "all-at-once", "canary", "waves"):
        raise UsageError(f"--strategy {strategy!r} is not known; use all-at-once, canary or waves")
    if on_unreachable not in (None, "abort", "skip"):
        raise UsageError(f"--on-unreachable {on_unreachable!r} is not known; use abort or skip")
    size: int | str | None = None
    if wave_size is not None:
        size = int(wave_size) if wave_size.isdigit() else wave_size
        try:
            FleetConfig(wave_size=size)
        except ValueError:
            raise UsageError(
                f"--wave-size {wave_size!r} must be a number of hosts or a percentage such as 25%"
            ) from None
    chosen = {"strategy": strategy, "wave_size": size, "on_unreachable": on_unreachable}
    return {k: v for k, v in chosen.items() if v is not None}


@app.command()
def plan(
    env: EnvArg,
    bundle: Annotated[Path, typer.Option(help="The bundle to deploy.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder (default: reports/).")] = None,
    hosts: HostsOpt = None,
    strategy: StrategyOpt = None,
    wave_size: WaveOpt = None,
    on_unreachable: UnreachableOpt = None,
) -> None:
    """Audit, decide, and show every step a deploy would run. Writes the report; changes nothing."""
    import json

    from freigabe.usecases.planning import make_deploy_plan, save_plan
    from freigabe.usecases.reporting import write_report

    with failures():
        if lang not in ("en", "de"):
            raise UsageError(f"--lang {lang!r} is not supported; use en or de")
        loaded = _load(config)
        options = _fleet_options(strategy, wave_size, on_unreachable)
        planned = make_deploy_plan(loaded, env, bundle, hosts=hosts, fleet=options)
        made = planned.plan
        save_plan(loaded, made)
        paths = write_report(loaded, env, made, planned.audit, lang, out_dir)
        _citizen().plan_made(made, paths["md"], planned.audit.findings)
        if as_json:
            out.print_json(json.dumps(made.to_json()))
            return
        terminal.print_plan(out, made)
        terminal.print_findings(out, planned.audit.findings)
        terminal.print_decision(out, made.decision)
        out.print(f"report: {paths['md']}\n        {paths['html']}\n        {paths['json']}")
        if made.decision and made.decision.verdict == "NO-GO":
            out.print("\n[bold red]NO-GO[/]: fix the blocking findings, then plan again")
        else:
            out.print(
                f"\nTo deploy: [bold]freigabe deploy {env} --plan {made.id[:12]} --approve "
                f"'{made.approval_phrase}'[/] (or run `freigabe deploy {env}` and type it)"
            )


@app.command()
def audit(
    area: Annotated[str | None, typer.Argument(help="repo, github or server (default: all that apply).")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Environment for the server audit.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    repo: Annotated[Path | None, typer.Option(help="Repository folder (default: the project's).")] = None,
) -> None:
    """Audit the repository's workflows, GitHub and the server. Works without freigabe.toml for `repo`."""
    import json

    from freigabe.config.load import find_config
    from freigabe.errors import ConfigError
    from freigabe.usecases.audit import run_audit

    with failures():
        if area not in (None, "repo", "github", "server"):
            raise UsageError(f"audit area {area!r} is not known; use repo, github or server")
        loaded = None
        try:
            loaded = _load(config) if config or area != "repo" else _load(find_config())
        except ConfigError:
            if area != "repo":
                raise
        areas: tuple[Any, ...] = (area,) if area else ("repo", "github", "server") if env else ("repo", "github")
        result = run_audit(loaded, env, areas, repo_dir=repo)
        _citizen().annotate(result.findings)
        if as_json:
            out.print_json(
                json.dumps(
                    {
                        "schema_version": 1,
                        "findings": [{**f.model_dump(mode="json"), "key": f.key} for f in result.findings],
                        "decision": result.decision.model_dump() if result.decision else None,
                        "skipped": result.skipped,
                    }
                )
            )
        else:
            terminal.print_findings(out, result.findings)
            for what, why in result.skipped.items():
                out.print(f"[dim]{what}: not run — {escape(why)}[/]")
            if result.decision:
                terminal.print_decision(out, result.decision)
        if result.decision and result.decision.verdict == "NO-GO":
            raise typer.Exit(int(ExitCode.APPROVAL))  # a pipeline can gate on the audit (documented: 7)


@app.command()
def fix(
    finding: Annotated[str, typer.Argument(help="Finding key, e.g. github.branch-protection:main.")],
    env: Annotated[str, typer.Option("--env", help="Environment whose ledger records the fix.")],
    plan_id: Annotated[str | None, typer.Option("--plan", help="The fix plan id shown without --plan.")] = None,
    approve: Annotated[str | None, typer.Option(help="PROD-FIX FREIGEGEBEN")] = None,
    config: ConfigOpt = None,
) -> None:
    """PROD-FIX FREIGEGEBEN: apply only the named remediation, bound to its fix plan id."""
    from freigabe.config.models import FIX_PHRASE
    from freigabe.usecases import fix as fixes

    with failures():
        loaded = _load(config)
        if approve is not None and plan_id is None:
            raise UsageError(f"--approve needs --plan ID: run `freigabe fix {finding} --env {env}` to see the fix plan")
        if plan_id is None or approve is None:
            made, current = fixes.plan_fix(loaded, env, finding)
            out.print(f"finding {finding}: {escape(current.ist)}")
            out.print(f"fix plan [bold]{made.id[:16]}[/]: {escape(made.description)}")
            out.print(f"to apply: freigabe fix {finding} --env {env} --plan {made.id[:16]} --approve '{FIX_PHRASE}'")
            return
        result = fixes.apply_fix(loaded, env, finding, plan_id, approve)
        out.print(f"[green]✔[/] {escape(result['fix'])}; the finding is now {result['finding_now']}")


@app.command()
def restore(
    env: EnvArg,
    backup: Annotated[str, typer.Option(help="Backup id (its folder name under backups/).")],
    files: Annotated[bool, typer.Option("--files", help="Also restore shared/ from the app archive.")] = False,
    plan_id: Annotated[str | None, typer.Option("--plan", help="The restore plan id shown without --plan.")] = None,
    approve: Annotated[str | None, typer.Option(help="PROD-FIX FREIGEGEBEN")] = None,
    config: ConfigOpt = None,
) -> None:
    """Restore a backup's database dump (and shared files with --files), behind PROD-FIX FREIGEGEBEN."""
    from freigabe.config.models import FIX_PHRASE
    from freigabe.usecases import restore as restores

    with failures():
        loaded = _load(config)
        if approve is not None and plan_id is None:
            raise UsageError(
                f"--approve needs --plan ID: run `freigabe restore {env} --backup {backup}` to see the restore plan"
            )
        if plan_id is None or approve is None:
            made = restores.plan_restore(loaded, env, backup, files)
            out.print(f"restore plan [bold]{made.id[:16]}[/] for {env}:")
            for step in restores.describe(made):
                out.print(f"  • {escape(step)}")
            flag = " --files" if files else ""
            out.print(
                f"to apply: freigabe restore {env} --backup {backup}{flag} --plan {made.id[:16]} "
                f"--approve '{FIX_PHRASE}'"
            )
            return
        result = restores.apply_restore(loaded, env, backup, plan_id, approve, files)
        out.print(
            f"[green]✔[/] restored {', '.join(result['restored']) or 'nothing'} from {backup} (run {result['run']})"
        )


@app.command()
def attest(
    finding: Annotated[str, typer.Argument(help="Key of a pending finding.")],
    env: Annotated[str, typer.Option("--env")],
    note: Annotated[str, typer.Option(help="What you checked, and how.")] = "",
    config: ConfigOpt = None,
) -> None:
    """APPEND MISSING INFO: vouch for a pending fact (recorded; shown as attested, never as verified)."""
    from freigabe.usecases.attest import attest as record
    from freigabe.usecases.audit import run_audit
    from freigabe.usecases.migrations import latest_findings

    with failures():
        loaded = _load(config)
        found = run_audit(loaded, env, linters=False).findings + latest_findings(loaded, env)  # + the plan's migrations
        done = record(loaded, env, finding, note, found)
        out.print(f"APPEND MISSING INFO: {finding} attested by {done['by']} at {done['at']} (not verified)")


@app.command()
def waive(
    finding: Annotated[str, typer.Argument(help="Finding key, e.g. workflow.jq-null-guard:deploy-old.yml.")],
    env: Annotated[str, typer.Option("--env", help="Environment whose ledger records the waiver.")],
    reason: Annotated[str, typer.Option(help="Why the finding does not apply.")] = "",
    revoke: Annotated[bool, typer.Option(help="Withdraw the waiver: the finding counts again.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Retire a finding that does not apply, with a reason: recorded, shown as waived in every
    report, not counted by the decision, and re-opened when its file or facts change."""
    from freigabe.usecases.audit import run_audit
    from freigabe.usecases.migrations import latest_findings
    from freigabe.usecases.waive import waive as record

    with failures():
        loaded = _load(config)
        findings = run_audit(loaded, env, linters=False).findings + latest_findings(loaded, env)
        done = record(loaded, env, finding, reason, findings, revoke=revoke)
        verb = "waiver withdrawn for" if revoke else f"waived ({done['impact']})"
        out.print(f"{verb} {finding} by {escape(done['by'])} at {done['at']}; every report shows it")


def _apply(
    loaded: "LoadedConfig", made: "Plan", bundle: Path | None, approve: str | None, verdict_shown: bool = False
) -> None:
    from freigabe.usecases.apply import apply_plan, prepare_bundle

    prepared = prepare_bundle(loaded, made, bundle)
    citizen = _citizen()
    reporter = terminal_actions.GitHubActionsReporter(out) if citizen.active else terminal.ConsoleReporter(out)
    if approve is None and made.decision is not None and made.decision.verdict == "NO-GO" and not verdict_shown:
        terminal.print_plan(out, made)
        terminal.print_verdict(out, made)  # then apply_plan refuses: a NO-GO plan is never asked about
    if approve is not None:
        if not verdict_shown:
            terminal.print_verdict(out, made)
        out.print(f"approval: [bold]{escape(approve)}[/] for plan {made.id[:12]}")
    try:
        with citizen.deployment(loaded, made):
            result = apply_plan(loaded, prepared, phrase=approve, ask=_ask, reporter=reporter)
    finally:
        citizen.run_finished(loaded)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.hosts:
        skew = ", ".join(f"batch {b['batch']}: {b['skew_ms']:.0f} ms" for b in result.fleet.get("skew", []))
        out.print(f"fleet: {plural(len(result.hosts), 'host')} {made.kind} done; switch skew {skew or '—'}")
    out.print(
        f"[bold green]{made.kind} done[/]: {made.environment} now serves {result.release} "
        f"(run {result.run}; evidence in .freigabe/runs/{result.run}/)"
    )


@app.command()
def deploy(
    env: EnvArg,
    bundle: Annotated[Path | None, typer.Option(help="Bundle (default: the plan's).")] = None,
    plan_id: Annotated[str | None, typer.Option("--plan", help="Approved plan id.")] = None,
    approve: Annotated[str | None, typer.Option(help="The approval phrase, for scripts.")] = None,
    config: ConfigOpt = None,
    hosts: HostsOpt = None,
    strategy: StrategyOpt = None,
    wave_size: WaveOpt = None,
    on_unreachable: UnreachableOpt = None,
) -> None:
    """Deploy with an approval bound to the plan: typed, or --plan ID --approve PHRASE."""
    from freigabe.usecases.planning import load_plan, make_deploy_plan, save_plan
    from freigabe.usecases.reporting import write_report

    with failures():
        loaded = _load(config)
        if plan_id:
            made = load_plan(loaded, plan_id)
            if made.environment != env:
                raise UsageError(
                    f"plan {made.id[:12]} is for {made.environment}, not {env}; "
                    f"make a plan for {env} with `freigabe plan {env}`"
                )
        elif approve is not None:
            raise UsageError("--approve needs --plan ID: an approval is bound to the plan you saw")
        else:
            if bundle is None:
                raise UsageError("give --bundle PATH (or --plan ID of a saved plan)")
            options = _fleet_options(strategy, wave_size, on_unreachable)
            planned = make_deploy_plan(loaded, env, bundle, hosts=hosts, fleet=options)
            made = planned.plan
            save_plan(loaded, made)
            paths = write_report(loaded, env, made, planned.audit)
            out.print(f"report: {paths['html']}")
        _apply(loaded, made, bundle, approve)


@app.command()
def rollback(
    env: EnvArg,
    to: Annotated[str | None, typer.Option(help="Release to restore (default: previous good).")] = None,
    plan_id: Annotated[str | None, typer.Option("--plan", help="Approved rollback plan id.")] = None,
    approve: Annotated[str | None, typer.Option(help="The approval phrase, for scripts.")] = None,
    config: ConfigOpt = None,
    hosts: HostsOpt = None,
) -> None:
    """Switch back to an earlier good release, reload, and verify it answers healthy (a fleet: every host,
    or with --hosts only those, by default to the release the rest of the fleet serves)."""
    from freigabe.usecases.planning import load_plan, save_plan
    from freigabe.usecases.rollback import plan_rollback

    with failures():
        loaded = _load(config)
        if plan_id:
            made = load_plan(loaded, plan_id)
            if made.kind != "rollback" or made.environment != env:
                raise UsageError(f"plan {made.id[:12]} is a {made.kind} of {made.environment}, not a rollback of {env}")
        else:
            made = plan_rollback(loaded, env, to, hosts)
            save_plan(loaded, made)
            if approve is not None:
                terminal.print_plan(out, made)
                terminal.print_verdict(out, made)
                raise UsageError(
                    f"rollback plan {made.id[:12]} was made; approve it with "
                    f"--plan {made.id[:12]} --approve '{made.approval_phrase}'"
                )
        _apply(loaded, made, None, approve)


@app.command()
def recover(
    env: EnvArg,
    plan_id: Annotated[str | None, typer.Option("--plan", help="Approved recover plan id.")] = None,
    approve: Annotated[str | None, typer.Option(help="The approval phrase, for scripts.")] = None,
    config: ConfigOpt = None,
    hosts: HostsOpt = None,
) -> None:
    """Verify a live release that an interrupted run left unverified; roll back if it fails (a fleet:
    each such host, brought back to the fleet's verified release where the others serve one)."""
    from freigabe.usecases.planning import load_plan, save_plan
    from freigabe.usecases.recover import plan_recover

    with failures():
        loaded = _load(config)
        if plan_id:
            made = load_plan(loaded, plan_id)
            if made.kind != "recover" or made.environment != env:
                raise UsageError(f"plan {made.id[:12]} is a {made.kind} of {made.environment}, not a recovery of {env}")
        else:
            made = plan_recover(loaded, env, hosts)
            save_plan(loaded, made)
            if approve is not None:
                terminal.print_plan(out, made)
                terminal.print_verdict(out, made)
                raise UsageError(
                    f"recover plan {made.id[:12]} was made; approve it with "
                    f"--plan {made.id[:12]} --approve '{made.approval_phrase}'"
                )
        _apply(loaded, made, None, approve)


@app.command()
def promote(
    env: EnvArg,
    plan_id: Annotated[str | None, typer.Option("--plan", help="Approved plan id.")] = None,
    approve: Annotated[str | None, typer.Option(help="The approval phrase, for scripts.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Deploy the bundle live on the source environment once it has been stable long enough."""
    from freigabe.usecases.planning import refuse_no_go
    from freigabe.usecases.preflight import run_preflight
    from freigabe.usecases.promote import prepare_promotion
    from freigabe.usecases.reporting import write_report

    with failures():
        loaded = _load(config)
        promotion = prepare_promotion(loaded, env, plan_id)
        made, stable = promotion.plan, promotion.stable
        out.print(f"{stable.source} has served {stable.release} for {stable.seconds:.0f} s and is healthy now")
        if promotion.audit is not None:
            paths = write_report(loaded, env, made, promotion.audit)
            out.print(f"report: {paths['html']}")
        terminal.print_verdict(out, made)
        refuse_no_go(made)  # a NO-GO promotion gets neither a pre-flight nor an approval hint
        out.print("pre-flight (read-only):")
        run_preflight(loaded, env, promotion.bundle, terminal.ConsoleReporter(out))
        _apply(loaded, made, promotion.bundle, approve, verdict_shown=True)


@app.command()
def preflight(
    env: EnvArg,
    bundle: Annotated[
        Path | None,
        typer.Option(help="Bundle (default: the one live on the promotion source, else the newest built one)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Read-only pre-flight: the bundle in a temporary copy on the target, gates, nginx -t, .env, migrations."""
    from freigabe.usecases.preflight import default_bundle, run_preflight

    with failures():
        loaded = _load(config)
        if bundle is None:
            bundle = default_bundle(loaded, env)
            out.print(f"bundle: {bundle}")
        run_preflight(loaded, env, bundle, terminal.ConsoleReporter(out))
        out.print(f"[bold green]pre-flight passed[/] for {env}: nothing was switched; the temporary copy is removed")


@app.command()
def status(env: EnvArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Current release, releases with good/bad marks, the lock, the last runs (a fleet: every host, and drift)."""
    import json

    from freigabe.adapters.target import is_fleet
    from freigabe.usecases.fleet_status import fleet_status
    from freigabe.usecases.status import status as read_status

    with failures():
        loaded = _load(config)
        if is_fleet(loaded, env):
            fleet = fleet_status(loaded, env)
            if as_json:
                out.print_json(json.dumps(fleet.to_json()))
                return
            out.print(terminal.fleet_status_table(fleet))
            for item in fleet.attention:
                out.print(f"[bold red]attention:[/] {escape(item['problem'])} → run [bold]{escape(item['command'])}[/]")
            return
        st = read_status(loaded, env)
        if as_json:
            out.print_json(json.dumps(st.__dict__))
            return
        if not st.deployed:
            out.print(f"{env}: freigabe has not deployed to {st.deploy_path} yet (no ledger, no current link)")
            return
        out.print(terminal.status_table(st))
        live = "" if not st.current else (" (verified)" if st.live.get("verified") else " [bold red](NOT verified)[/]")
        out.print(f"current: [bold]{st.current or 'none'}[/]{live}")
        if st.lock:
            stale = f" — looks abandoned: {st.lock['stale']}" if st.lock["stale"] else ""
            out.print(f"[yellow]lock[/]: {escape(st.lock['text'])}{escape(stale)}")
        else:
            out.print("lock: free")
        if st.runs:
            out.print("runs:")
        for run in st.runs:
            out.print(
                f"  {run['ts'][:19]}  {run['run']}  {escape(run['label'])}"
                + (f" — {escape(str(run['reason']))}" if run.get("reason") else "")
            )
        if st.refusals:
            out.print("refused or cancelled approvals (nothing was changed):")
        for refusal in st.refusals:
            what = "ABBRECHEN" if refusal["event"] == "plan.aborted" else "refused"
            who, why = escape(str(refusal.get("by"))), escape(str(refusal.get("reason")))
            out.print(f"  {refusal['ts'][:19]}  {what} by {who}: {why}")
        for item in st.attention:
            out.print(f"[bold red]attention:[/] {escape(item['problem'])} → run [bold]{escape(item['command'])}[/]")


@app.command()
def cleanup(
    env: EnvArg,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be removed.")] = False,
    config: ConfigOpt = None,
    hosts: HostsOpt = None,
) -> None:
    """Apply release retention (never current, the previous good release, or a running deploy's)."""
    from freigabe.adapters.target import is_fleet
    from freigabe.usecases.cleanup import cleanup as run_cleanup
    from freigabe.usecases.fleet_status import cleanup_fleet

    with failures():
        loaded = _load(config)
        verb = "would remove" if dry_run else "removed"
        if is_fleet(loaded, env):
            for name, (doomed, stray) in cleanup_fleet(loaded, env, hosts, dry_run).items():
                out.print(
                    f"{name}: {verb} {plural(len(doomed), 'release')}" + (f": {', '.join(doomed)}" if doomed else "")
                )
                if stray:
                    out.print(
                        f"{name}: {verb} {plural(len(stray), 'leftover')} of crashed runs: {escape(', '.join(stray))}"
                    )
            return
        if hosts:
            raise UsageError(f"--hosts applies to fleets; {env} has one host")
        doomed, stray = run_cleanup(loaded, env, dry_run=dry_run)
        out.print(f"{verb} {plural(len(doomed), 'release')}" + (f": {', '.join(doomed)}" if doomed else ""))
        if stray:
            out.print(f"{verb} {plural(len(stray), 'leftover')} of crashed runs: {escape(', '.join(stray))}")


@app.command()
def unlock(env: EnvArg, config: ConfigOpt = None, hosts: HostsOpt = None) -> None:
    """Clear a deploy lock left by a crashed run (recorded in the ledger)."""
    from freigabe.adapters.target import is_fleet
    from freigabe.usecases.fleet_status import unlock_fleet
    from freigabe.usecases.status import unlock as run_unlock

    with failures():
        loaded = _load(config)
        if is_fleet(loaded, env):
            cleared = unlock_fleet(loaded, env, hosts)
            for text in cleared:
                out.print(f"cleared the lock of {escape(text)}")
            if not cleared:
                out.print(f"no chosen host of {env} is locked")
            return
        if hosts:
            raise UsageError(f"--hosts applies to fleets; {env} has one host")
        cleared_one = run_unlock(loaded, env)
        out.print(f"cleared the lock {escape(cleared_one)}" if cleared_one else f"{env} is not locked")


@ledger_app.command("key")
def ledger_key(
    new: Annotated[
        Path | None,
        typer.Option(
            "--new", help="Write a fresh private key to this file (a CI secret's value); print its public key."
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """The public key this machine signs ledger entries with, for [ledger] trusted_keys."""
    from freigabe.usecases.ledger_key import public_key

    with failures():
        shown = public_key(_load(config), new)
        if new is not None:
            out.print(f"wrote a new private key to {escape(str(new))} (mode 0600): store its content as a secret")
            out.print("[dim]e.g. gh secret set FREIGABE_LEDGER_KEY < FILE, then delete FILE[/]")
        out.print(f"public key: {shown.public}")
        out.print(f"key id:     {shown.id}")
        if shown.trusted:
            out.print("[green]✔[/] listed in \\[ledger] trusted_keys")
        else:
            out.print(escape(f'add it to freigabe.toml: [ledger] trusted_keys = [..., "{shown.public}"]'))


@ledger_app.command("verify")
def ledger_verify(
    env: Annotated[str | None, typer.Argument(help="Environment (default: all).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain on each target and that the local copy agrees."""
    import json

    from freigabe.errors import LedgerError
    from freigabe.usecases.ledger_check import verify_all

    with failures():
        loaded = _load(config)
        names = [env] if env else sorted(loaded.config.environments)
        checks = []
        for name in names:
            loaded.config.environment(name)
            checks += verify_all(loaded, name)
        bad = [c.environment for c in checks if not c.ok]
        if as_json:
            out.print_json(json.dumps({"schema_version": 1, "environments": [c.to_json() for c in checks]}))
        for check in [] if as_json else checks:
            if not check.ok:
                out.print(f"[red]✘[/] {check.environment}:")
                for problem in check.problems:
                    out.print(f"    {escape(problem)}")
            elif not check.deployed:
                out.print(f"[dim]–[/] {check.environment}: not deployed yet (no ledger on the target, no local copy)")
            else:
                out.print(
                    f"[green]✔[/] {check.environment}: {plural(check.target_entries, 'entry', 'entries')}, chain intact"
                    + (f", local copy agrees ({check.local_entries})" if check.local_entries else "")
                )
            for note in [] if as_json else check.notes:
                out.print(f"    [yellow]note:[/] {escape(note)}")
        if bad:
            raise LedgerError(
                f"the ledger of {', '.join(bad)} does not verify; treat its records "
                "as untrustworthy and find out who changed them"
            )


@app.command()
def evidence(
    run: Annotated[str, typer.Argument(help="Run id (from deploy output or `freigabe status`).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write into.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the evidence of one run (JSON + Markdown) from the ledger."""
    from freigabe.usecases import evidence as ev

    with failures():
        loaded = _load(config)
        env, entries = ev.find_run(loaded, run)
        folder = ev.write_run_evidence(loaded, env, run, entries, out_dir)
        out.print(f"evidence of {run} ({env}) written to {folder}/evidence.md and evidence.json")


@app.command()
def e2e(
    env: EnvArg,
    sha: Annotated[str | None, typer.Option(help="Commit to validate (default: git HEAD).")] = None,
    plan_id: Annotated[str | None, typer.Option("--plan", help="The E2E plan id to run.")] = None,
    approve: Annotated[str | None, typer.Option(help="The environment's approval phrase.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drive the GitHub pipeline (build, deploy) and verify on the target itself; PASS or FAIL."""
    import json

    from freigabe import terminal_e2e
    from freigabe.usecases import e2e as e2e_case

    with failures():
        loaded = _load(config)
        if plan_id is None:
            if approve is not None:
                raise UsageError("--approve needs --plan ID: an approval is bound to the E2E plan you saw")
            planned = e2e_case.make_e2e_plan(loaded, env, sha)
            made = planned.plan
            e2e_case.save_e2e_plan(loaded, made)
            if as_json:
                out.print_json(json.dumps(made.to_json()))
                return
            terminal_e2e.print_e2e_plan(out, made)
            terminal.print_findings(out, planned.findings)
            terminal.print_decision(out, made.decision)
            if made.decision and made.decision.verdict == "NO-GO":
                out.print("\n[bold red]NO-GO[/]: fix the blocking findings, then make a new E2E plan")
            else:
                out.print(
                    f"\nTo run: [bold]freigabe e2e {env} --plan {made.id[:12]} --approve '{made.approval_phrase}'[/]"
                )
            return
        if approve is None:
            raise UsageError(f"give --approve PHRASE with --plan {plan_id}: the phrase the plan showed")
        made_plan = e2e_case.load_e2e_plan(loaded, plan_id)
        if made_plan.environment != env:
            raise UsageError(f"E2E plan {made_plan.id[:12]} is for {made_plan.environment}, not {env}")
        terminal.print_decision(out, made_plan.decision)
        result = e2e_case.run_e2e(loaded, made_plan, approve, terminal_e2e.ConsoleProgress(out))
        terminal_e2e.print_verdict(out, env, result.verdict)
        out.print(
            f"evidence: {result.evidence}/evidence.md ({result.api_calls} API calls; e2e {result.e2e_seconds:.1f} s, "
            f"the pipeline's own {result.pipeline_seconds:.0f} s)"
        )
        if result.verdict.verdict != "PASS":
            raise typer.Exit(int(ExitCode.E2E_FAILED))


@ci_app.command("init")
def ci_init(
    approval: Annotated[
        list[str] | None,
        typer.Option(help="ENV=reviewers or ENV=phrase (default: asked of GitHub, else the phrase)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite workflows written before.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Write build → deploy workflows (one per environment) that run freigabe, pinned and least-privileged."""
    from freigabe.usecases.ci_init import ci_init as write_workflows

    with failures():
        done = write_workflows(_load(config), approval or [], force)
        for name in done.files:
            out.print(f"wrote {done.folder / name}")
        for env, mode in done.approvals.items():
            how = "required reviewers, same run" if mode == "reviewers" else "a second dispatch with plan id + phrase"
            out.print(f"{env}: approved by {how} ({escape(done.why[env])})")
        out.print(f"the workflows read these repository secrets: {', '.join(done.secrets)}")
        if done.untrusted_ledger:
            out.print(
                "[yellow]next:[/] `freigabe ledger key --new FILE` makes the deploy job's ledger key: store FILE "
                "as the secret and add the public key it prints to \\[ledger] trusted_keys, with your own "
                "(`freigabe ledger key`), or ledgers signed in CI will not verify here"
            )


@app.command()
def demo(
    directory: Annotated[Path | None, typer.Option("--dir", help="Empty folder to work in.")] = None,
) -> None:
    """The whole pipeline on this machine: build, plan, approve, deploy, fail, roll back, promote."""
    from freigabe.demo.run import run_demo

    with failures():
        run_demo(directory, out)


def main() -> None:
    app()
