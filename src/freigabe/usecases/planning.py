"""Make, save, load and check plans. Making a plan reads the target and changes nothing."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from freigabe.adapters.bundle import BundleInfo, BundleScan, check_bundle
from freigabe.adapters.target import is_fleet, open_target
from freigabe.adapters.transport import Transport
from freigabe.adapters.transport.base import Claim
from freigabe.config import LoadedConfig
from freigabe.config.models import (
    DEFAULT_PHRASES,
    FIX_PHRASE,
    Config,
    DecisionPolicy,
    EnvironmentConfig,
    approval_phrase,
)
from freigabe.core import pipeline
from freigabe.core.environments import is_production
from freigabe.core.layout import Layout, release_name
from freigabe.core.names import ABORT_PHRASE
from freigabe.core.plan import BundleRef, Plan, PlanInputs, Step
from freigabe.core.steps import env_names_in
from freigabe.errors import ApprovalError, GateFailed, StalePlan, UsageError
from freigabe.usecases import migrations
from freigabe.usecases.audit import AuditResult, Gathered, gather_audit, judge_audit
from freigabe.usecases.background import Background, Stopped
from freigabe.usecases.placeholders import resolved_config


def bundle_ref(info: BundleInfo, scan: BundleScan, bundle_path: Path) -> BundleRef:
    """What a plan records of a verified, scanned bundle."""
    return BundleRef(
        name=info.name,
        sha256=info.sha256,
        size=info.size,
        path=str(bundle_path.resolve()),
        sha=info.sha,
        files=len(scan.files),
        unpacked_size=scan.total_size,
    )


def scan_cache(loaded: LoadedConfig) -> Path:
    return loaded.state_dir / "scans"


def secret_env_names(plan_steps: list[Step]) -> list[str]:
    """The environment variables whose values the plan's checks send (never the values)."""
    return env_names_in([step.args for step in plan_steps])


def layer1_check(loaded: LoadedConfig, scan: BundleScan, bundle_name: str) -> None:
    gates = loaded.config.gates
    missing = [f for f in gates.required_files if not scan.has(f)]
    missing += [f"{d}/" for d in gates.required_dirs if not scan.has_dir(d)]
    if missing:
        raise GateFailed(
            f"bundle {bundle_name} lacks {', '.join(missing)} (required by [gates]); "
            "fix the build and rebuild the bundle"
        )


def _warnings(loaded: LoadedConfig, env_name: str, plan_steps: list[Step], current: str | None) -> list[str]:
    import os

    env = loaded.config.environment(env_name)
    notes = []
    if current is None:
        notes.append("first deploy here: there is no earlier release to roll back to")
    if not env.health:
        notes.append("no health checks configured: a broken release would only be caught by the release probe")
    if env.readiness.probe is None:
        notes.append("no release probe: health cannot prove that the new release is the one answering")
    notes += [
        f"{name} is not set in this shell; the deploy will refuse to start without it"
        for name in secret_env_names(plan_steps)
        if not os.environ.get(name)
    ]
    return notes


@dataclass
class Planned:
    plan: Plan
    scan: BundleScan
    audit: AuditResult


@dataclass
class Live:
    """What a plan reads on a target while the bundle is checked here."""

    current: str | None
    config: Config  # with the values only the target knows filled in (placeholders)
    gathered: Gathered | None  # the audit's reading, judged once the bundle's size is known


def _read_target(
    loaded: LoadedConfig, env_name: str, audit: bool, sha: Callable[[], str | None]
) -> Callable[[Callable[[], None]], Live]:
    """One connection for everything the plan reads there: the release, the configuration, the audit."""

    def read(checkpoint: Callable[[], None]) -> Live:
        with open_target(loaded, env_name) as target:
            config = resolved_config(loaded, env_name, target.transport)
            checkpoint()
            if not audit:
                return Live(target.current(), config, None)
            gathered = gather_audit(loaded, env_name, sha=sha, target=target, checkpoint=checkpoint)
        return Live(gathered.current, config, gathered)

    return read


def _read_fleet(
    loaded: LoadedConfig, env_name: str, audit: bool, sha: Callable[[], str | None]
) -> Callable[[Callable[[], None]], Gathered | None]:
    def read(checkpoint: Callable[[], None]) -> Gathered | None:
        return gather_audit(loaded, env_name, sha=sha, checkpoint=checkpoint) if audit else None

    return read


