"""db.restore: a verified database dump fed to the restore command (`freigabe restore`)."""

from __future__ import annotations

import shlex

from freigabe.core.plan import Step
from freigabe.core.steps import DbRestore
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: DbRestore) -> Outcome:
    command = f"{shlex.join(args.argv)} < {shlex.quote(args.dump)}"
    result = ctx.t.run(["sh", "-c", command], timeout=args.timeout)
    ctx.log(step).write_text(ctx.redactor.text(result.output), encoding="utf-8")
    if not result.ok:
        return Outcome(
            False, f"restoring the database failed (exit {result.returncode}: {ctx.redactor.text(result.tail(1))})"
        )
    return Outcome(True, f"database restored from {args.dump}")
