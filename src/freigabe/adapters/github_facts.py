"""What GitHub shows about the repository, read through its REST API for the GitHub audit. Read-only."""

from __future__ import annotations

from freigabe.adapters.github import Answer as Response
from freigabe.adapters.github import GitHub, GitHubError
from freigabe.audit.github import Answer, BranchFacts, GitHubFacts
from freigabe.config.models import GitHubConfig


def _answer(response: Response) -> Answer:
    return Answer(response.status, response.body)


def gather(gh: GitHub, sha: str | None) -> GitHubFacts:
    cfg = gh.config
    facts = GitHubFacts(gh.authenticated, sha=sha)
    for branch in cfg.branches:
        facts.branches.append(
            BranchFacts(branch, _answer(gh.branch_protection(branch)), _answer(gh.branch_rules(branch)))
        )
    try:
        facts.workflows = gh.workflows()
    except GitHubError as exc:
        facts.errors["workflows"] = exc.message
    for wf in cfg.deploy_workflows:
        try:
            facts.runs[wf] = gh.runs(wf, cfg.recent_runs)
        except GitHubError as exc:
            facts.errors[f"runs:{wf}"] = exc.message
    if sha:
        try:
            facts.build_runs = gh.runs(cfg.build_workflow, 20, head_sha=sha)
            good = [r for r in facts.build_runs if r.get("status") == "completed" and r.get("conclusion") == "success"]
            if good:
                facts.artifacts = gh.artifacts(int(good[0]["id"]))
                for art in facts.artifacts:
                    if str(art.get("name", "")).startswith(cfg.bundle_prefix) and not art.get("expired"):
                        facts.downloads[int(art["id"])] = gh.artifact_download(int(art["id"])).status
        except GitHubError as exc:
            facts.errors["build"] = exc.message
    return facts


def read(cfg: GitHubConfig, sha: str | None) -> GitHubFacts:
    with GitHub(cfg) as gh:
        return gather(gh, sha)