def _checked_bundle(
    loaded: LoadedConfig, bundle_path: Path, commit: Future[str | None]
) -> tuple[BundleInfo, BundleScan]:
    """Verify the bundle's digest and scan every member (side by side, adapters.bundle.check_bundle),
    apply the bundle policy and [gates]. `commit` gets the commit the GitHub audit reads as soon
    as the digest matched, or Stopped if the bundle is refused."""

    def verified(info: BundleInfo) -> None:
        with suppress(InvalidStateError):
            commit.set_result(info.sha)

    try:
        info, scan = check_bundle(bundle_path, scan_cache(loaded), loaded.config.build.allow_secrets, verified)
    except BaseException:
        with suppress(InvalidStateError):
            commit.set_exception(Stopped("the bundle was refused"))
        raise
    layer1_check(loaded, scan, info.name)
    return info, scan


def make_deploy_plan(
    loaded: LoadedConfig,
    env_name: str,
    bundle_path: Path,
    now: datetime | None = None,
    audit: bool = True,
    hosts: list[str] | None = None,
    fleet: dict[str, Any] | None = None,
) -> Planned:
    """Verify and scan the bundle, read what is live, audit, decide, and lay out every step.
    A fleet's plan holds every host (`hosts`: only these, to catch them up; `fleet`: strategy,
    wave_size, on_unreachable chosen for this plan).

    The target is read beside the bundle check (usecases/background.py): the member scan here
    and the drift check there each hash every file. A refused bundle is reported as it would
    be alone (the reading stops); the target's error comes once the bundle passed. The disk
    space check is judged after both, with the bundle's size."""
    fleet_env = is_fleet(loaded, env_name)
    if (hosts or fleet) and not fleet_env:
        raise UsageError(f"--hosts, --strategy and --on-unreachable apply to fleets; {env_name} has one host")
    commit: Future[str | None] = Future()
    sha = commit.result
    if fleet_env:
        with Background(_read_fleet(loaded, env_name, audit, sha), f"plan {env_name}: the hosts") as hosts_read:
            info, scan = _checked_bundle(loaded, bundle_path, commit)
            gathered = hosts_read.result()
        # ---- fleets (issue 12): the same bundle checks, then one release for every host
        from freigabe.usecases.fleet_plan import deploy_plan

        when = now or datetime.now(UTC)
        made = deploy_plan(loaded, env_name, info, bundle_ref(info, scan, bundle_path), when, hosts, fleet or {})
        audited = (
            judge_audit(loaded, gathered, needs_bytes=info.size + scan.total_size)
            if gathered is not None
            else AuditResult(env_name)
        )
        notes = [
            w for w in _warnings(loaded, env_name, made.all_steps(), made.previous_release) if w not in made.warnings
        ]
        made = made.model_copy(update={"decision": audited.decision, "warnings": [*made.warnings, *notes]})
        return Planned(made, scan, audited)
    # ---- one host
    with Background(_read_target(loaded, env_name, audit, sha), f"plan {env_name}: the target") as target_read:
        info, scan = _checked_bundle(loaded, bundle_path, commit)
        live = target_read.result()
    current, config = live.current, live.config
    env = loaded.config.environment(env_name)
    when = now or datetime.now(UTC)
    release = release_name(when, info.sha)
    bundle = bundle_ref(info, scan, bundle_path)
    stamp = when.strftime("%Y%m%d_%H%M%S")
    # migrations in the plan (usecases/migrations.py): read in a pre-flight copy, judged, bound to the plan
    facts = (
        migrations.inspect(loaded, config, env_name, bundle, bundle_path, scan, current)
        if audit and migrations.inspected(config, env_name)
        else None
    )
    steps = pipeline.deploy_steps(config, env_name, bundle, release, stamp, current, facts)
    audited = (
        judge_audit(
            loaded,
            live.gathered,
            needs_bytes=info.size + scan.total_size,
            extra=migrations.findings(config, env_name, facts, stamp, current),
        )
        if live.gathered is not None
        else AuditResult(env_name)
    )
    if audit:
        migrations.remember(loaded, env_name, facts, stamp, current)
    plan = Plan(
        kind="deploy",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=release,
        previous_release=current,
        bundle=bundle,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=info.sha256, current_release=current),
        approval_phrase=approval_phrase(env_name, env),
        steps=steps,
        rollback_steps=pipeline.rollback_steps(config, env_name, release, current),
        warnings=_warnings(loaded, env_name, steps, current),
        decision=audited.decision,
        created_at=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return Planned(plan, scan, audited)


