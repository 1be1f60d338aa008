"""The ledger on a target and its local mirror, written through the transport."""

from __future__ import annotations

import getpass
import json
import os
import socket
from pathlib import Path
from typing import Any

from freigabe.adapters.transport import Transport
from freigabe.core import ledger
from freigabe.core.layout import Layout
from freigabe.core.redact import Redactor
from freigabe.errors import LedgerError
from freigabe.interrupts import critical


def actor() -> str:
    """Who is acting: FREIGABE_ACTOR, else the GitHub actor, else user@host."""
    for name in ("FREIGABE_ACTOR", "GITHUB_ACTOR"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def local_ledger_path(root: Path, env: str) -> Path:
    return root / ".freigabe" / "ledger" / f"{env}.jsonl"


def refusal_log_path(root: Path, env: str) -> Path:
    return root / ".freigabe" / "refusals" / f"{env}.jsonl"


def note_refusal(root: Path, env: str, event: str, **data: Any) -> None:
    """A refused or cancelled approval changes nothing on the target, so it is noted here, locally."""
    path = refusal_log_path(root, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"ts": ledger.utc_now(), "env": env, "event": event, "data": Redactor().data(data)})
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_refusals(root: Path, env: str) -> list[dict[str, Any]]:
    path = refusal_log_path(root, env)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def read_target_entries(transport: Transport, layout: Layout) -> list[dict[str, Any]]:
    if not transport.exists(layout.ledger):
        return []
    entries, problems = ledger.parse_lines(transport.read(layout.ledger).decode("utf-8", "replace"))
    if problems:
        raise LedgerError(
            f"the ledger at {layout.ledger} is damaged ({problems[0]}); run "
            "`freigabe ledger verify` to see every problem"
        )
    return entries


class Recorder:
    """Appends hash-chained entries to the target's ledger and mirrors them locally."""

    def __init__(
        self, transport: Transport, layout: Layout, root: Path, env: str, run: str, redactor: Redactor
    ) -> None:
        self.transport = transport
        self.layout = layout
        self.env = env
        self.run = run
        self.redactor = redactor
        self.local = local_ledger_path(root, env)
        entries = read_target_entries(transport, layout)
        report = ledger.verify_chain(entries)
        if not report.ok:
            raise LedgerError(
                f"the ledger at {layout.ledger} does not verify ({report.problems[0]}); nothing "
                "was changed — investigate with `freigabe ledger verify` before deploying"
            )
        self.head: dict[str, Any] | None = entries[-1] if entries else None
        self.entries = entries

    def record(self, event: str, **data: Any) -> dict[str, Any]:
        entry = ledger.make_entry(self.head, env=self.env, run=self.run, event=event, data=self.redactor.data(data))
        line = ledger.serialize(entry).encode()
        with critical():  # an entry is written on the target and mirrored, or neither
            self.transport.mkdir(self.layout.state)
            self.transport.append(self.layout.ledger, line)
            self.head = entry
            self.entries.append(entry)
            self._mirror()
        return entry

    def _mirror(self) -> None:
        self.local.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.local.with_suffix(".tmp")
        tmp.write_text("".join(ledger.serialize(e) for e in self.entries), encoding="utf-8")
        tmp.replace(self.local)
