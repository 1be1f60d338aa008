"""The E2E plan (what `freigabe e2e` will call and read) and the pure judgements over its results.

Like a deploy plan, the E2E plan is data whose id is the SHA-256 of its canonical JSON; its
approval phrase is the environment's. The log gates and the acceptance verdict are pure
functions of what was gathered (log lines, the target's state, measured checks).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from freigabe.config.models import Config, LogGate
from freigabe.core.decision import Decision
from freigabe.core.plan import canonical_json, sha256_text

SCHEMA_VERSION = 1

# The lines the reference plan expects in the team's deploy log (Phase 3), and freigabe's own.
REFERENCE_GATES = [
    LogGate(name="pre-switch gates", seen=r"All pre-switch gates PASSED", contradicted=r"(?i)gate.*FAILED"),
    LogGate(name="symlink switched", seen=r"Symlink switched", contradicted=r"(?i)symlink.*fail"),
    LogGate(name="caches cleared after the switch", seen=r"All Laravel caches cleared"),
    LogGate(name="PHP-FPM reloaded", seen=r"PHP-FPM reloaded", contradicted=r"(?i)php-fpm.*(fail|error)"),
    LogGate(name="health 3/3", seen=r"HTTP 200", count=3, contradicted=r"(?i)(rollback|rolling back)"),
    LogGate(name="Vite assets", seen=r"Vite assets are accessible", contradicted=r"(?i)missing assets"),
]


def freigabe_gates(config: Config, env_name: str) -> list[LogGate]:
    """The step lines freigabe prints for the steps this environment's deploy has."""
    env = config.environment(env_name)

    def step(name: str, step_id: str) -> LogGate:
        return LogGate(name=name, seen=rf"✔ {step_id}", contradicted=rf"[✘!] {step_id}")

    gates = [step("pre-switch gates", r"gate\.layer\d\.files\b"), step("symlink switched", r"switch\b")]
    if config.deploy.cache_after:
        gates.append(step("caches cleared after the switch", r"cache\.after\."))
    if env.reload if env.reload is not None else config.deploy.reload:
        gates.append(step("reload (PHP-FPM)", r"reload\."))
    if env.readiness.probe is not None:
        gates.append(step("the new release answers (readiness)", r"readiness\b"))
    if env.health:
        gates.append(
            LogGate(
                name=f"health {len(env.health)}/{len(env.health)}",
                seen=r"✔ health\.",
                count=len(env.health),
                contradicted=r"✘ health\.|rolling back",
            )
        )
    if env.assets.manifest or env.assets.extra:
        gates.append(step("assets", r"assets\.check\b"))
    return gates


def gates_for(config: Config, env_name: str, preset: str, configured: list[LogGate] | None) -> list[LogGate]:
    if configured is not None:
        return configured
    return freigabe_gates(config, env_name) if preset == "freigabe" else list(REFERENCE_GATES)


class ApiCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    path: str
    when: str  # the condition or phase in which the call is made
    body: dict[str, Any] | None = None


class E2EPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["e2e"] = "e2e"
    environment: str
    repo: str
    sha: str
    ref: str
    build_workflow: str
    build_run_id: int | None  # a successful build found at plan time; None: the build is dispatched
    deploy_workflow: str
    deploy_ref: str
    inputs: dict[str, str]  # templates: {build_run_id}, {sha}, {ref}, {environment}
    ledger_artifact: str | None
    bundle_artifact: str
    gates: list[LogGate]
    timeouts: dict[str, float]
    calls: list[ApiCall]
    reads: list[str]  # what is read from the target and over HTTP (never changed)
    current_release: str | None
    releases: list[str]
    config_digest: str
    approval_phrase: str
    promotion: dict[str, Any] | None = None  # production: the source's passed E2E (bundle, build run)
    decision: Decision | None = None
    warnings: list[str] = Field(default_factory=list)
    created_at: str = ""  # covered by the id: each E2E is its own plan, and a plan runs once

    @property
    def id(self) -> str:
        return sha256_text(canonical_json(self.model_dump(mode="json")))

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> E2EPlan:
        plan = cls.model_validate({k: v for k, v in data.items() if k != "id"})
        if data.get("id") not in (None, plan.id):
            from freigabe.errors import ApprovalError

            raise ApprovalError(
                f"saved E2E plan {str(data['id'])[:12]} does not match its own content (it was edited); "
                f"make a new one with `freigabe e2e {plan.environment}`"
            )
        return plan


