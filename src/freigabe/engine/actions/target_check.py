"""target.check: the target is reachable and writable, with room for the release."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import TargetCheck
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import TargetError


def run(ctx: RunContext, step: Step, args: TargetCheck) -> Outcome:
    t, layout = ctx.t, ctx.layout
    for path in (args.deploy_path, layout.releases, layout.shared, layout.state):
        t.mkdir(path)
    probe = f"{layout.state}/.write-test"
    t.write(probe, b"ok")
    t.remove(probe)
    free = t.disk_free(args.deploy_path)
    if free < args.needs_bytes:
        raise TargetError(
            f"only {free // 2**20} MiB free at {args.deploy_path} but the release needs about "
            f"{args.needs_bytes // 2**20} MiB; free space there and deploy again"
        )
    return Outcome(True, f"writable, {free // 2**20} MiB free", {"free_bytes": free})
