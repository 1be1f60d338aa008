"""`freigabe ledger verify`: the target's chain, the local copy's chain, and that they agree."""

from __future__ import annotations

from dataclasses import dataclass, field

from freigabe.config import LoadedConfig
from freigabe.core import ledger
from freigabe.usecases.records import local_ledger_path
from freigabe.usecases.targets import open_target


@dataclass
class LedgerCheck:
    environment: str
    target_entries: int = 0
    local_entries: int = 0
    problems: list[str] = field(default_factory=list)
    target_ledger: bool = False  # a ledger file exists on the target

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def deployed(self) -> bool:
        return self.target_ledger or self.local_entries > 0

    def to_json(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "deployed": self.deployed,
            "ok": self.ok,
            "target_entries": self.target_entries,
            "local_entries": self.local_entries,
            "problems": self.problems,
        }


def verify(loaded: LoadedConfig, env_name: str) -> LedgerCheck:
    check = LedgerCheck(env_name)
    target = open_target(loaded, env_name)
    try:
        check.target_ledger = target.transport.exists(target.layout.ledger)
        raw = target.transport.read(target.layout.ledger).decode("utf-8", "replace") if check.target_ledger else ""
    finally:
        target.close()
    remote, parse_problems = ledger.parse_lines(raw)
    check.problems += [f"target: {p}" for p in parse_problems]
    check.target_entries = len(remote)
    check.problems += [f"target: {p}" for p in ledger.verify_chain(remote).problems]
    local_path = local_ledger_path(loaded.root, env_name)
    if local_path.is_file():
        local, local_parse = ledger.parse_lines(local_path.read_text(encoding="utf-8"))
        check.local_entries = len(local)
        check.problems += [f"local copy: {p}" for p in local_parse]
        check.problems += [f"local copy: {p}" for p in ledger.verify_chain(local).problems]
        check.problems += ledger.compare_copies(remote, local)
    return check
