"""What is on a target: current release, releases with marks, lock, last runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from freigabe.config import LoadedConfig
from freigabe.core.runs import live_state
from freigabe.core.runs import runs as run_summaries
from freigabe.usecases import lock
from freigabe.usecases.records import Recorder, actor, read_refusals, read_target_entries
from freigabe.usecases.targets import Target, open_target


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
    marks: dict[str, dict[str, Any]] = {}
    for name in target.transport.listdir(target.layout.marks):
        if name.endswith(".json"):
            try:
                data = json.loads(target.transport.read(f"{target.layout.marks}/{name}"))
            except ValueError:
                continue
            marks[name[: -len(".json")]] = data
    return marks


def list_releases(target: Target) -> list[str]:
    return [n for n in target.transport.listdir(target.layout.releases) if not n.startswith(".")]


def leftovers(target: Target) -> list[str]:
    """What crashed runs left: hidden partial releases under releases/."""
    return [n for n in target.transport.listdir(target.layout.releases) if n.startswith(".")]


def status(loaded: LoadedConfig, env_name: str, runs: int = 8) -> Status:
    target = open_target(loaded, env_name)
    try:
        current = target.current()
        marks = read_marks(target)
        entries = read_target_entries(target.transport, target.layout)
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
        held = lock.read_lock(target.transport, target.layout)
        if held:
            stale = held.stale_reason(target.env.lock_stale_after)
            result.lock = {**held.to_json(), "text": lock.describe(held), "stale": stale}
            if stale:
                result.attention.append(
                    {"problem": f"the deploy lock looks abandoned ({stale})", "command": f"freigabe unlock {env_name}"}
                )
        state = live_state(entries, current)
        result.live = {"verified": state.verified, "known": state.known, "reason": state.reason, "run": state.run}
        if state.unverified:
            result.attention.append(
                {
                    "problem": f"the live release {current} was never verified: {state.reason}",
                    "command": f"freigabe recover {env_name}",
                }
            )
        elif current is not None and marks.get(current, {}).get("mark") == "bad":
            why = marks[current].get("reason", "")
            result.attention.append(
                {
                    "problem": f"the live release {current} is marked bad ({why})",
                    "command": f"freigabe rollback {env_name} --to RELEASE, or deploy a fix",
                }
            )
        partial = leftovers(target)
        if partial and held is None:
            result.attention.append(
                {"problem": f"crashed runs left {', '.join(partial)}", "command": f"freigabe cleanup {env_name}"}
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
            {"ts": r["ts"], "event": r["event"], **r["data"]} for r in read_refusals(loaded.root, env_name)[-runs:]
        ][::-1]
        return result
    finally:
        target.close()


def unlock(loaded: LoadedConfig, env_name: str) -> str | None:
    """Clear a lock left behind (by a crash); record who cleared it. Returns its description."""
    from freigabe.core.redact import Redactor

    target = open_target(loaded, env_name)
    try:
        held = lock.read_lock(target.transport, target.layout)
        if held is None:
            return None
        target.transport.unlock(target.layout.lock)
        recorder = Recorder(target.transport, target.layout, loaded.root, env_name, f"unlock-{held.run}", Redactor())
        recorder.record("lock.cleared", lock=held.to_json(), by=actor())
        return lock.describe(held)
    finally:
        target.close()
