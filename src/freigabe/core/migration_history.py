"""What the ledger says about the schema: which migrations ran since a release was deployed. Pure.

Rolling back code does not roll back the schema. A release is *behind* the schema when runs that
deployed later releases applied migrations (`migrations.applied`, `migrations.failed` with
statements applied) and no database restore since put back a backup taken before them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Entry = dict[str, Any]


@dataclass
class Ahead:
    release: str  # the release the schema is ahead of
    migrations: list[str] = field(default_factory=list)
    breaking: list[dict[str, Any]] = field(default_factory=list)  # {migration, statement, sql}
    backup: str | None = None  # the earliest backup stamp taken before them (restores all of them)
    runs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.migrations or self.breaking)


def _stamp(ts: str) -> str:
    """`2026-01-02T03:04:05.678Z` → `20260102_030405`, comparable with backup stamps."""
    digits = re.sub(r"\D", "", ts)
    return f"{digits[:8]}_{digits[8:14]}"


def _restores(entries: list[Entry]) -> list[tuple[int, str]]:
    """(position, backup stamp) of every database restore that finished."""
    approved = {e["run"]: e["data"].get("backup") for e in entries if e.get("event") == "plan.approved"}
    return [
        (i, str(approved.get(e["run"])))
        for i, e in enumerate(entries)
        if e.get("event") == "step.finished"
        and e["data"].get("step") == "db.restore"
        and e["data"].get("outcome") == "ok"
        and approved.get(e.get("run"))
    ]


def schema_ahead_of(entries: list[Entry], release: str) -> Ahead:
    """Migrations applied after `release` was deployed (by runs for other releases), not undone."""
    ahead = Ahead(release)
    deployed = max(
        (
            i
            for i, e in enumerate(entries)
            if e.get("event") == "run.started"
            and e["data"].get("release") == release
            and e["data"].get("kind") == "deploy"
        ),
        default=-1,
    )
    restores = _restores(entries)
    for i, e in enumerate(entries):
        if i <= deployed or e.get("event") not in ("migrations.applied", "migrations.failed"):
            continue
        data = e["data"]
        if data.get("release") == release:
            continue
        backup = (data.get("backup") or {}).get("stamp")
        taken = backup or _stamp(str(e.get("ts", "")))
        if any(pos > i and stamp <= taken for pos, stamp in restores):
            continue  # a backup from before these migrations was restored since
        applied = list(data.get("migrations") or data.get("applied") or [])
        failed_midway = e["event"] == "migrations.failed" and data.get("migration")
        names = applied + ([f"{data['migration']} (partly)"] if failed_midway else [])
        if not names and not data.get("breaking"):
            continue
        ahead.migrations += [n for n in names if n not in ahead.migrations]
        ahead.breaking += list(data.get("breaking") or [])
        ahead.runs.append(str(e.get("run")))
        if backup and (ahead.backup is None or backup < ahead.backup):
            ahead.backup = backup
    return ahead


def describe(ahead: Ahead, env: str) -> str:
    """One warning: the schema is ahead of the code, which migrations, and the way back."""
    text = (
        f"the schema is ahead of {ahead.release}: {', '.join(ahead.migrations)} ran after it was deployed and "
        "stay applied (rolling back code does not roll back the schema)"
    )
    if not ahead.breaking:
        return text + "; they are additive, so it keeps working with them"
    statements = "; ".join(f"{b['migration']} #{b['statement']} `{b['sql']}`" for b in ahead.breaking[:3])
    text += f"; breaking for it: {statements}"
    if ahead.backup:
        return (
            text + f" — to undo them, restore the backup taken before: `freigabe restore {env} --backup "
            f"{ahead.backup}` (PROD-FIX FREIGEGEBEN; it puts back the whole database as it was then, "
            "rows written since included)"
        )
    return text + " — no database backup of those runs can undo them: repair the schema by hand"
