"""switch: a new link at a temporary name renamed over `current` (rename(2)), and its ledger entry, together."""

from __future__ import annotations

import posixpath
import time

from freigabe import failpoints
from freigabe.core.plan import Step
from freigabe.core.steps import Switch
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import StepFailed
from freigabe.interrupts import critical


def run(ctx: RunContext, step: Step, args: Switch) -> Outcome:
    t = ctx.t
    release_dir = posixpath.join(posixpath.dirname(args.link), args.target)
    seen = t.kinds([args.link, release_dir])
    before = seen[args.link].link
    if seen[release_dir].kind != "dir":
        raise StepFailed(f"{args.target} is not a complete release on the target")
    # Everything before the switch is on record before it happens: the entries travel ahead of
    # the switch, and if they cannot be written the switch is not made (the transport skips it).
    ctx.recorder.flush(wait=False)
    with critical():  # the switch and its ledger entry: never one without the other
        after = t.replace_symlink(args.target, args.link)
        ctx.switched = True  # the link was replaced, even if it then reads back wrong
        ctx.switched_at = time.monotonic()
        failpoints.hit("switch.recorded-before")
        ctx.recorder.record_now("switch", before=before, after=after, release=args.release)
    failpoints.hit("switch.recorded")
    if after != args.target:
        return Outcome(False, f"current points at {after}, expected {args.target}", {"before": before, "after": after})
    return Outcome(True, f"{before or '(none)'} → {after}", {"before": before, "after": after})
