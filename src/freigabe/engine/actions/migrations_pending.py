"""migrations.pending: the migrations the bundle would run against the target's database (read-only)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import MigrationsPending
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: MigrationsPending) -> Outcome:
    result = ctx.t.run(args.argv, cwd=args.cwd, timeout=args.timeout)
    if not result.ok:
        tail = ctx.redactor.text(result.tail(1))
        return Outcome(False, f"`{' '.join(args.argv)}` exit {result.returncode}: {tail}")
    pending = [ln.strip() for ln in ctx.redactor.text(result.output).splitlines() if "pending" in ln.lower()]
    summary = f"{len(pending)} pending" + (f": {'; '.join(pending[:5])}" if pending else "")
    return Outcome(True, summary, {"pending": pending})
