"""What is on a target: the live release (verified or not), releases with marks, the lock, the
last runs and refusals, and what needs attention with the command that resolves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freigabe.adapters.target import Target, open_target
from freigabe.config import LoadedConfig
from freigabe.core.layout import Layout
from freigabe.core.migration_history import describe, schema_ahead_of
from freigabe.core.plan import Plan, PlanInputs, Step
from freigabe.core.redact import REDACTOR
from freigabe.core.releases import is_leftover
from freigabe.core.runs import live_state
from freigabe.core.runs import runs as run_summaries
from freigabe.core.steps import LockClear
from freigabe.engine import lock
from freigabe.engine.session import recent_entries, run_plan
from freigabe.errors import LockHeld
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.refusals import read_refusals


@dataclass
class Status:
    environment: str
    deploy_path: str
    current: str | None
    releases: list[dict[str, Any]] = field(default_factory=list)
    lock: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, Any] = field(default_factory=dict)
    attention: list[dict[str, str]] = field(default_factory=list)  # what is wrong, and the command that resolves it
    deployed: bool = True  # False: freigabe never deployed here


def read_marks(target: Target) -> dict[str, dict[str, Any]]:
    return target.marks()


def list_releases(target: Target) -> list[str]:
    return target.releases()


def leftovers(target: Target) -> list[str]:
    """What crashed runs left: hidden partial releases, the switch's temporary links, temp files."""
    layout = target.layout
    folders = (layout.deploy_path, layout.releases, layout.state, layout.bundles)
    return [f"{f}/{n}" for f in folders for n in target.transport.listdir(f) if is_leftover(n, set())]


def status(loaded: LoadedConfig, env_name: str, runs: int = 8) -> Status:
    with open_target(loaded, env_name) as target:
        return host_status(loaded, target, runs)


def host_status(loaded: LoadedConfig, target: Target, runs: int = 8) -> Status:
    """One target's status (one host of a fleet: its commands name it with `--hosts`)."""
    env_name = target.name
    on = f" --hosts {target.host}" if target.host else ""
    current = target.current()
    marks = read_marks(target)
    entries = recent_entries(loaded, target, current, runs)
    result = Status(env_name, target.env.deploy_path, current, deployed=bool(entries) or current is not None)
    for name in sorted(list_releases(target), reverse=True):
        mark = marks.get(name, {})
        result.releases.append(
            {
                "release": name,
                "current": name == current,
                "mark": mark.get("mark", "unmarked"),
                "reason": mark.get("reason", ""),
            }
        )
    held, stale = lock.lock_state(target.transport, target.layout, target.env.lock_stale_after)
    if held:
        result.lock = {**held.to_json(), "text": lock.describe(held), "stale": stale}
        if stale:
            result.attention.append(
                {
                    "problem": f"the deploy lock looks abandoned ({stale})",
                    "command": f"freigabe unlock {env_name}{on}",
                }
            )
    state = live_state(entries, current)
    result.live = {"verified": state.verified, "known": state.known, "reason": state.reason, "run": state.run}
    if state.unverified:
        result.attention.append(
            {
                "problem": f"the live release {current} was never verified: {state.reason}",
                "command": f"freigabe recover {env_name}{on}",
            }
        )
    elif current is not None and marks.get(current, {}).get("mark") == "bad":
        why = marks[current].get("reason", "")
        result.attention.append(
            {
                "problem": f"the live release {current} is marked bad ({why})",
                "command": f"freigabe rollback {env_name}{on} --to RELEASE, or deploy a fix",
            }
        )
    ahead = schema_ahead_of(entries, current) if current else None
    if ahead and ahead.breaking and ahead.backup:  # the live code may fail on the schema it runs against
        result.attention.append(
            {
                "problem": describe(ahead, env_name).split(" — ")[0],
                "command": f"freigabe restore {env_name}{on} --backup {ahead.backup}",
            }
        )
    stray = leftovers(target)
    if stray and (held is None or stale):  # a dead run's lock: what it left is no one's
        result.attention.append(
            {"problem": f"crashed runs left {', '.join(stray)}", "command": f"freigabe cleanup {env_name}{on}"}
        )
    for summary in run_summaries(entries, runs):
        result.runs.append(
            {
                "run": summary.run,
                "ts": summary.ts,
                "kind": summary.kind,
                "outcome": summary.outcome,
                "label": summary.label,
                "release": summary.release,
                "reason": summary.reason,
            }
        )
    result.refusals = [
        {"ts": r["ts"], "event": r["event"], **r["data"]} for r in read_refusals(loaded, env_name)[-runs:]
    ][::-1]
    return result


def unlock(loaded: LoadedConfig, env_name: str) -> str | None:
    """Clear a lock left behind by a run that is gone, as a recorded step; a live owner's lock is
    refused. Returns the cleared lock's description, or None when there was none."""
    env = loaded.config.environment(env_name)
    with open_target(loaded, env_name) as target:
        held = lock.read_lock(target.transport, target.layout)
        current = target.current()
    if held is None:
        return None
    with open_target(loaded, env_name) as target:  # refused before anything is written
        state = lock.liveness(held, lock.read_heartbeat(target.transport, target.layout))
    if state.alive:
        raise LockHeld(
            f"the lock of {env_name} is {lock.describe(held)} and its owner is alive ({state.why}); it is not "
            "cleared — wait for that run to finish"
        )
    plan = Plan(
        kind="unlock",
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
                id="lock.clear",
                title=f"Clear the lock of run {held.run} (refused while its owner is alive)",
                action="lock.clear",
                args=LockClear(run=held.run, require_dead=True).data(),
                source="Lock",
            )
        ],
        rollback_steps=[],
    )
    with InterruptGuard():
        run_plan(loaded, plan, redactor=REDACTOR, take_lock=False)
    return lock.describe(held)


__all__ = ["Layout", "Status", "leftovers", "list_releases", "read_marks", "status", "unlock"]
