"""The terminal: Rich rendering of plans, runs, findings and status. No logic, only display."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.status import Status as Spinner
from rich.table import Table

from freigabe.core.decision import Decision
from freigabe.core.findings import Finding
from freigabe.core.plan import Plan, Step
from freigabe.core.words import plural
from freigabe.engine.outcome import Outcome
from freigabe.usecases.fleet_status import FleetStatus
from freigabe.usecases.status import Status

POLICY_STYLE = {"abort": "yellow", "rollback": "red", "warn": "dim"}


def hosts_table(plan: Plan) -> Table:
    """A fleet plan's hosts: what each serves now, its roles, and what it will do."""
    fleet = plan.fleet
    assert fleet is not None
    batches = escape(" → ".join("[" + ", ".join(b) + "]" for b in fleet.batches))
    table = Table(
        title=f"Fleet: {plural(len(plan.hosts), 'host')}, strategy {fleet.strategy} ({batches}), "
        f"unreachable host: {fleet.on_unreachable}, {fleet.concurrency} prepared at once",
        box=None,
        padding=(0, 1),
        title_justify="left",
    )
    table.add_column("host", no_wrap=True)
    table.add_column("roles", no_wrap=True)
    table.add_column("live now", no_wrap=True)
    table.add_column("will", overflow="fold")
    for host in plan.hosts:
        style = "yellow" if host.skip else ""
        table.add_row(
            host.name,
            ", ".join(host.roles) or "—",
            host.current_release or "none",
            f"[{style}]{escape(host.does)}[/]" if style else escape(host.does),
        )
    return table


