"""wait.ready: poll the release probe until the release that should answer is the one answering."""

from __future__ import annotations

import time

from freigabe.adapters import health
from freigabe.core.plan import Step
from freigabe.core.steps import WaitReady
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: WaitReady) -> Outcome:
    started = time.monotonic()
    probe = args.probe
    if probe is None:  # nothing can prove which release answers: only a fixed wait is left
        if args.grace:
            ctx.sleep(args.grace)
        return Outcome(True, f"waited {args.grace:g} s (no release probe configured)")
    want = args.expect_release
    deadline = started + args.timeout
    seen, detail, polls, missing_since = None, "", 0, None
    while True:
        polls += 1
        seen, detail = health.probe_release(probe.data(), timeout=min(5.0, args.timeout))
        now = time.monotonic()
        if seen == want:
            return Outcome(
                True,
                f"{want} answers after {now - started:.2f} s",
                {"release": seen, "seconds_to_ready": round(now - started, 3), "polls": polls},
            )
        # A release has its probe file or not: a 404 does not go away by waiting.
        missing_since = (missing_since or now) if detail == "HTTP 404" else None
        if missing_since is not None and now - missing_since >= args.missing_after:
            return Outcome(
                False,
                f"{want} is not answering: {probe.url} answers HTTP 404 (the release that answers has no "
                f"release probe; it is broken or not the one deployed)",
                {"last_seen": None, "polls": polls, "status": 404},
            )
        if now >= deadline:
            break
        ctx.sleep(args.interval)
    answered = f"{seen} answered" if seen else f"the probe got {detail}"
    return Outcome(
        False,
        f"{want} was not answering after {args.timeout:g} s ({answered} at {probe.url})",
        {"last_seen": seen, "polls": polls},
    )
