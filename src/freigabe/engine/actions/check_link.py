"""check.link: a path in the release is a link into shared/ (the pre-flight's .env check)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import CheckLink
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import GateFailed


def run(ctx: RunContext, step: Step, args: CheckLink) -> Outcome:
    link = ctx.t.readlink(args.path)
    if link is None or not link.startswith(args.into):
        raise GateFailed(f"{args.path} is not a link into {args.into} ({link or 'not a link'})")
    return Outcome(True, f"→ {link}")
