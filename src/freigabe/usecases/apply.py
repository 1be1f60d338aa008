"""Apply an approved plan: deploy, or a manual rollback. The only way steps reach a target."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from freigabe.adapters.bundle import BundleScan, scan_verified_bundle, verify_local_bundle
from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan
from freigabe.core.redact import Redactor
from freigabe.errors import ApprovalError, FreigabeError, UsageError
from freigabe.interrupts import InterruptGuard
from freigabe.usecases import evidence, lock
from freigabe.usecases.executor import Executor, QuietReporter, Reporter, RunResult
from freigabe.usecases.planning import (
    Aborted,
    check_phrase,
    claim_plan,
    refuse_if_ran,
    refuse_if_stale,
    refuse_no_go,
    scan_cache,
    secret_env_names,
)
from freigabe.usecases.records import Recorder, actor, note_refusal
from freigabe.usecases.targets import Target, open_target, state_dir

Ask = Callable[[Plan], str | None]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def redactor_for(plan: Plan) -> Redactor:
    names = secret_env_names(plan.steps + plan.rollback_steps)
    return Redactor([os.environ.get(name, "") for name in names])


def require_secrets(plan: Plan) -> None:
    for name in secret_env_names(plan.steps + plan.rollback_steps):
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
    target = open_target(loaded, plan.environment)
    try:
        with refusals_noted(loaded, plan):
            check_phrase(plan, phrase)
            refuse_no_go(plan)
            refuse_if_ran(target.transport, target.layout, plan)
            refuse_if_stale(plan, loaded, target.current(), prepared.sha256)
        with InterruptGuard():
            return _run_locked(loaded, prepared, target, reporter, sleep)
    finally:
        target.close()


@contextmanager
def refusals_noted(loaded: LoadedConfig, plan: Plan) -> Iterator[None]:
    try:
        yield
    except Aborted as exc:
        note_refusal(loaded.root, plan.environment, "plan.aborted", plan=plan.id, by=actor(), reason=exc.message)
        raise
    except ApprovalError as exc:
        note_refusal(loaded.root, plan.environment, "approval.refused", plan=plan.id, by=actor(), reason=exc.message)
        raise


def _run_locked(
    loaded: LoadedConfig,
    prepared: Prepared,
    target: Target,
    reporter: Reporter | None,
    sleep: Callable[[float], None] | None,
) -> RunResult:
    plan = prepared.plan
    run = new_run_id()
    redactor = redactor_for(plan)
    held = lock.acquire(
        target.transport, target.layout, plan.environment, run, plan.release, target.env.lock_stale_after
    )
    result: RunResult | None = None
    recorder: Recorder | None = None
    try:
        with refusals_noted(loaded, plan):  # again under the lock: another run may have finished meanwhile
            refuse_if_stale(plan, loaded, target.current(), prepared.sha256)
            claim_plan(target.transport, target.layout, plan, run)
        recorder = Recorder(target.transport, target.layout, loaded.root, plan.environment, run, redactor)
        recorder.record(
            "plan.approved",
            plan=plan.id,
            kind=plan.kind,
            phrase=plan.approval_phrase,
            by=actor(),
            release=plan.release,
        )
        executor = Executor(
            plan=plan,
            transport=target.transport,
            recorder=recorder,
            redactor=redactor,
            reporter=reporter or QuietReporter(),
            log_dir=state_dir(loaded) / "runs" / run,
            bundle_path=prepared.bundle_path,
            scan=prepared.scan,
            **({"sleep": sleep} if sleep else {}),
        )
        try:
            result = executor.execute()
        except FreigabeError:
            result = executor.result
            raise
        return result
    finally:
        lock.release(target.transport, target.layout, held)
        if recorder is not None and result is not None:
            evidence.write_run_evidence(loaded, plan.environment, run, recorder.entries)
