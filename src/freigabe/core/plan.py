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
from freigabe.core.fleet import FleetPolicy
from freigabe.core.steps import Action

OnFailure = Literal["abort", "rollback", "warn"]
# In a fleet every host finishes a phase before any host starts the next: all prepared
# (pre_switch), migrated once (migrate, on the migrate host), caches built for the new release
# (finalize), then switched, verified (post_switch) and marked (finish).
Phase = Literal["pre_switch", "migrate", "finalize", "switch", "post_switch", "finish"]
PHASES: tuple[Phase, ...] = ("pre_switch", "migrate", "finalize", "switch", "post_switch", "finish")

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


class HostPlan(BaseModel):
    """One host of a fleet plan: where it is, what it serves now, and every step it runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # "" for the only host of an environment
    target: str
    roles: list[str] = Field(default_factory=lambda: ["web", "migrate"])
    url: str | None = None  # where its checks go; None: the environment URL
    current_release: str | None = None  # live when the plan was made
    does: str = ""  # in words, for the approver
    steps: list[Step]
    rollback_steps: list[Step]
    finally_steps: list[Step] = Field(default_factory=list)
    skip: str | None = None  # left out of the run (unreachable when planned, under on_unreachable = "skip")
    release: str | None = None  # what this host ends on, where it is not the plan's (a fleet's recovery)


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
    # A fleet (an environment with several hosts): every host with its own steps, and how they move
    # together. A single-host plan keeps its steps above and leaves these empty: `host_plans()`
    # gives both the same shape, and one orchestrator runs both.
    hosts: list[HostPlan] = Field(default_factory=list)
    fleet: FleetPolicy | None = None

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

    @property
    def is_fleet(self) -> bool:
        return self.fleet is not None

    def host_plans(self) -> list[HostPlan]:
        """Every host this plan runs on, each with its steps: the fleet's, or the one target's."""
        if self.fleet is not None:
            return list(self.hosts)
        return [
            HostPlan(
                name="",
                target=self.target,
                current_release=self.previous_release,
                steps=self.steps,
                rollback_steps=self.rollback_steps,
                finally_steps=self.finally_steps,
            )
        ]

    def all_steps(self) -> list[Step]:
        """Every step of every host (secrets named, warnings), in order."""
        return [s for h in self.host_plans() for s in (*h.steps, *h.rollback_steps, *h.finally_steps)]

    def step_hosts(self) -> list[tuple[Step, list[str]]]:
        """Every distinct step id of the fleet in run order, with the hosts that run it (the first
        host's step stands for its title: only URLs differ from host to host)."""
        order: dict[str, tuple[Step, list[str]]] = {}
        for host in self.host_plans():
            for step in host.steps:
                order.setdefault(step.id, (step, []))[1].append(host.name)
        return sorted(order.values(), key=lambda item: PHASES.index(item[0].phase))

    @property
    def shown_steps(self) -> list[Step]:
        """The steps a report lists: the plan's, or for a fleet each distinct step once."""
        return [s for s, _ in self.step_hosts()] if self.fleet is not None else self.steps

    def for_host(self, host: HostPlan) -> Plan:
        """The plan as one host's run sees it: that host's target, live release and steps."""
        if self.fleet is None:
            return self
        return self.model_copy(
            update={
                "target": host.target,
                "release": host.release or self.release,
                "previous_release": host.current_release,
                "inputs": self.inputs.model_copy(update={"current_release": host.current_release}),
                "steps": host.steps,
                "rollback_steps": host.rollback_steps,
                "finally_steps": host.finally_steps,
            }
        )
