"""bundle.upload: the approved bundle streamed to the target once — hashed there, kept under a
temporary name and unpacked into the release's hidden partial folder at the same time (see
adapters/transport/receive.py). Nothing becomes visible here: bundle.verify and release.extract
check what arrived before anything is renamed into place."""

from __future__ import annotations

from freigabe.adapters.transport.receive import PART
from freigabe.core.plan import Step
from freigabe.core.steps import BundleUpload
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError, TargetError


def run(ctx: RunContext, step: Step, args: BundleUpload) -> Outcome:
    if ctx.bundle_path is None:
        raise BundleError("no local bundle was given for this run; pass --bundle")
    t = ctx.t
    t.mkdir(ctx.layout.bundles)
    received = t.receive(str(ctx.bundle_path), args.remote, args.into)
    if received.problem:
        discard(ctx, args.remote, args.into)
        size = ctx.bundle_path.stat().st_size
        # A full disk can swallow tar's own words (its message file cannot be written either).
        if "No space left" in received.problem or t.disk_free(ctx.layout.bundles) < 2 * size:
            raise TargetError(
                f"disk full on the target while receiving the bundle into {args.into}; free space "
                "there and deploy again (what arrived was removed)"
            )
        raise BundleError(f"receiving the bundle failed ({received.problem}); what arrived was removed")
    ctx.received, ctx.unpacked = received, args.into
    size = ctx.bundle_path.stat().st_size
    return Outcome(True, f"{size / 2**20:.1f} MiB received, unpacked out of view", {"bytes": size})


def discard(ctx: RunContext, remote: str, folder: str) -> None:
    """Remove what a receive left: the bundle's temporary name and the hidden folder."""
    ctx.t.remove(remote + PART)
    ctx.t.remove_tree(folder)
    ctx.t.settle()
