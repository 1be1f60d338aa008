"""backup.verify: a backup matches its SHA256SUMS on the target, before anything is restored from it."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import BackupVerify
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import StepFailed


def run(ctx: RunContext, step: Step, args: BackupVerify) -> Outcome:
    check = ctx.t.run(["sh", "-c", 'cd "$1" && sha256sum --quiet -c SHA256SUMS', "sh", args.folder], timeout=600)
    if not check.ok:
        raise StepFailed(
            f"backup {args.folder} does not match its SHA256SUMS ({ctx.redactor.text(check.tail(1))}); "
            "nothing was restored"
        )
    return Outcome(True, f"{args.folder} matches its SHA256SUMS")
