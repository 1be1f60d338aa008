"""assets.check: the Vite manifest is valid and every file it names is served, on the environment's origin."""

from __future__ import annotations

from freigabe.adapters import health
from freigabe.core.plan import Step
from freigabe.core.steps import AssetsCheck
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: AssetsCheck) -> Outcome:
    report = health.check_assets(args.data())
    details = {"manifest": report.manifest_url, "checked": report.checked}
    if report.ok:
        return Outcome(True, f"{plural(len(report.checked), 'asset')} served", details)
    return Outcome(False, report.problem, details)
