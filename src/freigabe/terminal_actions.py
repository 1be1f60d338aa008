"""The run's progress as a GitHub Actions log: each step a `::group::`, failures as annotations."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from freigabe.adapters.actions_runner import WorkflowCommands
from freigabe.core.plan import Step
from freigabe.engine.outcome import Outcome


class GitHubActionsReporter:
    """Implements the executor's `Reporter`. Lines reach it redacted; secrets are also masked."""

    def __init__(self, console: Console, commands: WorkflowCommands | None = None) -> None:
        self.console = console
        # the groups go to the same stream as the step lines, so they stay in order in the log
        self.commands = commands or WorkflowCommands(
            lambda line: console.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)
        )
        self._open = False

    def _close(self) -> None:
        if self._open:
            self.commands.endgroup()
            self._open = False

    def step_started(self, step: Step, index: int, total: int) -> None:
        self._close()
        self.commands.group(f"[{index}/{total}] {step.title}")
        self._open = True

    def step_finished(self, step: Step, outcome: Outcome) -> None:
        self._close()
        mark = "✔" if outcome.ok else ("!" if step.on_failure == "warn" else "✘")
        self.console.print(f"{mark} {step.id} {escape(outcome.summary)} ({outcome.seconds:.2f} s)", highlight=False)
        if not outcome.ok:
            level = "warning" if step.on_failure == "warn" else "error"
            self.commands.annotate(level, outcome.summary, title=f"{step.id} ({step.on_failure})")

    def output(self, step: Step, line: str) -> None:
        if line.strip():
            self.console.print(f"    {escape(line)}", highlight=False)

    def note(self, text: str) -> None:
        self._close()
        self.console.print(f"→ {escape(text)}", highlight=False)
        self.commands.annotate("notice", text, title="freigabe")
