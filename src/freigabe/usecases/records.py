"""The ledger on a target and its local mirror, written through the transport."""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import Any

from freigabe.adapters.transport import Transport
from freigabe.core import ledger
from freigabe.core.layout import Layout
from freigabe.core.redact import Redactor
from freigabe.errors import LedgerError


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
