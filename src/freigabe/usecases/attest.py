"""`APPEND MISSING INFO`: a person vouches for a pending fact. Recorded, shown as attested.

An attestation never turns a finding into `ok`: the finding stays `pending` with the
attestation attached, and the decision counts it as a condition instead of a failure.
"""

from __future__ import annotations

from typing import Any

from freigabe.adapters.identity import actor
from freigabe.config import LoadedConfig
from freigabe.core.findings import Finding
from freigabe.engine.session import new_run_id, record
from freigabe.errors import UsageError

PHRASE = "APPEND MISSING INFO"


def attest(loaded: LoadedConfig, env_name: str, key: str, note: str, pending: list[Finding]) -> dict[str, str]:
    """Record that `actor()` vouches for the pending finding `key` in `env_name`."""
    if not note.strip():
        raise UsageError("an attestation needs --note saying what you checked and how")
    match = [f for f in pending if f.key == key]
    if not match:
        keys = ", ".join(f.key for f in pending) or "none"
        raise UsageError(
            f"{key} is not a pending finding of {env_name} (pending now: {keys}); "
            "only facts freigabe cannot check itself can be attested"
        )
    entry = record(
        loaded,
        env_name,
        new_run_id(),
        "finding.attested",
        finding=key,
        note=note,
        by=actor(),
        phrase=PHRASE,
        ist=match[0].ist,
    )
    return {"finding": key, "by": entry["data"]["by"], "at": entry["ts"]}


def apply_attestations(findings: list[Finding], entries: list[dict[str, Any]]) -> list[Finding]:
    """Attach the latest attestation in the ledger `entries` to each pending finding."""
    latest = {
        e["data"]["finding"]: {"by": e["data"]["by"], "note": e["data"]["note"], "at": e["ts"]}
        for e in entries
        if e["event"] == "finding.attested"
    }
    return [
        f.model_copy(update={"attested": latest[f.key]}) if f.status == "pending" and f.key in latest else f
        for f in findings
    ]
