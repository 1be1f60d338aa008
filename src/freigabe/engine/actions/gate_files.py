"""gate.files: the required files and directories are in the release (layers 2 and 3)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import GateFiles
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import GateFailed


def run(ctx: RunContext, step: Step, args: GateFiles) -> Outcome:
    t, root = ctx.t, args.root
    seen = t.kinds([f"{root}/{p}" for p in [*args.files, *args.dirs]])  # all in one look
    missing = [f for f in args.files if seen[f"{root}/{f}"].kind in ("none", "dir")]
    missing += [f"{d}/" for d in args.dirs if seen[f"{root}/{d}"].kind != "dir"]
    checks = len(args.files) + len(args.dirs)
    if missing:
        raise GateFailed(f"gate failed: the release lacks {', '.join(missing)}")
    return Outcome(True, f"{checks}/{checks} passed", {"passed": checks})
