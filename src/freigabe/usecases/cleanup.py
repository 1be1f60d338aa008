"""`freigabe cleanup ENV`: release retention and crash leftovers, as a plan run by the executor."""

from __future__ import annotations

from freigabe.adapters.target import open_target
from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan, PlanInputs, Step
from freigabe.core.redact import REDACTOR
from freigabe.core.releases import is_leftover, previous_good, select_for_removal
from freigabe.core.steps import Cleanup
from freigabe.engine.session import run_plan
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.status import list_releases, read_marks


def cleanup(loaded: LoadedConfig, env_name: str, dry_run: bool = False) -> tuple[list[str], list[str]]:
    """(releases removed or that would be, crash leftovers found)."""
    with open_target(loaded, env_name) as target:
        releases = list_releases(target)
        current = target.current()
        marks = {k: v.get("mark", "") for k, v in read_marks(target).items()}
        stray = [n for n in target.transport.listdir(target.layout.releases) if is_leftover(n, set())]
        stray += [n for n in target.transport.listdir(target.layout.deploy_path) if is_leftover(n, set())]
        env = target.env
    protected = {current, previous_good(releases, marks, current)}
    doomed = select_for_removal(releases, keep=env.keep_releases, protected=protected)
    if dry_run or not (doomed or stray):
        return doomed, stray
    plan = Plan(
        kind="cleanup",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=current or "",
        previous_release=current,
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=current),
        approval_phrase="",
        steps=[
            Step(
                id="cleanup",
                title=f"Remove {', '.join(doomed) or 'no old releases'} and the leftovers of crashed runs",
                action="cleanup",
                args=Cleanup(keep=env.keep_releases, remove=doomed, protect=[r for r in protected if r]).data(),
                source="Retention",
            )
        ],
        rollback_steps=[],
    )
    with InterruptGuard():
        result = run_plan(loaded, plan, redactor=REDACTOR)
    details = result.steps[-1][1].details if result.steps else {}
    return list(details.get("removed", [])), list(details.get("leftovers", []))
