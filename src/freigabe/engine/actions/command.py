"""command: one argv on the target (a gate, a migration, a cache or reload command), its output streamed."""

from __future__ import annotations

from freigabe.core.output import headline
from freigabe.core.plan import Step
from freigabe.core.steps import Command
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: Command) -> Outcome:
    log = ctx.log(step)
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(args.argv)}\n")

        def sink(line: str) -> None:
            clean = ctx.redactor.text(line)
            fh.write(clean + "\n")
            ctx.reporter.output(step, clean)

        result = ctx.t.run(
            args.argv,
            cwd=args.cwd,
            timeout=args.timeout,
            env={"FREIGABE_ENV": ctx.plan.environment, "FREIGABE_RELEASE": ctx.plan.release, "FREIGABE_RUN": ctx.run},
            on_line=sink,
        )
    details = {"exit": result.returncode, "tail": ctx.redactor.text(result.tail(5)), "log": str(log)}
    if result.ok:
        return Outcome(True, f"exit 0 in {result.seconds:.1f} s", details)
    said = ctx.redactor.text(headline(result.output)) or "no output"
    what = "timed out" if result.timed_out else f"exit {result.returncode}"
    return Outcome(False, f"`{' '.join(args.argv)}` {what}: {said}", details)
