"""`workflow.deploy-before-build`: the deploy gets the build of its own commit.

Rows per deploy workflow: it waits for the build it looks up (`workflow_run: completed`,
`gh run watch`, a polling loop); the artifact name it downloads is one some workflow
uploads (`#bundle-name`); an artifact of another workflow is fetched with the `run-id` of
the run that made it (`#run-id`), and one of its own workflow from a job it `needs`.
"""

from __future__ import annotations

import fnmatch
import re

from freigabe.audit.checks.common import basename, deploy_jobs, needs_closure, row, strip_wrappers, timeline
from freigabe.audit.facts import Step, Workflow
from freigabe.core.findings import Finding

_EXPR = re.compile(r"\$\{\{.*?\}\}")  # GitHub expression syntax
_WAIT_ACTIONS = ("lewagon/wait-on-check-action", "fountainhead/action-wait-for-check")


def _pattern(name: str) -> str:
    return _EXPR.sub("*", name).strip()


def _may_match(a: str, b: str) -> bool:
    pa, pb = _pattern(a), _pattern(b)
    return fnmatch.fnmatchcase(pa, pb) or fnmatch.fnmatchcase(pb, pa) or pa.split("*")[0] == pb.split("*")[0] != ""


def _uploads(wf: Workflow) -> list[tuple[str, str]]:
    return [
        (s.with_.get("name", "artifact"), job.id)
        for job in wf.jobs
        for s in job.steps
        if s.action == "actions/upload-artifact"
    ]


def _downloads(wf: Workflow) -> list[tuple[str, Step]]:
    return [
        (job.id, s)
        for job, _, _ in deploy_jobs(wf)
        for s in job.steps
        if s.action in ("actions/download-artifact", "dawidd6/action-download-artifact")
    ]


def _called(wf: Workflow) -> dict[str, str]:
    """Reusable workflows this one calls (`jobs.<id>.uses: ./.github/workflows/x.yml`): file → calling job."""
    return {
        job.uses[2:].split("@")[0]: job.id
        for job in wf.jobs
        if job.uses and job.uses.startswith("./.github/workflows/")
    }


def check_deploy_before_build(workflows: list[Workflow]) -> list[Finding]:
    rows: list[Finding] = []
    uploads = {wf.rel: _uploads(wf) for wf in workflows}
    by_rel = {wf.rel: wf for wf in workflows}
    for wf in workflows:
        # an artifact uploaded by a called workflow is in this run, uploaded by the calling job
        for rel, caller in _called(wf).items():
            if rel in by_rel:
                uploads[wf.rel] = uploads[wf.rel] + [(name, caller) for name, _ in _uploads(by_rel[rel])]
    for wf in workflows:
        deploying = deploy_jobs(wf)
        if not deploying:
            continue
        downloads = _downloads(wf)
        other_run = [
            (job_id, s)
            for job_id, s in downloads
            if "run-id" in s.with_ or s.action.startswith("dawidd6/") or "run_id" in s.with_
        ]
        lookups = [
            o
            for job, _, _ in deploying
            for o in timeline(job)
            if basename(o.cmd.name) == "gh" and o.cmd.words[1:3] in (("run", "list"), ("run", "download"))
        ]
        if lookups or other_run:
            rows.append(_waits_row(wf, lookups[0].line if lookups else other_run[0][1].line))
        for job_id, step in downloads:
            rows += _download_rows(wf, job_id, step, uploads)
    return rows


def _waits_row(wf: Workflow, line: int) -> Finding:
    run = wf.triggers.get("workflow_run")
    triggered = isinstance(run, dict) and ("completed" in str(run.get("types", "")) or not run.get("types"))
    waits_by: str | None = "`workflow_run: completed`" if triggered else None
    if waits_by is None and "workflow_call" in wf.triggers:
        waits_by = "its caller (`workflow_call`)"
    for job in wf.jobs:
        for step in job.steps:
            if step.action in _WAIT_ACTIONS and waits_by is None:
                waits_by = f"`{step.uses}` (line {step.line})"
        for occ in timeline(job):
            words = strip_wrappers(occ.cmd)
            if waits_by is None and words[:3] == ["gh", "run", "watch"]:
                waits_by = f"`gh run watch` (line {occ.line})"
            if waits_by is None and basename(occ.cmd.name) == "gh" and occ.cmd.loops:
                loops = [lp for lp in occ.script.loops if lp.id in occ.cmd.loops and lp.has_sleep]
                if loops:
                    waits_by = f"a polling loop (line {loops[0].line})"
    return row(
        "workflow.deploy-before-build",
        wf,
        "Deploy waits for its build",
        soll="the deploy starts after the build of the same commit finished (workflow_run: completed, or it waits)",
        ist=f"waits for the build: {waits_by}"
        if waits_by
        else "looks up the build's artifact without waiting: a deploy that starts first finds nothing",
        impact="P1",
        ok=waits_by is not None,
        line=line,
        fix="trigger on `workflow_run` (types: [completed]) of the build, or `gh run watch` the build run",
    )


