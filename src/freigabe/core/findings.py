"""Findings: one audit row each — SOLL, IST, impact, status, fix, evidence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Impact = Literal["P0", "P1", "P2"]

# The findings `freigabe fix` can remediate (one definition: the fix command and the reports).
FIXABLE = ("github.branch-protection", "server.failed-release", "server.lock")
Status = Literal["ok", "fail", "pending", "warn"]
Area = Literal["repo", "github", "server"]


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str  # the check's stable id, e.g. "workflow.jq-null-guard"
    subject: str = ""  # what it is about when a check yields several rows: a file, a branch
    area: Area
    title: str
    soll: str
    ist: str
    impact: Impact
    status: Status
    fix: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    location: str | None = None  # file:line where the problem is
    attested: dict[str, Any] | None = None  # a person vouched for a pending fact (never "verified")
    waived: dict[str, Any] | None = None  # retired with a reason by a person: {by, reason, at}; never hidden

    @property
    def key(self) -> str:
        """What `freigabe fix` and `freigabe attest` take: id, plus the subject if any."""
        return f"{self.id}:{self.subject}" if self.subject else self.id

    @property
    def failing(self) -> bool:
        return self.status in ("fail", "pending")


def finding(
    id: str,
    area: Area,
    title: str,
    *,
    soll: str,
    ist: str,
    impact: Impact,
    ok: bool,
    fix: str = "",
    subject: str = "",
    evidence: dict[str, Any] | None = None,
    location: str | None = None,
    status: Status | None = None,
) -> Finding:
    """Shorthand for checks: `ok` picks ok/fail unless `status` says otherwise."""
    return Finding(
        id=id,
        subject=subject,
        area=area,
        title=title,
        soll=soll,
        ist=ist,
        impact=impact,
        status=status or ("ok" if ok else "fail"),
        fix="" if ok and status is None else fix,
        evidence=evidence or {},
        location=location,
    )