def rollback_phrase(env_name: str, env: EnvironmentConfig, policy: DecisionPolicy | None = None) -> str:
    return FIX_PHRASE if is_production(env_name, env, policy) else approval_phrase(env_name, env)


def make_rollback_plan(
    loaded: LoadedConfig, env_name: str, restore: str, current: str | None, config: Config | None = None
) -> Plan:
    """A manual rollback is a deploy of an existing release: switch, reload, verify; if the
    restored release does not answer healthy, switch back to what was live."""
    config = config or loaded.config
    env = config.environment(env_name)
    steps = pipeline.restore_steps(config, env_name, restore)
    return Plan(
        kind="rollback",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=restore,
        previous_release=current,
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=current),
        approval_phrase=rollback_phrase(env_name, env, config.policy),
        steps=steps,
        rollback_steps=pipeline.rollback_steps(config, env_name, None, current),
        warnings=[],
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def make_recover_plan(
    loaded: LoadedConfig, env_name: str, current: str, previous: str | None, config: Config | None = None
) -> Plan:
    """Prove an unverified live release answers (readiness, health, assets) and mark it good;
    if it does not, roll back to `previous` (the release live before it) and verify that."""
    config = config or loaded.config
    env = config.environment(env_name)
    return Plan(
        kind="recover",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=current,
        previous_release=previous,
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=current),
        approval_phrase=rollback_phrase(env_name, env, config.policy),
        steps=pipeline.recover_steps(config, env_name, current),
        rollback_steps=pipeline.rollback_steps(config, env_name, current, previous),
        warnings=[] if previous else [f"no verified release to go back to if {current} fails its checks"],
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


# ---------------------------------------------------------------- saving


def save_plan(loaded: LoadedConfig, plan: Plan) -> Path:
    folder = loaded.state_dir / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{plan.id}.json"
    path.write_text(json.dumps(plan.to_json(), indent=2), encoding="utf-8")
    return path


def load_plan(loaded: LoadedConfig, plan_id: str) -> Plan:
    folder = loaded.state_dir / "plans"
    wanted = plan_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", wanted):
        raise UsageError(
            f"plan id {plan_id!r} is not a plan id: give at least 8 hex characters of the id `freigabe plan` printed"
        )
    names = [p.name for p in folder.iterdir() if p.suffix == ".json"] if folder.is_dir() else []
    matches = sorted(folder / n for n in names if n.startswith(wanted))  # a prefix, never a file pattern
    if not matches:
        raise ApprovalError(
            f"no saved plan {plan_id} in {folder}; make one with `freigabe plan ENV --bundle B` "
            "and approve the id it prints"
        )
    if len(matches) > 1:
        raise UsageError(f"plan id {plan_id} is ambiguous; give more characters of it")
    return Plan.from_json(json.loads(matches[0].read_text(encoding="utf-8")))


# ---------------------------------------------------------------- checks


def stale_reasons(
    plan: Plan, loaded: LoadedConfig, current: str | None, bundle_sha256: str | None, host: str = ""
) -> list[str]:
    reasons = []
    if loaded.digest != plan.inputs.config_digest:
        reasons.append("freigabe.toml changed since the plan was made")
    if plan.inputs.bundle_sha256 is not None and bundle_sha256 != plan.inputs.bundle_sha256:
        reasons.append(
            f"the bundle changed (SHA-256 {plan.inputs.bundle_sha256[:12]}… → {(bundle_sha256 or 'missing')[:12]}…)"
        )
    if current != plan.inputs.current_release:
        on = f" on {host}" if host else ""
        reasons.append(f"the live release{on} changed ({plan.inputs.current_release or 'none'} → {current or 'none'})")
    return reasons


