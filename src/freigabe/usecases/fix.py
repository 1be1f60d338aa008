"""`PROD-FIX FREIGEGEBEN`: only the named remediation, as a plan with its own id.

Fixable: `github.branch-protection:<branch>` (apply the policy through the API),
`server.failed-release` (remove the newest release that is not live and not good),
`server.lock` (clear a lock that looks abandoned). The fix plan is recomputed before it
runs; if the facts changed it is stale and refused, like a deploy plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freigabe.adapters.identity import actor
from freigabe.adapters.target import open_target
from freigabe.config import LoadedConfig
from freigabe.config.models import FIX_PHRASE
from freigabe.core.findings import Finding
from freigabe.core.plan import Plan, PlanInputs, Step
from freigabe.core.redact import REDACTOR
from freigabe.core.steps import Action, Args, GithubProtect, LockClear, ReleaseRemove
from freigabe.engine.session import Session, run_plan
from freigabe.errors import StalePlan, UsageError
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.audit import Area, run_audit
from freigabe.usecases.planning import id_matches, require_fix_phrase


@dataclass(frozen=True)
class FixPlan:
    """The one remediation of a finding, as a plan of its own (its id is what is approved)."""

    plan: Plan
    finding: str
    description: str

    @property
    def id(self) -> str:
        return self.plan.id


def _fix_plan(
    loaded: LoadedConfig, env_name: str, key: str, step: Step, description: str, current: str | None
) -> FixPlan:
    env = loaded.config.environment(env_name)
    plan = Plan(
        kind="fix",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=current or "",
        previous_release=current,
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=current),
        approval_phrase=FIX_PHRASE,
        steps=[step],
        rollback_steps=[],
    )
    return FixPlan(plan, key, description)


def _protection_body(loaded: LoadedConfig, branch: str) -> dict[str, Any]:
    gh = loaded.config.github
    assert gh is not None
    policy = gh.branches[branch]
    checks = list(policy.required_checks)
    if len(checks) < policy.min_checks:  # no names for this branch: take the named checks of another
        named = [c for b in gh.branches.values() for c in b.required_checks]
        checks = list(dict.fromkeys([*checks, *named]))
    return {
        "required_status_checks": {
            "strict": policy.require_up_to_date or branch in ("main", "master"),
            "contexts": checks,
        },
        "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": 1} if policy.require_reviews else None,
        "restrictions": None,
        "allow_force_pushes": False,
        "allow_deletions": False,
    }


def area_of(key: str) -> Area:
    """Which audit a finding key comes from: only that one needs to run again."""
    prefix = key.split(".", 1)[0]
    return "github" if prefix == "github" else "server" if prefix == "server" else "repo"


def plan_fix(loaded: LoadedConfig, env_name: str, key: str) -> tuple[FixPlan, Finding]:
    audit = run_audit(loaded, env_name, (area_of(key),), linters=False)
    found = {f.key: f for f in audit.findings}
    finding = found.get(key)
    if finding is None:
        raise UsageError(f"{key} is not a finding of {env_name}; `freigabe audit --env {env_name}` lists them")
    if finding.status == "ok":
        raise UsageError(f"{key} is already ok ({finding.ist}); nothing to fix")
    with open_target(loaded, env_name) as target:
        current = target.current()

    def step(action: Action, args: Args, title: str) -> Step:
        return Step(id=f"fix.{action}", title=title, action=action, args=args.data(), source="PROD-FIX")

    if finding.id == "github.branch-protection":
        body = _protection_body(loaded, finding.subject)
        text = (
            f"PUT branch protection on {finding.subject}: required checks "
            f"{', '.join(body['required_status_checks']['contexts'])}"
            + (", 1 review" if body["required_pull_request_reviews"] else "")
        )
        made = step("github.protect", GithubProtect(branch=finding.subject, body=body), text)
    elif finding.id == "server.failed-release":
        release = finding.evidence["newest"]
        text = f"remove releases/{release} (not live) with its manifest and mark"
        made = step("release.remove", ReleaseRemove(release=release), text)
    elif finding.id == "server.lock" and finding.status == "fail":
        run = str(finding.evidence.get("run"))
        text = f"clear the abandoned lock of run {run}"
        made = step("lock.clear", LockClear(run=run), text)
    else:
        raise UsageError(f"{key} has no automatic remediation; its fix: {finding.fix}")
    return _fix_plan(loaded, env_name, key, made, text, current), finding


def apply_fix(loaded: LoadedConfig, env_name: str, key: str, plan_id: str, phrase: str) -> dict[str, Any]:
    require_fix_phrase(phrase, "fix")
    fix, _ = plan_fix(loaded, env_name, key)
    if not id_matches(plan_id, fix.id):
        raise StalePlan(
            f"fix plan {plan_id[:12]} is not the current fix for {key} (now {fix.id[:12]}): the "
            f"facts changed; run `freigabe fix {key} --env {env_name}` again and approve that"
        )
    plan = fix.plan

    def approved(s: Session, _: Plan) -> None:
        s.recorder.record("plan.approved", plan=plan.id, kind="fix", phrase=FIX_PHRASE, by=actor(), finding=key)

    clears_lock = plan.steps[0].action == "lock.clear"
    with InterruptGuard():
        result = run_plan(loaded, plan, redactor=REDACTOR, under_lock=approved, take_lock=not clears_lock)
    outcome = result.steps[-1][1] if result.steps else None
    after = {f.key: f for f in run_audit(loaded, env_name, (area_of(key),), linters=False).findings}.get(key)
    return {
        "fix": fix.description,
        "finding_now": after.status if after else "gone",
        "run": result.run,
        **(outcome.details if outcome else {}),
    }
