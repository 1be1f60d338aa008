"""The local copy of an environment's ledger: a witness, only ever extended.

Beside the entries (`.freigabe/ledger/<env>.jsonl`) a head file remembers the last entry the
witness holds and where its line sits in the target's file, so a run reads only what the
target gained since (other machines' runs) instead of the whole history. The witness is never
rewritten from the target: when they disagree, the run stops (exit 10) and says where.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freigabe.core import ledger


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    offset: int  # where the entry's line starts in the target's file
    size: int  # the target file's size right after that line


class Witness:
    def __init__(self, root: Path, env: str) -> None:
        """`env` names the copy: the environment, or `<env>/<host>` for one host of a fleet."""
        self.path = root / ".freigabe" / "ledger" / f"{env}.jsonl"
        self.head_path = self.path.with_suffix(".head.json")

    def exists(self) -> bool:
        return self.path.is_file()

    def head(self) -> Head | None:
        try:
            data = json.loads(self.head_path.read_text(encoding="utf-8"))
            return Head(int(data["seq"]), str(data["hash"]), int(data["offset"]), int(data["size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        found, _ = ledger.parse_lines(self.path.read_text(encoding="utf-8"))
        return found

    def digest(self) -> tuple[int, str]:
        """(bytes, SHA-256) of the witnessed entries: what the target's ledger must start with."""
        digest = hashlib.sha256()
        size = 0
        if self.path.is_file():
            with self.path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
        return size, digest.hexdigest()

    def tail(self, enough: Callable[[list[dict[str, Any]]], bool], chunk: int = 1 << 18) -> list[dict[str, Any]]:
        """The newest entries, read backwards from the end in growing chunks until `enough` says
        they suffice (or the file is read whole): what `status` and the audit need, whatever the
        history's length."""
        if not self.path.is_file():
            return []
        with self.path.open("rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            start = end
            while True:
                start = max(0, start - chunk)
                fh.seek(start)
                data = fh.read(end - start)
                if start > 0:
                    data = data[data.index(b"\n") + 1 :] if b"\n" in data else b""
                entries, _ = ledger.parse_lines(data.decode("utf-8"))
                if start == 0 or enough(entries):
                    return entries
                chunk *= 2

    def with_events(self, events: set[str]) -> list[dict[str, Any]]:
        """Every entry of the given (rare) kinds, found by their canonical text before any line is parsed."""
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        starts: set[int] = set()
        for needle in (f'"event":"{event}"'.encode() for event in events):
            at = data.find(needle)
            while at != -1:
                starts.add(data.rfind(b"\n", 0, at) + 1)
                at = data.find(needle, at + 1)
        lines = []
        for start in sorted(starts):
            end = data.find(b"\n", start)
            lines.append(data[start:] if end == -1 else data[start:end])
        entries, _ = ledger.parse_lines(b"\n".join(lines).decode("utf-8"))
        return [e for e in entries if e.get("event") in events]

    def last(self) -> dict[str, Any] | None:
        """The newest entry, read from the end of the file."""
        if not self.path.is_file():
            return None
        with self.path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read().splitlines()
        for line in reversed(tail):
            if line.strip():
                entry: dict[str, Any] = json.loads(line)
                return entry
        return None

    def extend(self, entries: list[dict[str, Any]], head: Head) -> None:
        """Append entries the target now holds, then move the head (an append, never a rewrite)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if entries:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(ledger.serialize(e) for e in entries))
                fh.flush()
                os.fsync(fh.fileno())
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(head.__dict__), encoding="utf-8")
        tmp.replace(self.head_path)
