"""Retire a finding that does not apply, with a reason: recorded, shown, never hidden.

`freigabe waive FINDING --env ENV --reason …` writes `finding.waived` into the environment's
ledger with who and why, and what the waiver was given for: the SHA-256 of the workflow file
for a repository finding, or of the finding's facts otherwise. Every report shows the finding
as *waived* with that person and reason; the decision does not count it. When the file (or
the facts) change, the waiver no longer applies and the finding counts again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from freigabe.adapters.identity import actor
from freigabe.config import LoadedConfig
from freigabe.core.findings import Finding
from freigabe.core.plan import canonical_json, sha256_text
from freigabe.engine.session import new_run_id, record
from freigabe.errors import UsageError

# Refusals no reason retires: production migrations without a backup that can undo them.
UNWAIVABLE = ("migration.backup",)


def _file_of(finding: Finding, root: Path) -> Path | None:
    if finding.area != "repo" or not finding.location:
        return None
    path = root / finding.location.rsplit(":", 1)[0]
    return path if path.is_file() else None


def basis(finding: Finding, root: Path) -> dict[str, str]:
    """What a waiver is bound to: the file's bytes, or the finding's facts."""
    file = _file_of(finding, root)
    if file is not None:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        return {"kind": "file", "file": str(file.relative_to(root)), "sha256": digest}
    facts = sha256_text(canonical_json({"ist": finding.ist, "evidence": finding.evidence}))
    return {"kind": "facts", "sha256": facts}


def waive(
    loaded: LoadedConfig, env_name: str, key: str, reason: str, findings: list[Finding], revoke: bool = False
) -> dict[str, Any]:
    if not revoke and len(reason.strip()) < 10:
        raise UsageError("a waiver needs --reason saying why the finding does not apply (at least a sentence)")
    match = [f for f in findings if f.key == key]
    if not match:
        open_keys = ", ".join(f.key for f in findings if f.status != "ok") or "none"
        raise UsageError(f"{key} is not a finding of {env_name} now (open: {open_keys}); `freigabe audit` lists them")
    found = match[0]
    if found.status == "ok" and not revoke:
        raise UsageError(f"{key} is ok ({found.ist}); there is nothing to waive")
    if found.id in UNWAIVABLE and found.impact == "P0" and not revoke:
        raise UsageError(f"{key} cannot be waived: {found.ist}; {found.fix}")
    if revoke:
        entry = record(loaded, env_name, new_run_id(), "finding.unwaived", finding=key, by=actor(), reason=reason)
    else:
        entry = record(
            loaded,
            env_name,
            new_run_id(),
            "finding.waived",
            finding=key,
            by=actor(),
            reason=reason,
            basis=basis(found, loaded.root),
        )
    return {"finding": key, "by": entry["data"]["by"], "at": entry["ts"], "impact": found.impact}


def apply_waivers(findings: list[Finding], entries: list[dict[str, Any]], root: Path) -> list[Finding]:
    """Attach each finding's standing waiver; a waiver whose file or facts changed has lapsed."""
    latest: dict[str, dict[str, Any] | None] = {}
    for entry in entries:
        if entry["event"] == "finding.waived":
            latest[entry["data"]["finding"]] = {**entry["data"], "at": entry["ts"]}
        elif entry["event"] == "finding.unwaived":
            latest[entry["data"]["finding"]] = None
    out = []
    for finding in findings:
        waiver = latest.get(finding.key)
        if waiver is None or finding.status == "ok":
            out.append(finding)
            continue
        if waiver.get("basis") == basis(finding, root):
            out.append(finding.model_copy(update={"waived": {k: waiver[k] for k in ("by", "reason", "at")}}))
        else:
            lapsed = {
                "waiver_lapsed": f"waived by {waiver['by']} at {waiver['at']}, but the "
                f"{'file' if waiver.get('basis', {}).get('kind') == 'file' else 'facts'} changed since"
            }
            out.append(finding.model_copy(update={"evidence": {**finding.evidence, **lapsed}}))
    return out
