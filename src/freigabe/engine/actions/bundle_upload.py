"""bundle.upload: the approved bundle, copied to the target under a temporary name, then renamed."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import BundleUpload
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError


def run(ctx: RunContext, step: Step, args: BundleUpload) -> Outcome:
    if ctx.bundle_path is None:
        raise BundleError("no local bundle was given for this run; pass --bundle")
    ctx.t.mkdir(ctx.layout.bundles)
    ctx.t.put(str(ctx.bundle_path), args.remote)
    return Outcome(True, f"copied to {args.remote}")
