"""release.mark: a release recorded good (verified) or bad (with the cause of its failure)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import ReleaseMark
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: ReleaseMark) -> Outcome:
    reason = ctx.failure if args.mark == "bad" and ctx.failure else f"{ctx.plan.kind} {ctx.run}"
    ctx.write_mark(args.release, args.mark, reason)
    return Outcome(True, f"{args.release}: {args.mark}")
