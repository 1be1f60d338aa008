"""`freigabe ledger verify`: the target's chain with its signatures, the local copy's chain, and
that the local copy (the witness) and the target agree."""

from __future__ import annotations

from dataclasses import dataclass, field

from freigabe.adapters.inventory import environment_hosts
from freigabe.adapters.ledger_keys import reading_trust
from freigabe.adapters.target import open_target
from freigabe.config import LoadedConfig
from freigabe.core import ledger
from freigabe.core.fleet import Host, witness_name
from freigabe.engine.witness import Witness
from freigabe.errors import TargetError


@dataclass
class LedgerCheck:
    environment: str
    target_entries: int = 0
    local_entries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not failures: e.g. a torn line the next run removes
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
            "notes": self.notes,
        }


def verify_all(loaded: LoadedConfig, env_name: str) -> list[LedgerCheck]:
    """The environment's ledger, or each ledger of a fleet's hosts (`<env> <host>`)."""
    hosts = environment_hosts(loaded, env_name)
    if len(hosts) == 1:
        return [verify(loaded, env_name)]
    return [verify(loaded, env_name, host) for host in hosts]


def verify(loaded: LoadedConfig, env_name: str, host: Host | None = None) -> LedgerCheck:
    check = LedgerCheck(f"{env_name} {host.name}" if host else env_name)
    trusted = reading_trust(loaded.root, loaded.config.ledger.trusted_keys)
    try:
        target = open_target(loaded, env_name, host)
    except TargetError as exc:
        if host is None:
            raise
        check.problems.append(f"the host cannot be read ({exc.message}); verify again once it answers")
        return check
    with target:
        check.target_ledger = target.transport.exists(target.layout.ledger)
        raw = target.transport.read(target.layout.ledger) if check.target_ledger else b""
        witness = Witness(loaded.root, witness_name(env_name, target.host))
    complete, torn = ledger.complete_prefix(raw)
    if torn:
        check.notes.append(
            f"the target's last line is cut short ({len(torn)} bytes, an interrupted append); "
            "the next run removes it and records that"
        )
    remote, parse_problems = ledger.parse_lines(complete.decode("utf-8", "replace"))
    check.problems += [f"target: {p}" for p in parse_problems]
    check.target_entries = len(remote)
    check.problems += [f"target: {p}" for p in ledger.verify_chain(remote, trusted).problems]
    if witness.exists():
        local = witness.entries()
        check.local_entries = len(local)
        check.problems += [f"local copy: {p}" for p in ledger.verify_chain(local, trusted).problems]
        check.problems += ledger.compare_copies(remote, local)
    return check