def _download_rows(wf: Workflow, job_id: str, step: Step, uploads: dict[str, list[tuple[str, str]]]) -> list[Finding]:
    rows = []
    wanted = step.with_.get("name") or step.with_.get("pattern")
    line = step.with_lines.get("name", step.line)
    own = [(n, j) for n, j in uploads.get(wf.rel, []) if wanted is None or _may_match(wanted, n)]
    others = [(rel, n) for rel, ups in uploads.items() if rel != wf.rel and rel not in _called(wf) for n, _ in ups]
    elsewhere = [(rel, n) for rel, n in others if wanted is None or _may_match(wanted, n)]
    run_id = step.with_.get("run-id") or step.with_.get("run_id")
    # with a run id the artifact comes from another workflow's run: judge the name against those only
    candidates = [n for _, n in others] if run_id else [n for n, _ in uploads.get(wf.rel, [])]
    made = sorted({_pattern(n) for n in candidates})
    if wanted is not None and (elsewhere or made) if run_id else wanted is not None and (own or made):
        rows.append(
            row(
                "workflow.deploy-before-build",
                wf,
                "Build and deploy agree on the bundle name",
                subject=f"{wf.file}#bundle-name",
                soll="the deploy downloads an artifact name some workflow uploads",
                ist=f"deploy wants {wanted!r}, uploaded as {_pattern((own or [('', '')])[0][0]) or elsewhere[0][1]!r}"
                if own or elsewhere
                else f"deploy wants {wanted!r}…, but the workflows upload {made}",
                impact="P1",
                ok=bool(own or elsewhere),
                line=line,
                fix="use one name in both workflows, e.g. `deployment-bundle-${{ github.sha }}`",
            )
        )
    job = wf.job(job_id)
    if step.action.startswith("dawidd6/"):
        pinned = run_id or step.with_.get("commit")
        rows.append(
            _run_id_row(
                wf,
                step,
                bool(pinned),
                f"`{step.uses}` with `run_id`/`commit`"
                if pinned
                else f"`{step.uses}` takes the latest successful run of the branch, which can be another commit's",
            )
        )
    elif own and not run_id and job is not None:
        uploaders = {j for _, j in own}
        waited = uploaders & (needs_closure(wf, job) | {job_id})
        rows.append(
            _run_id_row(
                wf,
                step,
                bool(waited),
                f"uploaded in this run by job {sorted(waited)[0]!r}, which this job needs"
                if waited
                else f"uploaded in this run by {sorted(uploaders)}, which this job does not `needs:`: "
                "the download can start first",
            )
        )
    elif elsewhere and not own:
        rows.append(
            _run_id_row(
                wf,
                step,
                bool(run_id),
                f"from {elsewhere[0][0]} with `run-id: {run_id}`"
                if run_id
                else f"uploaded by {elsewhere[0][0]} but downloaded without `run-id`: download-artifact looks "
                "only in this run and finds nothing",
            )
        )
    return rows


def _run_id_row(wf: Workflow, step: Step, ok: bool, ist: str) -> Finding:
    return row(
        "workflow.deploy-before-build",
        wf,
        "Artifact comes from the run that built it",
        subject=f"{wf.file}#run-id",
        soll="an artifact of another workflow is downloaded with the run id of the run that uploaded it",
        ist=ist,
        impact="P1",
        ok=ok,
        line=step.line,
        fix="pass `run-id: ${{ github.event.workflow_run.id }}` and `github-token:` to actions/download-artifact",
    )
