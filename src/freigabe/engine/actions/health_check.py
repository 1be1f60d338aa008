"""health.check: the release answers as configured, with retries, with credentials sent to its own origin only."""

from __future__ import annotations

from freigabe.adapters import health
from freigabe.core.plan import Step
from freigabe.core.steps import HealthCheck
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: HealthCheck) -> Outcome:
    def show(attempt: health.Attempt) -> None:
        ctx.reporter.output(step, f"attempt {attempt.number}/{args.attempts}: {attempt.reason}")

    result = health.run_health_check(args.data(), sleep=ctx.sleep, on_attempt=show)
    details = result.to_json()
    tries = len(result.attempts)
    if result.ok:
        return Outcome(True, f"{result.reason} (attempt {tries}/{args.attempts})", details)
    return Outcome(False, f"{result.name} failed {tries}× — last: {result.reason}", details)
