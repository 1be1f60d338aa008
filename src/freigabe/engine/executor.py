"""The one interpreter of steps: each through its registered handler, each failure by its policy.

Policy: a failing step with `abort` (or any failure before the switch) stops the run and
leaves `current` untouched; `warn` is recorded and the run goes on; `rollback` (after the
switch) runs the plan's rollback steps, which switch back to the release that was live before
this deploy, reload, and verify it answers healthy again. A signal is handled the same way
(see `freigabe.interrupts`). A lost connection is re-opened (a few times) before the rollback.
Whatever a handler raises becomes a recorded failure: a run never ends without `run.finished`
unless the process itself is killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from freigabe import failpoints
from freigabe.core.plan import PHASES, Plan, Step
from freigabe.engine.actions import REGISTRY
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome, RunResult
from freigabe.errors import (
    ConnectionLost,
    FreigabeError,
    GateFailed,
    RollbackFailed,
    RolledBack,
    RunInterrupted,
    StepFailed,
    TargetError,
)
from freigabe.interrupts import Interrupted, critical

T = TypeVar("T")
RECONNECT_WAITS = (1.0, 2.0, 4.0)
FINISHED = {"deploy": "deployed", "rollback": "deployed", "recover": "deployed", "preflight": "preflight passed"}


@dataclass
class Failed:
    """The step that stopped a host's run: its outcome, and the signal if a signal stopped it."""

    step: Step
    outcome: Outcome
    signal: Interrupted | None = None


class Stop:
    """A signal relayed to a fleet's worker threads: each host's executor acts on it at its next step."""

    def __init__(self) -> None:
        self.signum: int | None = None


