"""`freigabe e2e` in the terminal: the plan (calls, reads, decision), live progress, the verdict."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from freigabe.core.e2e_plan import E2EPlan, Verdict

STATE_MARK = {"success": "[green]✔[/]", "failure": "[red]✘[/]", "cancelled": "[red]✘[/]", "skipped": "[dim]–[/]"}


def print_e2e_plan(console: Console, plan: E2EPlan) -> None:
    console.print(f"[bold]E2E plan {plan.id[:12]}[/] — {plan.environment}, commit {plan.sha[:12]} on {plan.ref}")
    console.print(f"  live now: {plan.current_release or 'nothing'}; releases: {', '.join(plan.releases) or 'none'}")
    build = (
        f"run {plan.build_run_id} (successful, for this commit)" if plan.build_run_id else "dispatched, then awaited"
    )
    console.print(f"  build: {plan.build_workflow}: {build}")
    console.print(f"  deploy: {plan.deploy_workflow} on {plan.deploy_ref}, inputs {escape(str(plan.inputs))}")
    if plan.promotion:
        console.print(
            f"  promotion: the bundle of {plan.promotion.get('source')} "
            f"(SHA-256 {str(plan.promotion.get('bundle_sha256'))[:12]}…), pre-flight first"
        )
    console.print("  API calls (nothing else is sent to GitHub):")
    for call in plan.calls:
        console.print(f"    {call.method:<4} {escape(call.path)} [dim]— {escape(call.when)}[/]")
    console.print("  reads on the target and over HTTP (nothing is changed there):")
    for read in plan.reads:
        console.print(f"    {escape(read)}")
    console.print(f"  log gates: {', '.join(g.name for g in plan.gates)}")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"[bold]plan id[/] {plan.id}")


class ConsoleProgress:
    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, text: str) -> None:
        self.console.print(f"[bold]→[/] {escape(text)}")

    def step(self, job: str, number: int, name: str, state: str) -> None:
        mark = STATE_MARK.get(state, "[yellow]…[/]")
        self.console.print(f"  {mark} {escape(job)} · {number} {escape(name)} [dim]{state}[/]")


def print_verdict(console: Console, environment: str, verdict: Verdict) -> None:
    style = "bold green" if verdict.verdict == "PASS" else "bold red"
    console.print(f"E2E {environment}: [{style}]{verdict.verdict}[/] — {escape(verdict.summary)}")
    for c in verdict.criteria:
        console.print(f"  {'[green]✔[/]' if c.ok else '[red]✘[/]'} {escape(c.name)}: {escape(str(c.detail))}")
