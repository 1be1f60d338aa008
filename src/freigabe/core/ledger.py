"""The ledger: append-only JSON lines, hash-chained and signed. Pure.

An entry is `{seq, ts, env, run, event, data, prev, key, hash, sig}`:

* `hash` is the SHA-256 of the canonical JSON of every other field but `sig`; `prev` is the
  hash of the entry before (64 zeros for the first). Editing an entry breaks its hash;
  removing or reordering entries breaks `seq` and `prev`.
* `sig` is an Ed25519 signature of `hash` by the key named in `key` (its public key, base64).
  The key is held where freigabe runs, never on the target, so someone who can rewrite the
  target's file and recompute every hash still cannot produce entries that verify: `verify`
  accepts only signatures by trusted keys.
* Removing entries from the end is caught by the local copy, a witness that is only ever
  extended, never rewritten from the target (`compare_copies`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from freigabe.core.events import Event
from freigabe.core.plan import canonical_json, sha256_text

GENESIS = "0" * 64


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(public_text: str) -> str:
    return "ed25519:" + sha256_text(public_text)[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> str:
        return public_key_text(self.private.public_key())

    @property
    def id(self) -> str:
        return key_id(self.public)

    def sign(self, digest: str) -> str:
        return base64.b64encode(self.private.sign(digest.encode())).decode()


def entry_hash(entry: dict[str, Any]) -> str:
    return sha256_text(canonical_json({k: v for k, v in entry.items() if k not in ("hash", "sig")}))


def signature_ok(entry: dict[str, Any]) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(entry.get("key", ""))))
        public.verify(base64.b64decode(str(entry.get("sig", ""))), str(entry.get("hash", "")).encode())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def make_entry(
    prev: dict[str, Any] | None, *, env: str, run: str, event: Event, data: dict[str, Any], signer: Signer
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": (prev["seq"] + 1) if prev else 1,
        "ts": utc_now(),
        "env": env,
        "run": run,
        "event": event,
        "data": data,
        "prev": prev["hash"] if prev else GENESIS,
        "key": signer.public,
    }
    entry["hash"] = entry_hash(entry)
    entry["sig"] = signer.sign(entry["hash"])
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


def complete_prefix(data: bytes) -> tuple[bytes, bytes]:
    """(the complete lines, a torn tail): a write cut short leaves a last line without newline."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


@dataclass
class ChainReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)  # ids of the keys that signed

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    entries: Iterable[dict[str, Any]],
    trusted: set[str] | None = None,
    after: dict[str, Any] | None = None,
    newest_signs_for_all: bool = False,
) -> ChainReport:
    """Check hashes, signatures, `seq` and `prev`. `trusted`: key ids allowed to sign (None:
    any valid signature). `after`: the entry the given ones continue (verify only a tail).

    `newest_signs_for_all`: check every hash and link, but the signature of the newest entry
    only. Its hash covers the chain below it, and freigabe verifies the chain before it signs
    an entry onto it, so a trusted signature on the newest entry vouches for every entry before
    it: a long history is read in hashes, not in thousands of signature checks (a fresh CI runner
    syncs the whole ledger on every job). `ledger verify` checks every signature."""
    report = ChainReport()
    prev_hash = after["hash"] if after else GENESIS
    expected_seq = after["seq"] + 1 if after else 1
    entries = list(entries)
    for index, entry in enumerate(entries):
        report.entries += 1
        seq = entry.get("seq")
        where = f"entry {report.entries} (seq {seq})" if after is None else f"entry seq {seq}"
        if entry.get("hash") != entry_hash(entry):
            report.problems.append(f"{where} was edited: its hash does not match its content")
        if newest_signs_for_all and index < len(entries) - 1:
            pass  # vouched for by the newest entry's signature
        elif not signature_ok(entry):
            report.problems.append(f"{where} has no valid signature: it was not written by freigabe")
        else:
            kid = key_id(str(entry.get("key")))
            report.keys.add(kid)
            if trusted is not None and kid not in trusted:
                report.problems.append(
                    f"{where} is signed by {kid}, a key freigabe.toml does not trust ([ledger] trusted_keys)"
                )
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
    """The local copy witnesses the target's ledger: each must be a prefix of the other."""
    problems = []
    for index, (remote, mine) in enumerate(zip(target, local, strict=False), start=1):
        if remote.get("hash") != mine.get("hash"):
            problems.append(f"entry {index} differs between the target's ledger and the local copy")
            break
    if not problems and len(target) < len(local):
        problems.append(
            f"the target's ledger has {len(target)} entries but the local copy has {len(local)}: "
            "entries were removed from the end of the target's ledger"
        )
    return problems
