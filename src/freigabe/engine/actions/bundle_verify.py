"""bundle.verify: the target's own SHA-256 of what it received must be the approved one; only
then does the bundle take its name (the unpacked copy stays hidden until release.extract)."""

from __future__ import annotations

from freigabe.adapters.transport.receive import PART
from freigabe.core.plan import Step
from freigabe.core.steps import BundleVerify
from freigabe.engine.actions.bundle_upload import discard
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError


def run(ctx: RunContext, step: Step, args: BundleVerify) -> Outcome:
    received = ctx.received
    if received is None:
        raise BundleError("the bundle was not received in this run; this is a bug")
    if received.sha256 != args.sha256:
        discard(ctx, args.remote, ctx.unpacked)
        raise BundleError(
            f"the bundle on the target has SHA-256 {received.sha256[:12] or 'none'}…, not the approved "
            f"{args.sha256[:12]}…; it was damaged in transit and what arrived was removed — deploy again"
        )
    ctx.t.rename(args.remote + PART, args.remote)
    return Outcome(True, f"SHA-256 {received.sha256[:16]}… matches", {"sha256": received.sha256})
