"""Steps are data; a plan is the ordered steps plus their inputs; its id is a hash.

A step says what it will do (argv lists, paths, URLs) before anything runs, so the
plan printed by `freigabe plan` is exactly what `freigabe deploy` executes, and the
plan id covers all of it. Only `freigabe.engine` interprets steps.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from freigabe.core.decision import Decision
from freigabe.core.steps import Action

OnFailure = Literal["abort", "rollback", "warn"]
Phase = Literal["pre_switch", "switch", "post_switch", "finish"]

SCHEMA_VERSION = 1


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Step(BaseModel):
    """One unit of a plan. `action` names the executor operation, `args` its input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    action: Action
    args: dict[str, Any] = Field(default_factory=dict)
    why: str = ""
    source: str = ""  # where the reference plan asks for it, e.g. "SOLL 12"
    expected_seconds: float = 1.0
    on_failure: OnFailure = "abort"
    phase: Phase = "pre_switch"


class BundleRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sha256: str
    size: int
    path: str  # local path at plan time (not part of the identity: see PlanInputs.identity)
    sha: str  # the commit (or content) id the bundle was built from
    files: int = 0
    unpacked_size: int = 0


class PlanInputs(BaseModel):
    """What the plan was made from. A change in any of these makes the plan stale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_digest: str
    bundle_sha256: str | None
    current_release: str | None


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["deploy", "rollback", "preflight", "recover", "fix", "restore", "cleanup", "unlock"]
    environment: str
    target: str
    deploy_path: str
    release: str  # the release this plan makes live
    previous_release: str | None  # what is live now; the automatic rollback's target
    bundle: BundleRef | None
    inputs: PlanInputs
    approval_phrase: str
    steps: list[Step]
    rollback_steps: list[Step]
    finally_steps: list[Step] = Field(default_factory=list)  # run however the run ends (before run.finished)
    warnings: list[str] = Field(default_factory=list)
    decision: Decision | None = None  # the audit's verdict when the plan was made
    created_at: str = ""  # informational; not covered by the id

    def identity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"created_at"})
        if data.get("bundle"):
            data["bundle"].pop("path", None)  # the same bundle moved elsewhere is the same plan
        return data

    @property
    def id(self) -> str:
        return sha256_text(canonical_json(self.identity()))

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["id"] = self.id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        body = {k: v for k, v in data.items() if k != "id"}
        plan = cls.model_validate(body)
        if "id" in data and data["id"] != plan.id:
            from freigabe.errors import ApprovalError

            raise ApprovalError(
                f"saved plan {data['id'][:12]} does not match its own content (it was edited); "
                "make a new plan with `freigabe plan`"
            )
        return plan

    def step_count(self) -> int:
        return len(self.steps)
