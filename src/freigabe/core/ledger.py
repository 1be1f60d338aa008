"""The ledger: append-only JSON lines, each carrying the hash of the one before.

An entry is `{seq, ts, env, run, event, data, prev, hash}`; `hash` is the SHA-256 of
the canonical JSON of every other field, `prev` the hash of the entry before (64 zeros
for the first). Editing an entry breaks its hash; removing or reordering entries breaks
`seq` and `prev`. Removing entries from the end is caught by comparing the target's
ledger with the local copy (see `compare_copies`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from freigabe.core.plan import canonical_json, sha256_text
from freigabe.core.words import plural

GENESIS = "0" * 64


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: dict[str, Any]) -> str:
    return sha256_text(canonical_json({k: v for k, v in entry.items() if k != "hash"}))


def make_entry(prev: dict[str, Any] | None, *, env: str, run: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": (prev["seq"] + 1) if prev else 1,
        "ts": utc_now(),
        "env": env,
        "run": run,
        "event": event,
        "data": data,
        "prev": prev["hash"] if prev else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    return entry


def serialize(entry: dict[str, Any]) -> str:
    return canonical_json(entry) + "\n"


def parse_lines(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries and the problems met while parsing (a line that is not JSON)."""
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number} is not JSON")
            continue
        if not isinstance(value, dict):
            problems.append(f"line {number} is not a ledger entry")
            continue
        entries.append(value)
    return entries, problems


@dataclass
class ChainReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(entries: Iterable[dict[str, Any]]) -> ChainReport:
    report = ChainReport()
    prev_hash = GENESIS
    expected_seq = 1
    for entry in entries:
        report.entries += 1
        seq = entry.get("seq")
        where = f"entry {report.entries} (seq {seq})"
        if entry.get("hash") != entry_hash(entry):
            report.problems.append(f"{where} was edited: its hash does not match its content")
        if seq != expected_seq:
            report.problems.append(
                f"{where} is out of order or entries before it were removed: expected seq {expected_seq}"
            )
        if entry.get("prev") != prev_hash:
            report.problems.append(f"{where} does not follow the entry before it: the chain is broken there")
        prev_hash = str(entry.get("hash"))
        expected_seq = (seq + 1) if isinstance(seq, int) else expected_seq + 1
    return report


def compare_copies(target: list[dict[str, Any]], local: list[dict[str, Any]]) -> list[str]:
    """The local copy mirrors the target's ledger; each must be a prefix of the other."""
    problems = []
    for index, (remote, mine) in enumerate(zip(target, local, strict=False), start=1):
        if remote.get("hash") != mine.get("hash"):
            problems.append(f"entry {index} differs between the target's ledger and the local copy")
            break
    if not problems and len(target) < len(local):
        problems.append(
            f"the target's ledger has {plural(len(target), 'entry', 'entries')} but the local copy has {len(local)}: "
            "entries were removed from the end of the target's ledger"
        )
    return problems
