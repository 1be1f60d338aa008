"""release.remove: one release that is not live, with its manifest and mark (`freigabe fix server.failed-release`)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import ReleaseRemove
from freigabe.engine.actions.cleanup import remove_release
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import StepFailed


def run(ctx: RunContext, step: Step, args: ReleaseRemove) -> Outcome:
    if ctx.current() == args.release:
        raise StepFailed(f"{args.release} became live meanwhile; it is not removed")
    remove_release(ctx, args.release)
    return Outcome(True, f"removed releases/{args.release}", {"removed": args.release})
