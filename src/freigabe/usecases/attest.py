"""`APPEND MISSING INFO`: a person vouches for a pending fact. Recorded, shown as attested.

An attestation never turns a finding into `ok`: the finding stays `pending` with the
attestation attached, and the decision counts it as a condition instead of a failure.

A breaking migration statement (`migration.breaking:…`, a failure) is attestable too: freigabe
cannot see whether the live release still uses what the statement removes, a person can (the
contract step of expand/contract). Such an attestation is bound to the statement's facts: when
the SQL changes, it no longer applies.
"""

from __future__ import annotations

from typing import Any

from freigabe.adapters.identity import actor
from freigabe.config import LoadedConfig
from freigabe.core.findings import Finding
from freigabe.core.plan import canonical_json, sha256_text
from freigabe.engine.session import new_run_id, record
from freigabe.errors import UsageError

PHRASE = "APPEND MISSING INFO"
ATTESTABLE_FAILURES = ("migration.breaking",)  # failures a person can vouch for (see above)
BOUND = ("migration.",)  # attestations of these findings hold only while their facts are the same


def attestable(f: Finding) -> bool:
    return f.status == "pending" or (f.status == "fail" and f.id in ATTESTABLE_FAILURES)


def _basis(f: Finding) -> str:
    return sha256_text(canonical_json({"ist": f.ist, "evidence": f.evidence}))


def attest(loaded: LoadedConfig, env_name: str, key: str, note: str, pending: list[Finding]) -> dict[str, str]:
    """Record that `actor()` vouches for the pending finding `key` in `env_name`."""
    if not note.strip():
        raise UsageError("an attestation needs --note saying what you checked and how")
    pending = [f for f in pending if attestable(f)]
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
        **({"basis": _basis(match[0])} if match[0].id.startswith(BOUND) else {}),
    )
    return {"finding": key, "by": entry["data"]["by"], "at": entry["ts"]}


def apply_attestations(findings: list[Finding], entries: list[dict[str, Any]]) -> list[Finding]:
    """Attach the latest attestation in the ledger `entries` to each pending finding."""
    latest = {e["data"]["finding"]: e for e in entries if e["event"] == "finding.attested"}
    out = []
    for f in findings:
        entry = latest.get(f.key)
        if entry is None or not attestable(f):
            out.append(f)
            continue
        data = entry["data"]
        if f.id.startswith(BOUND) and data.get("basis") != _basis(f):
            lapsed = f"attested by {data['by']} at {entry['ts']}, but the facts changed since"
            out.append(f.model_copy(update={"evidence": {**f.evidence, "attestation_lapsed": lapsed}}))
            continue
        out.append(f.model_copy(update={"attested": {"by": data["by"], "note": data["note"], "at": entry["ts"]}}))
    return out
