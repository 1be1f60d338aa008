"""GO / CONDITIONAL GO / NO-GO: a pure function of findings and a policy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from freigabe.config.models import DecisionPolicy as Policy
from freigabe.core.findings import Finding

Verdict = Literal["GO", "CONDITIONAL GO", "NO-GO"]


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    environment: str
    blocking: list[str] = Field(default_factory=list)  # finding keys that made it NO-GO
    conditions: list[str] = Field(default_factory=list)  # keys that made it CONDITIONAL
    waived: list[str] = Field(default_factory=list)  # keys retired with a reason: shown, not counted
    reasons: list[str] = Field(default_factory=list)


def _counts_as_failure(f: Finding, production: bool, policy: Policy) -> bool:
    if f.attested is not None:  # a person vouched for it: a condition, never a pass
        return False
    if f.status == "fail":
        return True
    if f.status == "pending" and f.attested is None:
        return production and policy.pending_is_fail_for_production
    return False


def decide(
    findings: list[Finding], environment: str, policy: Policy | None = None, production: bool | None = None
) -> Decision:
    policy = policy or Policy()
    prod = environment in policy.production_environments if production is None else production
    blocking_impacts = policy.no_go_production if prod else policy.no_go
    blocking, conditions, reasons, waived = [], [], [], []
    for f in findings:
        if f.waived is not None and f.status != "ok":
            waived.append(f.key)
            reasons.append(f"{f.impact} waived by {f.waived['by']}: {f.title} — {f.waived['reason']}")
            continue
        always = f.status == "fail" and f.id in policy.always_block
        if always or (_counts_as_failure(f, prod, policy) and f.impact in blocking_impacts):
            blocking.append(f.key)
            reasons.append(f"{f.impact}: {f.title} — {f.ist}")
        elif f.status in ("fail", "pending"):
            conditions.append(f.key)
            how = "attested, not verified" if f.attested else f.status
            reasons.append(f"{f.impact} ({how}): {f.title}")
    verdict: Verdict = "NO-GO" if blocking else ("CONDITIONAL GO" if conditions else "GO")
    return Decision(
        verdict=verdict,
        environment=environment,
        blocking=blocking,
        conditions=conditions,
        waived=waived,
        reasons=reasons,
    )
