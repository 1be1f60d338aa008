"""files.restore: shared/ put back from a verified app archive (`freigabe restore --files`)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import FilesRestore
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: FilesRestore) -> Outcome:
    result = ctx.t.run(["tar", "-xzf", args.archive, "-C", args.dest, args.member], timeout=args.timeout)
    if not result.ok:
        return Outcome(False, f"restoring {args.member} failed (tar exit {result.returncode}: {result.tail(1)})")
    return Outcome(True, f"{args.member} restored from {args.archive}")
