"""github.protect: the branch protection policy, applied through the API (`freigabe fix github.branch-protection:…`)."""

from __future__ import annotations

from freigabe.adapters.github import GitHub
from freigabe.core.plan import Step
from freigabe.core.steps import GithubProtect
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import ApprovalError, UsageError


def run(ctx: RunContext, step: Step, args: GithubProtect) -> Outcome:
    if ctx.github is None:
        raise UsageError("no [github] table in freigabe.toml; branch protection cannot be applied")
    with GitHub(ctx.github) as gh:
        answer = gh.put_branch_protection(args.branch, args.body)
    details = {"status": answer.status, "message": answer.message}
    if answer.status != 200:
        raise ApprovalError(
            f"GitHub refused the branch protection of {args.branch} (HTTP {answer.status}: {answer.message}); "
            "it needs admin rights on the repository"
        )
    return Outcome(True, f"branch protection of {args.branch} applied", details)