class Executor:
    """Runs one host's steps, phase by phase; `execute` runs them all (a host on its own). A fleet's
    orchestrator calls `begin`, `run_phase` for each phase on every host, `fail` and `finish`."""

    def __init__(self, ctx: RunContext, stop: Stop | None = None, plan_id: str | None = None) -> None:
        self.ctx = ctx
        self.plan: Plan = ctx.plan
        self.stop = stop
        self.plan_id = plan_id or ctx.plan.id  # a fleet host runs its part of the fleet's plan
        self.result = RunResult(
            ctx.run, self.plan_id, ctx.plan.environment, ctx.plan.release, ctx.plan.previous_release, "running"
        )
        # a recovery starts with its release already live: a failure rolls back
        ctx.switched = ctx.plan.kind == "recover"

    # ------------------------------------------------------------ driving

    def execute(self) -> RunResult:
        self.begin()
        for phase in PHASES:
            failed = self.run_phase([s for s in self.plan.steps if s.phase == phase])
            if failed is not None:
                self.fail(failed)
                break  # only the finish phase was left: the release is live and verified
        return self.finish()

    def begin(self, **extra: Any) -> None:
        plan, ctx = self.plan, self.ctx
        ctx.recorder.record(
            "run.started",
            plan=self.plan_id,
            kind=plan.kind,
            release=plan.release,
            previous_release=plan.previous_release,
            bundle=plan.bundle.model_dump(exclude={"path"}) if plan.bundle else None,
            current_before=ctx.current(),
            **extra,
        )

    def run_phase(self, steps: list[Step]) -> Failed | None:
        """Run `steps` in order; the failure that stops the run (not a `warn`), or None."""
        total = len(self.plan.steps)
        for step in steps:
            index = next((i for i, s in enumerate(self.plan.steps, start=1) if s is step), 0)
            try:
                if self.stop is not None and self.stop.signum is not None:
                    raise Interrupted(self.stop.signum)
                outcome = self._run(step, index, total)
            except Interrupted as signal:
                reason = f"interrupted by {signal.signal} during {step.id}"
                return Failed(step, Outcome(False, reason, error=RunInterrupted(reason)), signal)
            self.result.steps.append((step, outcome))
            if outcome.ok:
                if outcome.warning:
                    self.result.warnings.append(f"{step.id}: {outcome.warning}")
                continue
            if step.on_failure == "warn":
                outcome.status = "warned"
                self.result.warnings.append(f"{step.id}: {outcome.summary}")
                continue
            return Failed(step, outcome)
        return None

    def fail(self, failed: Failed) -> None:
        """End the run for `failed`: after the switch roll back (verified), before it abort; raises.
        Returns only for a signal in the finish phase: the release is live and verified, the rest is skipped."""
        step, outcome = failed.step, failed.outcome
        if failed.signal is not None:
            if self._interrupted(step, failed.signal):
                return
            raise AssertionError("unreachable: _interrupted raises unless the run is done")
        if self.ctx.switched and (step.on_failure == "rollback" or isinstance(outcome.error, ConnectionLost)):
            self._rollback(step, outcome)
        self._abort(step, outcome)

    def finish(self, **extra: Any) -> RunResult:
        ctx, plan = self.ctx, self.plan
        self.result.outcome = FINISHED.get(plan.kind, "done")
        self._finally()
        ctx.recorder.record_now(
            "run.finished",
            outcome=self.result.outcome,
            release=plan.release,
            current_after=self._current_or_unknown(),
            warnings=self.result.warnings,
            **extra,
        )
        return self.result

    def _run(self, step: Step, index: int, total: int) -> Outcome:
        ctx = self.ctx
        if self.stop is not None and self.stop.signum is not None:
            raise Interrupted(self.stop.signum)
        ctx.counter += 1
        ctx.reporter.step_started(step, index, total)
        ctx.recorder.record("step.started", step=step.id, action=step.action, title=step.title)
        started = time.monotonic()
        action = REGISTRY[step.action]
        try:
            if action.changes:
                ctx.recorder.flush(wait=False)  # the intent travels ahead of the step's own changes
            failpoints.hit(f"step.before:{step.id}")
            outcome = action.run(ctx, step, action.args.model_validate(step.args))
            if action.changes:
                self._on_target(self._settle)  # the step's changes are done (or their failure is known)
            failpoints.hit(f"step.after:{step.id}")
        except FreigabeError as exc:
            outcome = Outcome(False, exc.message, error=exc)
        except OSError as exc:
            outcome = Outcome(False, f"{type(exc).__name__}: {exc.strerror or exc}")
        except Exception as exc:  # a bug in a handler: recorded and handled by the step's policy
            outcome = Outcome(False, f"internal error in {step.action}: {type(exc).__name__}: {exc}")
        if not outcome.ok and outcome.error is None:
            outcome.error = action.error(outcome.summary)
        outcome.seconds = round(time.monotonic() - started, 3)
        outcome.summary = ctx.redactor.text(outcome.summary)
        ctx.recorder.record(
            "step.finished",
            step=step.id,
            outcome="ok" if outcome.ok else ("warned" if step.on_failure == "warn" else "failed"),
            seconds=outcome.seconds,
            summary=outcome.summary,
            details=outcome.details,
        )
        try:
            self._on_target(lambda: ctx.recorder.flush(wait=False))  # confirmed by the next step's settle
        except TargetError as exc:  # the step's record could not be written: the step counts as failed
            if outcome.ok:
                outcome = Outcome(False, f"its ledger entries could not be written: {exc.message}", error=exc)
        ctx.reporter.step_finished(step, outcome)
        return outcome

    def _finally(self) -> None:
        """The plan's finally steps (the pre-flight's copy removed), however the run ends; their
        failures are warnings, and a signal does not stop them."""
        total = len(self.plan.finally_steps)
        for index, step in enumerate(self.plan.finally_steps, start=1):
            try:
                with critical():
                    outcome = self._run(step, index, total)
            except (Interrupted, TargetError) as exc:
                self.result.warnings.append(f"{step.id}: {exc}")
                continue
            if not outcome.ok:
                self.result.warnings.append(f"{step.id}: {outcome.summary}")

    # ------------------------------------------------------------ the target going away

    def _reconnect(self) -> bool:
        for wait in RECONNECT_WAITS:
            try:
                self.ctx.t.reconnect()
                self.ctx.recorder.resync()  # appends whose answer the old connection lost
                return True
            except TargetError:
                self.ctx.sleep(wait)
        return False

    def _settle(self) -> None:
        self.ctx.t.settle()
        self.ctx.recorder.confirm(block=False)

    def _on_target(self, fn: Callable[[], T]) -> T:
        """Run an operation on the target; a lost connection is re-opened once before giving up."""
        try:
            return fn()
        except ConnectionLost:
            if not self._reconnect():
                raise
            return fn()

    def _current_or_unknown(self) -> str | None:
        try:
            return self._on_target(self.ctx.current)
        except TargetError:
            return "unknown (the target cannot be reached)"

    # ------------------------------------------------------------ endings

    def _interrupted(self, step: Step, signal: Interrupted) -> bool:
        """A signal stopped `step`. Before the switch: stop cleanly. After it: roll back and verify,
        as for a failed check. In the finish phase (the release already verified): finish the
        marks and skip the rest. Returns True only in that last case; raises otherwise."""
        ctx = self.ctx
        reason = f"interrupted by {signal.signal} during {step.id}"
        ctx.recorder.record("step.finished", step=step.id, outcome="interrupted", summary=reason)
        ctx.recorder.record(
            "run.interrupted", signal=signal.signal, step=step.id, switched=ctx.switched, phase=step.phase
        )
        ctx.recorder.flush()
        ctx.reporter.note(reason)
        if step.phase == "finish" and ctx.switched:
            self.result.warnings.append(f"{reason}: the remaining finish steps were skipped")
            if not any(s.id == "release.mark" for s, o in self.result.steps if o.ok):
                with critical():
                    ctx.write_mark(self.plan.release, "good", f"{self.plan.kind} {ctx.run}")
            return True
        outcome = Outcome(False, reason, error=RunInterrupted(reason))
        if ctx.switched:
            self._rollback(step, outcome)
        self._abort(step, outcome, interrupted=True)
        return False

    def _abort(self, step: Step, outcome: Outcome, interrupted: bool = False) -> None:
        plan, ctx, layout = self.plan, self.ctx, self.ctx.layout
        release_dir = layout.release(plan.release)

        def tidy() -> str | None:
            ctx.t.remove_tree(layout.partial(plan.release))
            left = ctx.current()
            if plan.kind == "deploy" and ctx.t.exists(release_dir) and left != plan.release:
                if interrupted:  # an interrupted release never ran all its gates: it is not kept
                    for path in (release_dir, layout.manifest(plan.release), layout.sums(plan.release)):
                        ctx.t.remove_tree(path)
                else:
                    ctx.write_mark(plan.release, "bad", f"aborted at {step.id}: {outcome.summary}")
            return left

        try:
            left = self._on_target(tidy)
            unreachable = ""
        except TargetError as exc:
            left, unreachable = None, f" ({exc.message}; the unfinished release is removed by the next run)"
        self.result.outcome = "interrupted" if interrupted else "aborted"
        self._finally()
        try:
            self._on_target(
                lambda: ctx.recorder.record_now(
                    "run.finished",
                    outcome=self.result.outcome,
                    failed_step=step.id,
                    reason=outcome.summary,
                    current_after=left,
                )
            )
        except TargetError:
            unreachable = unreachable or " (the ledger could not be written: the target cannot be reached)"
        live = f"current still points at {left}" if left else ("no release was live" if not unreachable else "")
        where = f"{plan.kind} to {plan.environment} on {ctx.t.name}"
        if interrupted:
            raise RunInterrupted(
                f"{where} was {outcome.summary}; it stopped before the switch and the unfinished release was "
                f"removed{unreachable}; {live or 'nothing live was changed'}"
            )
        error_type = (
            type(outcome.error) if outcome.error else (GateFailed if step.id.startswith("gate.") else StepFailed)
        )
        if error_type is RolledBack or issubclass(error_type, RollbackFailed):
            error_type = StepFailed
        raise error_type(
            f"{where} stopped at {step.id} ({outcome.summary}); nothing live was changed"
            + (f": {live}" if live else "")
            + unreachable
        )

    def _rollback(self, step: Step, outcome: Outcome) -> None:
        plan, ctx = self.plan, self.ctx
        reason = f"{step.id}: {outcome.summary}"
        restore = plan.previous_release
        if isinstance(outcome.error, ConnectionLost) and not self._reconnect():
            self._unreachable(reason)
        ctx.recorder.record("rollback.started", reason=reason, restore=restore)
        ctx.reporter.note(f"{step.id} failed after the switch: rolling back to {restore}")
        if not plan.rollback_steps:
            ctx.write_mark(plan.release, "bad", reason)
            self.result.outcome = "rollback_failed"
            ctx.recorder.record("rollback.impossible", reason="no verified release was live before this run")
            ctx.recorder.record_now(
                "run.finished", outcome="rollback_failed", reason=reason, current_after=ctx.current()
            )
            why = (
                "there is no earlier release to roll back to (first deploy)"
                if plan.previous_release is None
                else f"the release before it ({plan.previous_release}) is no verified release to return to"
            )
            raise RollbackFailed(
                f"{reason}; {why}, so {plan.release} stays live and is marked bad — fix it and deploy again"
            )
        ctx.failure = reason
        total = len(plan.rollback_steps)
        for index, rstep in enumerate(plan.rollback_steps, start=1):
            try:
                routcome = self._run(rstep, index, total)
            except Interrupted as again:
                self._rollback_interrupted(rstep, reason, again)
            except TargetError:  # the target went away during the rollback, and stayed away
                self._unreachable(reason)
            self.result.rollback.append((rstep, routcome))
            if isinstance(routcome.error, ConnectionLost) and self._reconnect():
                routcome = self._run(rstep, index, total)  # the connection is back: this step again
                self.result.rollback.append((rstep, routcome))
            if not routcome.ok and rstep.on_failure != "warn":
                self.result.outcome = "rollback_failed"
                if isinstance(routcome.error, ConnectionLost):
                    self._unreachable(reason)
                current = ctx.current()
                ctx.recorder.record(
                    "rollback.failed",
                    reason=reason,
                    failed_step=rstep.id,
                    detail=routcome.summary,
                    current_after=current,
                )
                ctx.recorder.record_now("run.finished", outcome="rollback_failed", reason=reason, current_after=current)
                raise RollbackFailed(
                    f"{reason}; the rollback to {restore} failed at {rstep.id} ({routcome.summary}) — the site "
                    f"needs attention now (current: {current}); `freigabe status {plan.environment}` shows the state"
                )
        self.result.outcome = "rolled_back"
        ctx.recorder.record(
            "rollback.verified",
            restored=restore,
            failed_release=plan.release,
            current_after=ctx.current(),
            reason=reason,
        )
        ctx.recorder.record_now("run.finished", outcome="rolled_back", reason=reason, current_after=ctx.current())
        raise RolledBack(
            f"{plan.environment}: {reason}; rolled back to {restore}, which answers healthy "
            f"again (verified); {plan.release} is marked bad"
        )

    def _unreachable(self, reason: str) -> None:
        """The connection is gone after the switch and does not come back: nothing more can be done
        from here. Say which release may be live unverified, and what resolves it."""
        self.result.outcome = "rollback_failed"
        plan = self.plan
        raise RollbackFailed(
            f"{reason}; the connection to {self.ctx.t.name} was lost after the switch and could not be "
            f"re-opened: {plan.release} may be live and unverified — when the target is reachable, run "
            f"`freigabe status {plan.environment}`, then `freigabe unlock {plan.environment}` and "
            f"`freigabe recover {plan.environment}`"
        )

    def _rollback_interrupted(self, rstep: Step, reason: str, signal: Interrupted) -> None:
        """A signal stopped the rollback itself: leave a state that status, the audit and the next
        plan all name, and say which command resolves it."""
        ctx = self.ctx
        self.result.outcome = "rollback_failed"
        live = ctx.current()
        ctx.recorder.record("step.finished", step=rstep.id, outcome="interrupted", summary=str(signal))
        ctx.recorder.record(
            "rollback.failed",
            reason=reason,
            failed_step=rstep.id,
            detail=f"{signal} stopped the rollback",
            current_after=live,
        )
        ctx.recorder.record_now("run.finished", outcome="rollback_failed", reason=reason, current_after=live)
        raise RollbackFailed(
            f"{reason}; {signal} stopped the rollback at {rstep.id}: {live or 'no release'} is live and "
            f"was not verified — run `freigabe recover {self.plan.environment}` to verify it (it rolls back "
            f"if it fails), and `freigabe status {self.plan.environment}` to see the state"
        )
