"""switch: a new link at a temporary name renamed over `current` (rename(2)), and its ledger entry, together."""

from __future__ import annotations

import time

from freigabe import failpoints
from freigabe.core.plan import Step
from freigabe.core.steps import Switch
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import NoRelease, StepFailed
from freigabe.interrupts import critical


def run(ctx: RunContext, step: Step, args: Switch) -> Outcome:
    is_current = args.link == ctx.layout.current
    before = ctx.current_link() if is_current else ctx.t.readlink(args.link)
    known = is_current and ctx.link_known  # seen under the lock: kept up to date below
    # Everything before the switch is on record before it happens: the entries travel ahead of
    # the switch, and if they cannot be written the switch is not made (the transport skips it).
    ctx.recorder.flush(wait=False)
    with critical():  # the switch and its ledger entry: never one without the other
        if known:
            ctx.knows_link(None, known=False)  # until the switch answers with what the link now says
        try:  # the link is made only to a release folder (checked in the same round trip)
            after = ctx.t.replace_symlink(args.target, args.link)
        except NoRelease as exc:
            ctx.knows_link(before, known)
            raise StepFailed(exc.message) from None
        if known:
            ctx.knows_link(after)
        ctx.switched = True  # the link was replaced, even if it then reads back wrong
        ctx.switched_at = time.monotonic()
        failpoints.hit("switch.recorded-before")
        ctx.recorder.record_now("switch", before=before, after=after, release=args.release)
    failpoints.hit("switch.recorded")
    if after != args.target:
        return Outcome(False, f"current points at {after}, expected {args.target}", {"before": before, "after": after})
    return Outcome(True, f"{before or '(none)'} → {after}", {"before": before, "after": after})
