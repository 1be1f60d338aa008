"""Checks on the shape of the workflows: they parse, names are unique, called workflows accept
the call, a `workflow_run` deploy requires a successful build, a deploy job has `concurrency:`
and `environment:`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from freigabe.audit.checks.common import deploy_jobs, needs_closure, row
from freigabe.audit.facts import Job, Workflow
from freigabe.core.findings import Finding, finding


def check_parse_errors(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        if wf.error:
            rows.append(
                finding(
                    "workflow.parse",
                    "repo",
                    f"Workflow file parses ({wf.file})",
                    subject=wf.file,
                    soll="a YAML mapping with `on:` and `jobs:`",
                    ist=wf.error,
                    impact="P1",
                    ok=False,
                    fix="fix the file so GitHub can run it (or delete it)",
                    location=wf.rel,
                    evidence={"excerpt": wf.error, "line": 0},
                )
            )
        for job in wf.jobs:
            for step in job.steps:
                for script in step.scripts():
                    if script.error:
                        rows.append(
                            row(
                                "workflow.shell-parse",
                                wf,
                                "Script parses",
                                subject=f"{wf.file}:{script.line}",
                                soll="every script is shell the audit can read",
                                ist=f"{wf.rel}: the shell parser cannot read the script at line {script.line} "
                                f"({script.error}); checks of this script may miss things",
                                impact="P2",
                                ok=False,
                                warn=True,
                                line=script.line,
                                fix="check the script with `bash -n` or shellcheck",
                            )
                        )
    return rows


def check_duplicate_names(workflows: list[Workflow]) -> list[Finding]:
    readable = [wf for wf in workflows if not wf.error]
    if not readable:
        return []
    by_name: dict[str, list[str]] = defaultdict(list)
    for wf in readable:
        by_name[wf.name].append(wf.file)
    dupes = {name: files for name, files in by_name.items() if len(files) > 1}
    text = "; ".join(f"{name!r}: {', '.join(files)}" for name, files in dupes.items())
    first = next((wf for wf in readable if wf.name in dupes), readable[0])
    line = next((i for i, ln in enumerate(first.lines, start=1) if ln.startswith("name:")), 0)
    return [
        finding(
            "workflow.duplicate-name",
            "repo",
            "Workflow names are unique",
            soll="one workflow per display name (tools that address workflows by name pick one)",
            ist=f"shared names — {text}" if dupes else f"{len(readable)} workflows, all names unique",
            impact="P2",
            ok=not dupes,
            fix="rename or remove the duplicate, and address workflows by file (`gh workflow run deploy.yml`)",
            location=f"{first.rel}:{line}" if dupes and line else None,
            evidence={"duplicates": dupes, "excerpt": first.excerpt(line) if dupes else "", "line": line},
        )
    ]


def check_call_triggers(workflows: list[Workflow]) -> list[Finding]:
    """A workflow called with `uses: ./.github/workflows/x.yml` must declare `workflow_call`."""
    by_rel = {wf.rel: wf for wf in workflows}
    rows = []
    for wf in workflows:
        for job in wf.jobs:
            target = job.uses
            if not target or not target.startswith("./"):
                continue
            callee_rel = target[2:].split("@")[0]
            callee = by_rel.get(callee_rel)
            ok = callee is not None and "workflow_call" in callee.triggers
            rows.append(
                finding(
                    "workflow.call-trigger",
                    "repo",
                    f"Called workflow accepts the call ({Path(callee_rel).name})",
                    subject=Path(callee_rel).name,
                    soll="a reusable workflow declares `on: workflow_call`",
                    ist="declared"
                    if ok
                    else (
                        "the file does not exist"
                        if callee is None
                        else "no `workflow_call` trigger: every run fails with 'workflow file issue'"
                    ),
                    impact="P1",
                    ok=ok,
                    fix="add `workflow_call:` to its `on:`",
                    location=f"{wf.rel}:{job.line}",
                    evidence={"caller": wf.file, "job": job.id, "excerpt": f"uses: {target}", "line": job.line},
                )
            )
    return rows


def _requires_success(wf: Workflow, job: Job) -> str | None:
    """Where the job (or a job it needs, or a step before the deploy) requires a successful build."""
    chain = [job] + [j for j in (wf.job(n) for n in needs_closure(wf, job)) if j is not None]
    for candidate in chain:
        condition = (candidate.if_ or "").replace('"', "'")
        if "workflow_run.conclusion" in condition and "'success'" in condition and "!=" not in condition:
            return f"`if: {candidate.if_}` on job {candidate.id!r} (line {candidate.line})"
        for step in candidate.steps:
            text = f"{step.if_ or ''} {step.script.text if step.script else ''}"
            if (
                "workflow_run.conclusion" in text
                and "success" in text
                and ("exit 1" in text or "failure" in text or "!=" in text)
            ):
                return f"step {step.label!r} (line {step.line}) stops unless the build succeeded"
    return None


def check_workflow_run_success(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        if "workflow_run" not in wf.triggers:
            continue
        for job, _, line in deploy_jobs(wf):
            where = _requires_success(wf, job)
            # a pull-request preview that shows a failed build is what previews are for: advice only
            # the wrong thing is shipped only where the job takes code: a checkout or a downloaded build
            ships = any(
                s.action in ("actions/checkout", "actions/download-artifact", "dawidd6/action-download-artifact")
                for s in job.steps
            )
            preview = "workflow_run.event == 'pull_request'" in (job.if_ or "").replace('"', "'") or any(
                "preview" in text.lower() for text in (wf.name, job.id, job.name)
            )
            rows.append(
                row(
                    "workflow.workflow-run-success",
                    wf,
                    "workflow_run deploy requires a successful build",
                    subject=f"{wf.file}#{job.id}",
                    soll="a deploy started by `workflow_run` runs only when `github.event.workflow_run.conclusion "
                    "== 'success'`",
                    ist=f"required by {where}"
                    if where
                    else f"job {job.id!r} deploys whatever the build's conclusion: `workflow_run` fires on failed "
                    "and cancelled builds too"
                    + (" (a pull-request preview, so advice)" if preview else "")
                    + ("" if ships or preview else " (it takes no code from the build, so it changes the host only)"),
                    impact="P2" if preview else "P0" if ships else "P1",
                    ok=where is not None,
                    line=job.line,
                    fix="add `if: github.event.workflow_run.conclusion == 'success'` to the deploy job",
                    deploys_at=line,
                )
            )
    return rows


def check_deploy_job_guards(workflows: list[Workflow]) -> list[Finding]:
    """A deploy job names its `environment:` (protection rules, secrets per stage) and has a
    `concurrency:` group (two deploys at once interleave their switches). Advice: P2."""
    rows = []
    for wf in workflows:
        for job, reason, line in deploy_jobs(wf):
            if job.concurrency:
                ist = f"group `{job.concurrency}`"
                if job.cancel_in_progress:
                    ist += ", but `cancel-in-progress: true` can stop a deploy half-way through its switch"
            else:
                ist = f"job {job.id!r} {reason} (line {line}) without a `concurrency:` group: two runs deploy at once"
            rows.append(
                row(
                    "workflow.deploy-concurrency",
                    wf,
                    "One deploy at a time",
                    subject=f"{wf.file}#{job.id}",
                    soll="a deploy job is in a `concurrency:` group that does not cancel a running deploy",
                    ist=ist,
                    impact="P2",
                    ok=bool(job.concurrency) and not job.cancel_in_progress,
                    line=job.line,
                    fix="add `concurrency: { group: deploy-${{ inputs.environment || 'production' }}, "
                    "cancel-in-progress: false }`",
                )
            )
            rows.append(
                row(
                    "workflow.deploy-environment",
                    wf,
                    "Deploy job names its environment",
                    subject=f"{wf.file}#{job.id}",
                    soll="a deploy job declares `environment:` (protection rules, reviewers, per-stage secrets)",
                    ist=f"environment `{job.environment}`" if job.environment else f"job {job.id!r} has no environment",
                    impact="P2",
                    ok=bool(job.environment),
                    line=job.line,
                    fix="add `environment: production` (or staging) and protect it in the repository settings",
                )
            )
    return rows
