"""Promotion: deploy to an environment the exact bundle live on its source environment,
once that has been healthy for `stable_for` (from the ledger and a fresh health check)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freigabe.adapters.bundle import file_sha256
from freigabe.adapters.health import run_health_check
from freigabe.adapters.target import is_fleet, open_target
from freigabe.config import LoadedConfig
from freigabe.core.pipeline import health_step_args
from freigabe.core.plan import Plan
from freigabe.engine.session import target_entries
from freigabe.errors import ApprovalError, BundleError, UsageError
from freigabe.usecases.audit import AuditResult
from freigabe.usecases.planning import Planned, load_plan, make_deploy_plan, save_plan
from freigabe.usecases.status import read_marks


@dataclass(frozen=True)
class Stability:
    source: str
    release: str
    since: str  # ISO time from which the release has been live and verified
    seconds: float
    bundle: dict[str, Any]


def _parse_ts(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def live_since(entries: list[dict[str, Any]], release: str) -> str | None:
    """When `release` last became live *and verified*: the end of the deploy that made it
    live, or the verified rollback to it. Any later switch resets the clock."""
    since = None
    pending: dict[str, str] = {}  # run → release it switched to
    for entry in entries:
        data, run = entry["data"], entry["run"]
        if entry["event"] == "switch":
            pending[run] = data.get("release")
            since = None
        elif entry["event"] == "run.finished" and data.get("outcome") == "deployed":
            if pending.get(run) == release:
                since = entry["ts"]
        elif entry["event"] == "rollback.verified" and data.get("restored") == release:
            since = entry["ts"]
    return since


def bundle_of(entries: list[dict[str, Any]], release: str) -> dict[str, Any] | None:
    for entry in reversed(entries):
        data = entry["data"]
        if entry["event"] == "run.started" and data.get("release") == release and data.get("bundle"):
            bundle: dict[str, Any] = data["bundle"]
            return bundle
    return None


def check_stability(loaded: LoadedConfig, env_name: str, now: float | None = None) -> Stability:
    env = loaded.config.environment(env_name)
    if env.promotion is None:
        raise UsageError(
            f"environment {env_name} has no [environments.{env_name}.promotion] rule; "
            "add requires_stable_in and stable_for, or use `freigabe deploy`"
        )
    source_name = env.promotion.requires_stable_in
    current: str | None
    if is_fleet(loaded, source_name):  # a fleet is stable when every host is (issue 12)
        current, since, bundle = _fleet_source(loaded, source_name)
    else:
        with open_target(loaded, source_name) as source:
            current = source.current()
            entries = target_entries(loaded, source)
            mark = read_marks(source).get(current or "", {}).get("mark")
        if current is None:
            raise ApprovalError(f"NO-GO: nothing is live on {source_name}; deploy there first")
        if mark != "good":
            raise ApprovalError(f"NO-GO: {current} on {source_name} is not marked good ({mark or 'unmarked'})")
        since = live_since(entries, current)
        bundle = bundle_of(entries, current)
    if since is None or bundle is None:
        raise ApprovalError(
            f"NO-GO: the ledger of {source_name} does not show {current} going live "
            "verified through freigabe; deploy it there with freigabe first"
        )
    age = (now or time.time()) - _parse_ts(since)
    need = env.promotion.stable_for
    if age < need:
        raise ApprovalError(
            f"NO-GO: {current} has been stable on {source_name} for {age:.0f} s of the required "
            f"{need:.0f} s; promote again after {need - age:.0f} s"
        )
    source_env = loaded.config.environment(source_name)
    for check in source_env.health:
        result = run_health_check(health_step_args(source_env, check))
        if not result.ok:
            raise ApprovalError(
                f"NO-GO: {source_name} is unhealthy right now ({check.name}: "
                f"{result.reason}); production stays as it is"
            )
    return Stability(source_name, current, since, age, bundle)


def _fleet_source(loaded: LoadedConfig, source_name: str) -> tuple[str, str | None, dict[str, Any] | None]:
    """The release every host of the source fleet serves, marked good, and since when all of them have
    served it verified (the latest host counts); refused when a host is unreachable or drifted."""
    from freigabe.usecases.fleet import read_fleet

    fleet = read_fleet(loaded, source_name)
    if fleet.unreachable:
        name, why = next(iter(fleet.unreachable.items()))
        raise ApprovalError(f"NO-GO: host {name} of {source_name} cannot be reached ({why}); its state is unknown")
    current = fleet.release
    if current is None:
        raise ApprovalError(f"NO-GO: nothing is live on {source_name}; deploy there first")
    if fleet.drift:
        listed = ", ".join(f"{n} serves {c or 'nothing'}" for n, c in fleet.drift.items())
        raise ApprovalError(f"NO-GO: the hosts of {source_name} drifted ({listed}); bring them in line first")
    sinces: list[str | None] = []
    bundle = None
    for name, host in fleet.hosts.items():
        mark = (host.marks.get(current) or {}).get("mark")
        if mark != "good":
            raise ApprovalError(
                f"NO-GO: {current} on {source_name} host {name} is not marked good ({mark or 'unmarked'})"
            )
        sinces.append(live_since(host.entries, current))
        bundle = bundle or bundle_of(host.entries, current)
    since = None if any(s is None for s in sinces) else max(s for s in sinces if s)
    return current, since, bundle


def find_bundle(loaded: LoadedConfig, bundle: dict[str, Any]) -> Path:
    path: Path = (loaded.root / loaded.config.build.output_dir / str(bundle["name"])).resolve()
    if not path.is_file():
        raise BundleError(
            f"bundle {bundle['name']} (live on the source environment) is not in "
            f"{path.parent}; copy it there to promote the exact bytes"
        )
    if file_sha256(path) != bundle["sha256"]:
        raise BundleError(
            f"{path} does not have the SHA-256 of the bundle live on the source "
            "environment; promotion needs the exact same bytes"
        )
    return path


def plan_promotion(loaded: LoadedConfig, env_name: str) -> tuple[Planned, Stability]:
    stable = check_stability(loaded, env_name)
    return make_deploy_plan(loaded, env_name, find_bundle(loaded, stable.bundle)), stable


@dataclass
class Promotion:
    plan: Plan
    bundle: Path
    stable: Stability
    audit: AuditResult | None  # None when an approved plan was loaded (it carries its decision)


def prepare_promotion(loaded: LoadedConfig, env_name: str, plan_id: str | None) -> Promotion:
    """A new promotion plan, or the approved one checked again: the source must still be stable
    and still serve the bundle the plan deploys."""
    if plan_id is None:
        planned, stable = plan_promotion(loaded, env_name)
        save_plan(loaded, planned.plan)
        return Promotion(planned.plan, find_bundle(loaded, stable.bundle), stable, planned.audit)
    made = load_plan(loaded, plan_id)
    stable = check_stability(loaded, env_name)  # again: the source may have changed since
    if made.environment != env_name or made.inputs.bundle_sha256 != stable.bundle["sha256"]:
        raise UsageError(
            f"plan {made.id[:12]} does not deploy the bundle live on {stable.source} to {env_name}; "
            f"make a new one with `freigabe promote {env_name}`"
        )
    return Promotion(made, find_bundle(loaded, stable.bundle), stable, None)
