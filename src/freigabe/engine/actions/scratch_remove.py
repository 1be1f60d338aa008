"""scratch.remove: a run's temporary folders under .freigabe/ (the pre-flight's copy), never anything else."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import ScratchRemove
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import StepFailed


def run(ctx: RunContext, step: Step, args: ScratchRemove) -> Outcome:
    scratch = f"{ctx.layout.state}/preflight/"
    outside = [p for p in args.paths if not p.startswith(scratch) or "/../" in p]
    if outside:
        raise StepFailed(f"{outside[0]} is not a temporary folder under {scratch}; it is not removed")
    for path in args.paths:
        ctx.t.remove_tree(path)
    return Outcome(True, f"removed {', '.join(args.paths)}")