def render_inputs(templates: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, template in templates.items():
        value = template
        for name, actual in values.items():
            value = value.replace("{" + name + "}", actual)
        out[key] = value
    return out


# ---------------------------------------------------------------- judgements


class GateResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: Literal["seen", "missing", "contradicted"]
    matches: int
    needed: int
    snippet: str = ""  # the line that decided it (redacted before it is stored)
    where: str = ""  # job/step file in the logs zip


def judge_gates(gates: list[LogGate], logs: dict[str, list[str]]) -> list[GateResult]:
    """Each gate: `seen` when its line appears often enough and nothing contradicts it."""
    results = []
    for gate in gates:
        seen = re.compile(gate.seen)
        against = re.compile(gate.contradicted) if gate.contradicted else None
        hits: list[tuple[str, str]] = []
        contra: tuple[str, str] | None = None
        for where, lines in logs.items():
            for line in lines:
                if seen.search(line):
                    hits.append((where, line))
                elif against is not None and contra is None and against.search(line):
                    contra = (where, line)
        if contra is not None:
            results.append(
                GateResult(
                    name=gate.name,
                    state="contradicted",
                    matches=len(hits),
                    needed=gate.count,
                    snippet=contra[1].strip()[:300],
                    where=contra[0],
                )
            )
        elif len(hits) >= gate.count:
            results.append(
                GateResult(
                    name=gate.name,
                    state="seen",
                    matches=len(hits),
                    needed=gate.count,
                    snippet=hits[0][1].strip()[:300],
                    where=hits[0][0],
                )
            )
        else:
            results.append(GateResult(name=gate.name, state="missing", matches=len(hits), needed=gate.count))
    return results


class Criterion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    ok: bool
    detail: str


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Literal["PASS", "FAIL"]
    summary: str
    rolled_back: bool
    criteria: list[Criterion]


def acceptance(
    *,
    conclusion: str,
    failed_step: str | None,
    before: str | None,
    after: str | None,
    expected_suffix: str,
    probe: tuple[bool, str],
    health: tuple[bool, str],
    assets: tuple[bool, str],
    gates: list[GateResult],
    evidence: tuple[bool, str],
    attempts: int,
) -> Verdict:
    """The reference plan's Phase 5, judged from e2e's own measurements first and the log second."""
    switched = after is not None and after != before and after.endswith(expected_suffix)
    bad_gates = [g for g in gates if g.state != "seen"]
    criteria = [
        Criterion(
            name="deploy run succeeded",
            ok=conclusion == "success",
            detail=conclusion + (f" at {failed_step}" if failed_step else ""),
        ),
        Criterion(
            name="current points at the release for the commit",
            ok=switched,
            detail=f"{before or 'none'} → {after or 'none'} (expected …{expected_suffix})",
        ),
        Criterion(name="the new release answers (release probe)", ok=probe[0], detail=probe[1]),
        Criterion(name="health checks (own, with the token)", ok=health[0], detail=health[1]),
        Criterion(name="every manifest asset is served", ok=assets[0], detail=assets[1]),
        Criterion(
            name="gate lines in the log",
            ok=not bad_gates,
            detail=f"{len(gates) - len(bad_gates)}/{len(gates)} seen"
            + "".join(f"; {g.name}: {g.state}" for g in bad_gates),
        ),
        Criterion(
            name="no manual intervention (first attempt, no re-run)", ok=attempts == 1, detail=f"attempt {attempts}"
        ),
        Criterion(name="evidence complete (logs, ledger, symlink)", ok=evidence[0], detail=evidence[1]),
    ]
    rolled_back = conclusion != "success" and after == before and before is not None
    if all(c.ok for c in criteria):
        return Verdict(
            verdict="PASS",
            summary=f"{after} is live, healthy and verified on the target",
            rolled_back=False,
            criteria=criteria,
        )
    if conclusion == "success" and not switched:
        summary = (
            f"the deploy run reports success, but current still points at {after or 'nothing'}: "
            "the server serves the old release"
        )
    elif rolled_back:
        summary = (
            f"the pipeline failed ({conclusion}{' at ' + failed_step if failed_step else ''}) and "
            f"rolled back: {before} is live again" + (" and healthy" if health[0] else ", NOT healthy")
        )
    elif conclusion != "success":
        summary = f"the deploy run ended {conclusion}" + (f" at {failed_step}" if failed_step else "")
    else:
        summary = "; ".join(f"{c.name}: {c.detail}" for c in criteria if not c.ok)
    return Verdict(verdict="FAIL", summary=summary, rolled_back=rolled_back, criteria=criteria)
