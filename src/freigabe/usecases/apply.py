"""Apply an approved plan (deploy, promote, rollback, recover): check the approval, then run it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freigabe.adapters.bundle import BundleScan, scan_verified_bundle, verify_local_bundle
from freigabe.adapters.identity import actor
from freigabe.adapters.target import Opened, Target, close_all, open_target, open_targets
from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan
from freigabe.core.redact import REDACTOR, Redactor
from freigabe.engine.outcome import Reporter, RunResult
from freigabe.engine.session import Session, new_run_id, run_plan
from freigabe.errors import ApprovalError, StalePlan, UsageError
from freigabe.interrupts import InterruptGuard
from freigabe.usecases import evidence
from freigabe.usecases.migrations import schema_noted
from freigabe.usecases.planning import (
    check_phrase,
    claim_plan,
    plan_claim,
    plan_marker,
    refuse_if_ran,
    refuse_if_stale,
    refuse_no_go,
    replan_command,
    scan_cache,
    secret_env_names,
)
from freigabe.usecases.refusals import refusals_noted

Ask = Callable[[Plan], str | None]


def open_hosts(loaded: LoadedConfig, plan: Plan) -> dict[str, Opened]:
    """A connection to every host of the plan (a fleet's in parallel). The only target must answer;
    a fleet host that cannot be reached maps to its error, left to the run's failure policy."""
    if plan.fleet is None:
        return {"": open_target(loaded, plan.environment)}
    from freigabe.adapters.inventory import environment_hosts

    hosts = [h.name for h in plan.host_plans()]
    known = {h.name: h for h in environment_hosts(loaded, plan.environment)}
    missing = [name for name in hosts if name not in known]
    if missing:
        raise StalePlan(
            f"plan {plan.id[:12]} is stale: the fleet changed ({', '.join(missing)} no longer a host of "
            f"{plan.environment}); make a new plan with `{replan_command(plan)}` and approve that one"
        )
    return open_targets(loaded, plan.environment, [known[n] for n in hosts])


def check_hosts(loaded: LoadedConfig, plan: Plan, opened: dict[str, Opened], sha256: str | None) -> None:
    """The plan has not run, and is not stale, on any host it reaches (read-only, one look each)."""
    hosts = {h.name: h for h in plan.host_plans()}
    for name, target in opened.items():
        if not isinstance(target, Target):
            continue
        layout = target.layout
        marker = plan_marker(layout, plan)
        seen = target.transport.kinds([marker, layout.current])
        if seen[marker].kind != "none":
            refuse_if_ran(target.transport, layout, plan)
        view = plan.for_host(hosts[name]) if plan.fleet is not None else plan
        refuse_if_stale(view, loaded, layout.release_of(seen[layout.current].link), sha256, host=name)


def redactor_for(plan: Plan) -> Redactor:
    """The process's one redactor, told the values of every secret the plan's checks send."""
    names = secret_env_names(plan.all_steps())
    return REDACTOR.extend([os.environ.get(name, "") for name in names])


def require_secrets(plan: Plan) -> None:
    for name in secret_env_names(plan.all_steps()):
        if not os.environ.get(name):
            raise UsageError(
                f"environment variable {name} is not set; the health checks of {plan.environment} "
                "need it — export it (the value must match the target's .env) and run again"
            )


@dataclass
class Prepared:
    plan: Plan
    bundle_path: Path | None
    scan: BundleScan | None
    sha256: str | None = None  # of the local bundle, verified just now


def prepare_bundle(loaded: LoadedConfig, plan: Plan, bundle: Path | None = None) -> Prepared:
    """Verify the bundle again (digest, members, bundle policy) before anything is written on
    the target. The plan's scan of the same SHA-256 is reused, not repeated."""
    if plan.bundle is None:
        return Prepared(plan, None, None)
    path = bundle or Path(plan.bundle.path)
    info = verify_local_bundle(path)
    scan = scan_verified_bundle(path, info.sha256, scan_cache(loaded), loaded.config.build.allow_secrets)
    return Prepared(plan, path, scan, info.sha256)


def apply_plan(
    loaded: LoadedConfig,
    prepared: Prepared,
    *,
    phrase: str | None,
    ask: Ask | None = None,
    reporter: Reporter | None = None,
    sleep: Callable[[float], None] | None = None,
) -> RunResult:
    """Check the approval, then run the plan under the lock. A refused approval writes nothing
    on the target (it is noted in the local refusal log); a plan runs once."""
    plan = prepared.plan
    require_secrets(plan)
    with refusals_noted(loaded, plan):
        refuse_no_go(plan)  # before any phrase is asked for: a NO-GO plan is never offered for approval
    if phrase is None and ask is not None:
        phrase = ask(plan)
    if phrase is None:
        raise ApprovalError(
            f"{plan.kind} to {plan.environment} needs an approval: type the phrase when asked, "
            f"or pass --plan {plan.id[:12]} --approve '{plan.approval_phrase}'"
        )
    opened = open_hosts(loaded, plan)  # one connection per host for the checks and the run
    try:
        with refusals_noted(loaded, plan):  # read-only checks: a refusal writes nothing on any host
            check_phrase(plan, phrase)
            check_hosts(loaded, plan, opened, prepared.sha256)
        reachable = {name: t for name, t in opened.items() if isinstance(t, Target)}
        return _run(loaded, prepared, reachable, reporter, sleep)
    finally:
        close_all(opened)


def _run(
    loaded: LoadedConfig,
    prepared: Prepared,
    targets: dict[str, Target],
    reporter: Reporter | None,
    sleep: Callable[[float], None] | None,
) -> RunResult:
    plan = prepared.plan
    run = new_run_id()

    def approved(s: Session, view: Plan) -> None:
        with refusals_noted(loaded, plan):  # again under the lock: another run may have finished meanwhile
            refuse_if_stale(view, loaded, s.current(), prepared.sha256, host=s.target.host)
            if s.claimed is False:  # the lock's look found the plan spent
                refuse_if_ran(s.target.transport, s.target.layout, plan)
            if s.claimed is None:
                claim_plan(s.target.transport, s.target.layout, plan, run)
        s.recorder.record(
            "plan.approved", plan=plan.id, kind=plan.kind, phrase=plan.approval_phrase, by=actor(), release=plan.release
        )

    seen: list[dict[str, Any]] = []  # this run's entries on every host (the migrate host's name the schema)

    def finished(result: RunResult, entries: dict[str, list[dict[str, Any]]]) -> None:
        seen[:] = [e for host_entries in entries.values() for e in host_entries]
        evidence.write_run_evidence(loaded, plan.environment, run, entries)

    with InterruptGuard(), schema_noted(plan, seen):
        return run_plan(
            loaded,
            plan,
            redactor=redactor_for(plan),
            run=run,
            reporter=reporter,
            bundle_path=prepared.bundle_path,
            scan=prepared.scan,
            sleep=sleep,
            under_lock=approved,
            finished=finished,
            targets=targets,
            claim=lambda layout, view: plan_claim(layout, plan, run, view.inputs.current_release),
        )