def replan_command(plan: Plan) -> str:
    """The command that makes a fresh plan of the same kind, as it can be typed."""
    env = plan.environment
    if plan.kind == "rollback":
        return f"freigabe rollback {env} --to {plan.release}"
    if plan.kind == "recover":
        return f"freigabe recover {env}"
    bundle = shlex.quote(plan.bundle.path) if plan.bundle else "PATH"
    return f"freigabe plan {env} --bundle {bundle}"


def refuse_if_stale(
    plan: Plan, loaded: LoadedConfig, current: str | None, bundle_sha256: str | None, host: str = ""
) -> None:
    reasons = stale_reasons(plan, loaded, current, bundle_sha256, host)
    if reasons:
        raise StalePlan(
            f"plan {plan.id[:12]} is stale: {'; '.join(reasons)}; make a new plan with "
            f"`{replan_command(plan)}` and approve that one"
        )


def refuse_no_go(plan: Plan) -> None:
    """A NO-GO plan cannot be approved; no flag skips this."""
    if plan.decision is not None and plan.decision.verdict == "NO-GO":
        raise ApprovalError(
            f"plan {plan.id[:12]} has the decision NO-GO (blocking: {', '.join(plan.decision.blocking)}); "
            f"fix those findings, then make a new plan with `{replan_command(plan)}`"
        )


def plan_marker(layout: Layout, plan: Plan) -> str:
    return f"{layout.state}/plans/{plan.id}.ran"


def refuse_if_ran(transport: Transport, layout: Layout, plan: Plan) -> None:
    """A plan runs once: its approval is spent by the run it started, whatever the outcome."""
    marker = plan_marker(layout, plan)
    if transport.exists(marker):
        try:
            ran = json.loads(transport.read(marker))
        except ValueError:
            ran = {}
        raise ApprovalError(
            f"plan {plan.id[:12]} already ran (run {ran.get('run', '?')} at {ran.get('at', '?')}); a plan runs "
            f"once, whatever its outcome — make a new plan with `{replan_command(plan)}` and approve that one"
        )


def claim_plan(transport: Transport, layout: Layout, plan: Plan, run: str) -> None:
    """Spend the plan's approval on this run, atomically (two runs of one plan: one wins)."""
    claim = plan_claim(layout, plan, run, None)
    transport.mkdir(f"{layout.state}/plans")
    if not transport.lock(claim.path, claim.content.encode()):
        refuse_if_ran(transport, layout, plan)


def plan_claim(layout: Layout, plan: Plan, run: str, live: str | None) -> Claim:
    """The plan's marker, made as the run takes the lock if `live` still serves (then the plan is
    not stale there: everything else stale_reasons looks at is local and was checked before)."""
    data = json.dumps({"plan": plan.id, "run": run, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    return Claim(plan_marker(layout, plan), data, live)


class Aborted(ApprovalError):
    """The person answered ABBRECHEN."""


class Approvable(Protocol):
    """What an approval phrase is checked against: a deploy plan, an E2E plan."""

    @property
    def kind(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def approval_phrase(self) -> str: ...
    @property
    def id(self) -> str: ...


def check_phrase(plan: Approvable, phrase: str) -> None:
    given = " ".join(phrase.split())
    if given.upper() == ABORT_PHRASE:
        raise Aborted(f"{ABORT_PHRASE}: the {plan.kind} to {plan.environment} was cancelled and nothing was changed")
    if given == plan.approval_phrase:
        return
    known = {*DEFAULT_PHRASES.values(), FIX_PHRASE}
    if given in known:
        raise ApprovalError(
            f"{given!r} does not approve this plan: plan {plan.id[:12]} ({plan.kind} to "
            f"{plan.environment}) needs {plan.approval_phrase!r}"
        )
    raise ApprovalError(
        f"the approval phrase is wrong; to approve plan {plan.id[:12]} type exactly "
        f"{plan.approval_phrase!r} (or {ABORT_PHRASE} to cancel)"
    )


def require_fix_phrase(phrase: str, action: str) -> None:
    """`PROD-FIX FREIGEGEBEN` approves fixes and restores; nothing else does."""
    if " ".join(phrase.split()) != FIX_PHRASE:
        raise ApprovalError(f"a {action} needs the phrase {FIX_PHRASE!r}")


def id_matches(given: str, actual: str) -> bool:
    """An approved id may be given shortened, but to at least 8 characters."""
    wanted = given.strip().lower()
    return len(wanted) >= 8 and actual.startswith(wanted)
