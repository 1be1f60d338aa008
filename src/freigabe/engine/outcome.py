"""What a step and a run come to, and who is told about it while they run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from freigabe.core.plan import Step
from freigabe.errors import FreigabeError


@dataclass
class Outcome:
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: FreigabeError | None = None
    status: str = ""  # ok | failed | warned
    warning: str | None = None  # a passing step that still has something to say

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "ok" if self.ok else "failed"


class Reporter(Protocol):
    def step_started(self, step: Step, index: int, total: int) -> None: ...
    def step_finished(self, step: Step, outcome: Outcome) -> None: ...
    def output(self, step: Step, line: str) -> None: ...
    def note(self, text: str) -> None: ...


class QuietReporter:
    def step_started(self, step: Step, index: int, total: int) -> None:
        return None

    def step_finished(self, step: Step, outcome: Outcome) -> None:
        return None

    def output(self, step: Step, line: str) -> None:
        return None

    def note(self, text: str) -> None:
        return None


@dataclass
class RunResult:
    run: str
    plan_id: str
    environment: str
    release: str
    previous_release: str | None
    outcome: str  # deployed | rolled_back | aborted | interrupted | rollback_failed | done
    steps: list[tuple[Step, Outcome]] = field(default_factory=list)
    rollback: list[tuple[Step, Outcome]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hosts: dict[str, RunResult] = field(default_factory=dict)  # a fleet: each host's own result
    fleet: dict[str, Any] = field(default_factory=dict)  # a fleet: skew per switch batch, skipped hosts
