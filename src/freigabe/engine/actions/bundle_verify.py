"""bundle.verify: the target's own SHA-256 of the uploaded bundle must be the approved one."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import BundleVerify
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError


def run(ctx: RunContext, step: Step, args: BundleVerify) -> Outcome:
    actual = ctx.t.sha256(args.remote)
    if actual != args.sha256:
        ctx.t.remove(args.remote)
        raise BundleError(
            f"the bundle on the target has SHA-256 {actual[:12]}…, not the approved "
            f"{args.sha256[:12]}…; it was damaged in transit — deploy again"
        )
    return Outcome(True, f"SHA-256 {actual[:16]}… matches", {"sha256": actual})
