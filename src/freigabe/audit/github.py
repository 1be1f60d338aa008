"""GitHub audit: the facts GitHub shows (gathered by `adapters.github_facts`) and pure checks on them:
branch protection (classic + rulesets), workflows, recent runs, build artifact."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from freigabe.config.models import BranchPolicy, GitHubConfig
from freigabe.core.findings import Finding, Impact, finding
from freigabe.core.words import plural

ADMIN_READ = (
    "a token with the repository permission 'Administration: read' (fine-grained) or admin "
    "rights on the repository (classic token with `repo` scope)"
)


@dataclass(frozen=True)
class Answer:
    """What GitHub answered to one request: the status and the JSON body, as facts."""

    status: int
    body: Any

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


@dataclass
class BranchFacts:
    branch: str
    classic: Answer
    rules: Answer


@dataclass
class GitHubFacts:
    authenticated: bool
    branches: list[BranchFacts] = field(default_factory=list)
    workflows: list[dict[str, Any]] | None = None
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    build_runs: list[dict[str, Any]] | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    downloads: dict[int, int] = field(default_factory=dict)  # artifact id → HTTP status of /zip
    sha: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- checks (pure)


def _classic_checks(body: dict[str, Any]) -> tuple[set[str], bool, bool]:
    rsc = body.get("required_status_checks") or {}
    contexts = set(rsc.get("contexts") or []) | {c.get("context") for c in rsc.get("checks") or [] if c.get("context")}
    reviews = bool(body.get("required_pull_request_reviews"))
    return contexts, reviews, bool(rsc.get("strict"))


def _ruleset_checks(rules: list[dict[str, Any]]) -> tuple[set[str], bool, bool]:
    contexts: set[str] = set()
    reviews = strict = False
    for rule in rules:
        params = rule.get("parameters") or {}
        if rule.get("type") == "required_status_checks":
            contexts |= {c.get("context") for c in params.get("required_status_checks") or [] if c.get("context")}
            strict = strict or bool(params.get("strict_required_status_checks_policy"))
        elif rule.get("type") == "pull_request":
            reviews = reviews or int(params.get("required_approving_review_count") or 0) > 0
    return contexts, reviews, strict


def check_branch(b: BranchFacts, policy: BranchPolicy, repo: str) -> Finding:
    want = set(policy.required_checks)
    need = max(policy.min_checks, len(want))
    soll = (
        f"{plural(need, 'required check')}"
        + (f" ({', '.join(sorted(want))})" if want else "")
        + (", reviews" if policy.require_reviews else "")
        + (", up to date" if policy.require_up_to_date else "")
    )
    impact: Impact = "P0" if b.branch in ("main", "master") else "P1"
    row = functools.partial(
        finding,
        "github.branch-protection",
        "github",
        f"Branch protection ({b.branch})",
        subject=b.branch,
        soll=soll,
        impact=impact,
    )
    if b.rules.status != 200 and b.classic.status != 200 and b.classic.message != "Branch not protected":
        return row(
            ist=f"cannot be read (HTTP {b.classic.status}: {b.classic.message})",
            ok=False,
            status="pending",
            fix=f"run the audit with {ADMIN_READ}",
        )
    contexts: set[str] = set()
    reviews = strict = False
    sources = []
    unknown_classic = False
    if b.classic.status == 200 and isinstance(b.classic.body, dict):
        c, r, s = _classic_checks(b.classic.body)
        contexts, reviews, strict = contexts | c, reviews or r, strict or s
        sources.append("classic")
    elif b.classic.message != "Branch not protected":
        unknown_classic = True  # 403, or a 404 that hides a resource we may not read
    if b.rules.status == 200 and isinstance(b.rules.body, list) and b.rules.body:
        c, r, s = _ruleset_checks(b.rules.body)
        contexts, reviews, strict = contexts | c, reviews or r, strict or s
        sources.append("rulesets")
    missing = sorted(want - contexts)
    problems = []
    if missing:
        problems.append(f"missing required checks: {', '.join(missing)}")
    if len(contexts) < need:
        problems.append(f"{len(contexts)} of ≥{need} required checks")
    if policy.require_reviews and not reviews:
        problems.append("reviews not required")
    if policy.require_up_to_date and not strict:
        problems.append("'require up to date' is off")
    evidence = {"required_checks": sorted(contexts), "reviews": reviews, "strict": strict, "sources": sources}
    fix = f"`freigabe fix github.branch-protection:{b.branch}` applies the policy (needs admin rights)"
    if not sources and not unknown_classic:
        return row(
            ist="not protected (404 Branch not protected, no ruleset applies)",
            ok=False,
            fix=fix,
            evidence=evidence,
        )
    if unknown_classic and problems:
        return row(
            ist=f"classic protection unreadable (HTTP {b.classic.status}); rulesets: " + "; ".join(problems),
            ok=False,
            status="pending",
            fix=f"run the audit with {ADMIN_READ}",
            evidence=evidence,
        )
    return row(
        ist="; ".join(problems)
        if problems
        else f"{plural(len(contexts), 'required check')} ({'+'.join(sources)})" + (", reviews" if reviews else ""),
        ok=not problems,
        fix=fix,
        evidence=evidence,
    )


def check_workflows(f: GitHubFacts, cfg: GitHubConfig) -> list[Finding]:
    if f.workflows is None:
        return [
            finding(
                "github.workflows",
                "github",
                "Workflow inventory",
                soll="workflows readable",
                ist=f.errors.get("workflows", "unreadable"),
                impact="P2",
                ok=False,
                status="pending",
                fix="a token with 'Actions: read'",
            )
        ]
    inventory = [
        {"name": w.get("name"), "file": str(w.get("path", "")).rsplit("/", 1)[-1], "state": w.get("state")}
        for w in f.workflows
    ]
    files = {w["file"]: w for w in inventory}
    problems = [
        f"{name} is {'missing' if name not in files else files[name]['state']}"
        for name in [cfg.build_workflow, *cfg.deploy_workflows]
        if name not in files or files[name]["state"] != "active"
    ]
    return [
        finding(
            "github.workflows",
            "github",
            "Workflow inventory",
            soll="build and deploy workflows present and active",
            ist="; ".join(problems) if problems else f"{plural(len(inventory), 'workflow')}, build and deploy active",
            impact="P1",
            ok=not problems,
            evidence={"workflows": inventory},
            fix="enable or add the workflow named in [github]",
        )
    ]


def check_recent_runs(f: GitHubFacts, cfg: GitHubConfig) -> list[Finding]:
    rows = []
    for wf in cfg.deploy_workflows:
        runs = f.runs.get(wf)
        if runs is None:
            rows.append(
                finding(
                    "github.recent-runs",
                    "github",
                    f"Recent runs ({wf})",
                    subject=wf,
                    soll="readable",
                    ist=f.errors.get(f"runs:{wf}", "unreadable"),
                    impact="P1",
                    ok=False,
                    status="pending",
                    fix="a token with 'Actions: read'",
                )
            )
            continue
        done = [r for r in runs if r.get("status") == "completed"]
        streak = 0
        for run in done:
            if run.get("conclusion") == "success":
                break
            streak += 1
        table = [
            {k: r.get(k) for k in ("id", "head_sha", "conclusion", "status", "created_at", "html_url")} for r in runs
        ]
        failing = streak >= cfg.failed_in_a_row
        rows.append(
            finding(
                "github.recent-runs",
                "github",
                f"Recent runs ({wf})",
                subject=wf,
                soll=f"fewer than {cfg.failed_in_a_row} failed runs in a row",
                ist=(
                    f"the last {streak} runs failed"
                    if failing
                    else f"{plural(len(done), 'recent run')}, {sum(r.get('conclusion') == 'success' for r in done)} "
                    "succeeded"
                )
                if done
                else "no completed runs",
                impact="P1",
                ok=not failing,
                evidence={"runs": table},
                fix="find the root cause of the failures before deploying (the runs' logs)",
            )
        )
    return rows


def check_build_artifact(f: GitHubFacts, cfg: GitHubConfig) -> list[Finding]:
    if not f.sha:
        return []
    row = functools.partial(
        finding,
        "github.build-artifact",
        "github",
        "Build artifact for the commit",
        impact="P0",
        soll=f"a successful {cfg.build_workflow} run for {f.sha[:12]} with an unexpired {cfg.bundle_prefix}… artifact",
    )
    if f.build_runs is None:
        return [
            row(
                ist=f.errors.get("build", "unreadable"),
                ok=False,
                status="pending",
                fix="a token with 'Actions: read'",
            )
        ]
    good = [r for r in f.build_runs if r.get("status") == "completed" and r.get("conclusion") == "success"]
    if not good:
        states = ", ".join(f"{r.get('status')}/{r.get('conclusion')}" for r in f.build_runs) or "none"
        return [
            row(
                ist=f"no successful build run for this commit (runs: {states})",
                ok=False,
                fix="wait for the build to finish (or re-run it) before deploying",
            )
        ]
    bundles = [a for a in f.artifacts if str(a.get("name", "")).startswith(cfg.bundle_prefix)]
    live = [a for a in bundles if not a.get("expired") and f.downloads.get(int(a["id"])) == 302]
    if live:
        art = live[0]
        return [
            row(
                ist=f"run {good[0]['id']} has {art['name']} ({art.get('size_in_bytes')} bytes)",
                ok=True,
                evidence={"run": good[0]["id"], "artifact": art.get("id")},
            )
        ]
    if bundles:
        gone = [a for a in bundles if a.get("expired") or f.downloads.get(int(a["id"])) == 410]
        why = "expired (410 Gone)" if gone else "not downloadable"
        return [
            row(
                ist=f"{bundles[0]['name']} is {why}",
                ok=False,
                fix="re-run the build; raise retention-days if bundles expire before deploys",
            )
        ]
    return [
        row(
            ist=f"run {good[0]['id']} has no {cfg.bundle_prefix}… artifact "
            f"(artifacts: {', '.join(a.get('name', '?') for a in f.artifacts) or 'none'})",
            ok=False,
            fix="upload the bundle as an artifact named like the deploy expects",
        )
    ]


def evaluate(f: GitHubFacts, cfg: GitHubConfig) -> list[Finding]:
    rows = [check_branch(b, cfg.branches[b.branch], cfg.repo) for b in f.branches]
    return rows + check_workflows(f, cfg) + check_recent_runs(f, cfg) + check_build_artifact(f, cfg)
