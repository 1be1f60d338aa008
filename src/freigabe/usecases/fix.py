"""`PROD-FIX FREIGEGEBEN`: only the named remediation, as a plan with its own id.

Fixable: `github.branch-protection:<branch>` (apply the policy through the API),
`server.failed-release` (remove the newest release that is not live and not good),
`server.lock` (clear a lock that looks abandoned). The fix plan is recomputed before it
runs; if the facts changed it is stale and refused, like a deploy plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freigabe.adapters.github import GitHub
from freigabe.config import LoadedConfig
from freigabe.config.models import FIX_PHRASE
from freigabe.core.findings import Finding
from freigabe.core.plan import canonical_json, sha256_text
from freigabe.core.redact import Redactor
from freigabe.errors import ApprovalError, StalePlan, UsageError
from freigabe.usecases import lock as locks
from freigabe.usecases.audit import Area, run_audit
from freigabe.usecases.planning import id_matches, require_fix_phrase
from freigabe.usecases.records import Recorder, actor
from freigabe.usecases.targets import open_target


@dataclass(frozen=True)
class FixPlan:
    environment: str
    finding: str
    action: str
    args: dict[str, Any]
    description: str

    @property
    def id(self) -> str:
        return sha256_text(
            canonical_json(
                {
                    "kind": "fix",
                    "env": self.environment,
                    "finding": self.finding,
                    "action": self.action,
                    "args": self.args,
                }
            )
        )


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
    if finding.id == "github.branch-protection":
        body = _protection_body(loaded, finding.subject)
        return FixPlan(
            env_name,
            key,
            "github.protect",
            {"branch": finding.subject, "body": body},
            f"PUT branch protection on {finding.subject}: required checks "
            f"{', '.join(body['required_status_checks']['contexts'])}"
            + (", 1 review" if body["required_pull_request_reviews"] else ""),
        ), finding
    if finding.id == "server.failed-release":
        release = finding.evidence["newest"]
        return FixPlan(
            env_name,
            key,
            "release.remove",
            {"release": release},
            f"remove releases/{release} (not live) with its manifest and mark",
        ), finding
    if finding.id == "server.lock" and finding.status == "fail":
        return FixPlan(
            env_name,
            key,
            "lock.clear",
            {"run": finding.evidence.get("run")},
            f"clear the abandoned lock of run {finding.evidence.get('run')}",
        ), finding
    raise UsageError(f"{key} has no automatic remediation; its fix: {finding.fix}")


def apply_fix(loaded: LoadedConfig, env_name: str, key: str, plan_id: str, phrase: str) -> dict[str, Any]:
    require_fix_phrase(phrase, "fix")
    fix, _ = plan_fix(loaded, env_name, key)
    if not id_matches(plan_id, fix.id):
        raise StalePlan(
            f"fix plan {plan_id[:12]} is not the current fix for {key} (now {fix.id[:12]}): the "
            f"facts changed; run `freigabe fix {key} --env {env_name}` again and approve that"
        )
    target = open_target(loaded, env_name)
    try:
        recorder = Recorder(target.transport, target.layout, loaded.root, env_name, f"fix-{fix.id[:12]}", Redactor())
        recorder.record("fix.approved", finding=key, plan=fix.id, phrase=FIX_PHRASE, by=actor(), action=fix.action)
        if fix.action == "github.protect":
            assert loaded.config.github is not None
            with GitHub(loaded.config.github) as gh:
                answer = gh.put_branch_protection(fix.args["branch"], fix.args["body"])
            outcome = {"status": answer.status, "message": answer.message}
            ok = answer.status == 200
        elif fix.action == "release.remove":
            release = fix.args["release"]
            if target.current() == release:
                raise UsageError(f"{release} became live meanwhile; it is not removed")
            for path in (
                target.layout.release(release),
                target.layout.manifest(release),
                target.layout.sums(release),
                target.layout.mark(release),
            ):
                target.transport.remove_tree(path)
            outcome, ok = {"removed": release}, True
        else:
            held = locks.read_lock(target.transport, target.layout)
            if held is not None and held.run == fix.args["run"]:
                target.transport.unlock(target.layout.lock)
            outcome, ok = {"cleared": fix.args["run"]}, True
        recorder.record("fix.applied", finding=key, plan=fix.id, ok=ok, **outcome)
    finally:
        target.close()
    if not ok:
        raise ApprovalError(
            f"the fix of {key} was refused by GitHub (HTTP {outcome.get('status')}: "
            f"{outcome.get('message')}); it needs admin rights on the repository"
        )
    after = {f.key: f for f in run_audit(loaded, env_name, (area_of(key),), linters=False).findings}.get(key)
    return {"fix": fix.description, "finding_now": after.status if after else "gone", **outcome}
