"""What is on a target: current release, releases with marks, lock, last runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from freigabe.config import LoadedConfig
from freigabe.usecases import lock
from freigabe.usecases.records import Recorder, actor, read_target_entries
from freigabe.usecases.targets import Target, open_target


@dataclass
class Status:
    environment: str
    deploy_path: str
    current: str | None
    releases: list[dict[str, Any]] = field(default_factory=list)
    lock: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


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


def status(loaded: LoadedConfig, env_name: str, runs: int = 5) -> Status:
    target = open_target(loaded, env_name)
    try:
        current = target.current()
        marks = read_marks(target)
        result = Status(env_name, target.env.deploy_path, current)
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
            result.lock = {
                **held.to_json(),
                "text": lock.describe(held),
                "stale": held.stale_reason(target.env.lock_stale_after),
            }
        finished = [e for e in read_target_entries(target.transport, target.layout) if e["event"] == "run.finished"]
        for entry in finished[-runs:][::-1]:
            result.runs.append({"run": entry["run"], "ts": entry["ts"], **entry["data"]})
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