def plan_table(plan: Plan) -> Table:
    if plan.is_fleet:
        return _fleet_steps_table(plan)
    table = Table(
        title=f"Plan {plan.id[:12]} — {plan.kind} {plan.release} to {plan.environment}",
        box=None,
        padding=(0, 1),
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("step", no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("on failure", no_wrap=True)
    table.add_column("does", overflow="fold")
    table.add_column("ref", style="dim", no_wrap=True)
    for index, step in enumerate(plan.steps, start=1):
        policy = step.on_failure
        table.add_row(str(index), step.id, f"[{POLICY_STYLE[policy]}]{policy}[/]", escape(step.title), step.source)
    return table


def _fleet_steps_table(plan: Plan) -> Table:
    table = Table(
        title=f"Plan {plan.id[:12]} — {plan.kind} {plan.release} to {plan.environment} "
        f"(phases: prepare all, migrate once, switch, verify each host)",
        box=None,
        padding=(0, 1),
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("step", no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("on", overflow="fold", max_width=24)
    table.add_column("on failure", no_wrap=True)
    table.add_column("does", overflow="fold")
    every = [h.name for h in plan.hosts if not h.skip]
    for index, (step, hosts) in enumerate(plan.step_hosts(), start=1):
        on = "every host" if hosts == every else ", ".join(hosts)
        policy = step.on_failure
        table.add_row(str(index), step.id, on, f"[{POLICY_STYLE[policy]}]{policy}[/]", escape(step.title))
    return table


def print_plan(console: Console, plan: Plan, compact: bool = False) -> None:
    if plan.is_fleet:
        console.print(hosts_table(plan))
    if compact:
        console.print(
            f"Plan {plan.id[:12]} — {plan.kind} {plan.release} to {plan.environment}: "
            f"{plural(len(plan.steps), 'step')} as above"
        )
    else:
        console.print(plan_table(plan))
    if plan.rollback_steps:
        console.print(f"[bold]If a check after the switch fails[/]: automatic rollback to {plan.previous_release}:")
        for step in plan.rollback_steps:
            console.print(f"   • {escape(step.title)}")
    for step in plan.shown_steps:  # a fleet's migrations are on its migrate host
        print_migrations(console, step)
    if plan.is_fleet and any(h.rollback_steps for h in plan.hosts):
        back = sorted({h.current_release or "nothing" for h in plan.hosts if h.rollback_steps})
        console.print(
            f"[bold]If any host fails after the switch[/]: every switched host goes back to {', '.join(back)} "
            "(what it serves now), reloads, and is verified again"
        )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(
        f"inputs: config {plan.inputs.config_digest[:12]}…, bundle "
        f"{(plan.inputs.bundle_sha256 or '—')[:12]}…, live release "
        f"{plan.inputs.current_release or 'none'}"
    )
    console.print(f"[bold]plan id[/] {plan.id}")


KIND_STYLE = {"additive": "green", "breaking": "bold red", "data": "cyan", "unknown": "yellow"}


def print_migrations(console: Console, step: Step) -> None:
    """The SQL a migrate step will run, as the plan's pre-flight copy read it, each statement judged."""
    planned = step.args.get("planned") if step.action == "migrations.run" else None
    if not planned:
        return
    console.print(f"[bold]{step.id}[/] runs {plural(len(planned), 'pending migration')}:")
    for migration in planned:
        console.print(f"   {escape(migration['name'])}")
        for sql, kind in zip(migration["statements"], migration["kinds"], strict=False):
            console.print(f"     [{KIND_STYLE.get(kind, 'dim')}]{kind:<8}[/] {escape(sql)}")


class _Elapsed:
    """A spinner text that counts the seconds the step has been running (re-rendered on refresh)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.started = time.monotonic()

    def __rich__(self) -> str:
        return f"{self.text} [dim]{time.monotonic() - self.started:.0f} s[/]"


class ConsoleReporter:
    """Live progress: a spinner on the running step, one line per finished step."""

    def __init__(self, console: Console, show_output: bool = True) -> None:
        self.console = console
        self.show_output = show_output
        self._live: Spinner | None = None

    def step_started(self, step: Step, index: int, total: int) -> None:
        self._stop()
        self._live = self.console.status(_Elapsed(f"[{index}/{total}] {escape(step.title)}"))
        self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def step_finished(self, step: Step, outcome: Outcome) -> None:
        self._stop()
        if outcome.ok:
            mark = "[green]✔[/]"
        elif step.on_failure == "warn":
            mark = "[yellow]![/]"
        else:
            mark = "[red]✘[/]"
        self.console.print(
            f"{mark} {step.id:<28} {escape(outcome.summary)} [dim]({outcome.seconds:.2f} s)[/]",
            highlight=False,
        )

    def output(self, step: Step, line: str) -> None:
        if self.show_output and line.strip():
            self.console.print(f"    [dim]{escape(line)}[/]", highlight=False)

    def note(self, text: str) -> None:
        self._stop()
        self.console.print(f"[bold yellow]→ {escape(text)}[/]")


def status_table(status: Status) -> Table:
    table = Table(title=f"{status.environment}: {status.deploy_path}")
    table.add_column("release")
    table.add_column("live")
    table.add_column("mark")
    table.add_column("reason", style="dim")
    for row in status.releases:
        style = {"good": "green", "bad": "red"}.get(row["mark"], "dim")
        table.add_row(
            row["release"],
            "● current" if row["current"] else "",
            f"[{style}]{row['mark']}[/]",
            escape(str(row["reason"])[:80]),
        )
    return table


def fleet_status_table(fleet: FleetStatus) -> Table:
    table = Table(
        title=f"{fleet.environment}: {fleet.deploy_path} — fleet of {plural(len(fleet.roles), 'host')}, "
        f"serving {fleet.release or 'nothing'}" + (" [bold red](drift)[/]" if fleet.drift else ""),
        title_justify="left",
    )
    for column in ("host", "roles", "current", "verified", "lock", "marks"):
        table.add_column(column)
    for name, roles in fleet.roles.items():
        st = fleet.hosts.get(name)
        if st is None:
            table.add_row(name, ",".join(roles), "[red]unreachable[/]", "", "", escape(fleet.unreachable.get(name, "")))
            continue
        current = st.current or "none"
        if name in fleet.drift:
            current = f"[yellow]{current}[/] (drift)"
        verified = "yes" if st.live.get("verified") else ("[bold red]NO[/]" if st.current else "—")
        held = "free" if not st.lock else ("[red]abandoned[/]" if st.lock.get("stale") else f"run {st.lock.get('run')}")
        marks = ", ".join(f"{r['release'][-8:]}:{r['mark']}" for r in st.releases[:3])
        table.add_row(name, ",".join(roles), current, verified, held, escape(marks))
    return table


STATUS_STYLE = {"ok": "green", "fail": "bold red", "pending": "blue", "warn": "yellow"}


def print_findings(console: Console, findings: list[Finding]) -> None:
    if not findings:
        console.print("no findings")
        return
    table = Table(title="SOLL ↔ IST", box=None, padding=(0, 1), title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("impact", no_wrap=True)
    table.add_column("finding", overflow="fold")
    table.add_column("IST", overflow="fold")
    order = {"fail": 0, "pending": 1, "warn": 2, "ok": 3}
    for f in sorted(findings, key=lambda f: (order[f.status], f.impact, f.key)):
        status = f"[{STATUS_STYLE[f.status]}]{f.status}[/]"
        ist = escape(f.ist)
        if f.waived and f.status != "ok":
            status += " [bold magenta]waived[/]"
            ist += escape(f" — waived by {f.waived['by']}: {f.waived['reason']}")
        table.add_row(status, f.impact, escape(f.key), ist)
    console.print(table)


def print_verdict(console: Console, plan: Plan) -> None:
    """The verdict and its reasons, shown before any approval is asked for or hinted at."""
    if plan.decision is not None:
        print_decision(console, plan.decision)
    elif plan.kind in ("rollback", "recover"):
        console.print(
            f"decision for {plan.environment}: no audit — a {plan.kind} returns to a release that was "
            "verified before and proves again that it answers healthy"
        )
        for warning in plan.warnings:  # the schema that stays ahead of the code it goes back to
            console.print(f"[yellow]warning:[/] {escape(warning)}")
    else:
        console.print(f"decision for {plan.environment}: [bold yellow]not audited[/] (the plan was made without one)")


def print_decision(console: Console, decision: Decision | None) -> None:
    if decision is None:
        return
    style = {"GO": "bold green", "CONDITIONAL GO": "bold yellow", "NO-GO": "bold red"}[decision.verdict]
    console.print(f"decision for {decision.environment}: [{style}]{decision.verdict}[/]")
    for reason in decision.reasons:
        console.print(f"  • {escape(reason)}")
