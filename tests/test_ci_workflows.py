"""`freigabe ci init`: the workflows it writes pass actionlint, zizmor and freigabe's own audit,
and they really deploy when the fake GitHub runs them against the loopback targets; inside a job
freigabe masks, groups, annotates, summarizes and records GitHub Deployments."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from freigabe.adapters.workflows import find_tool
from freigabe.core.ci_workflows import ACTIONS
from freigabe.usecases.audit import run_audit

from .conftest import TOKEN, CliResult, Project
from .support.pipeline import SHA, Pipeline, pipeline_fixture  # noqa: F401

CORPUS = Path(__file__).parent / "corpus"


def _jobs(path: Path) -> dict[str, dict[str, object]]:
    doc = yaml.safe_load(path.read_text())
    jobs: dict[str, dict[str, object]] = doc["jobs"]
    return jobs


def test_generated_workflows_pass_actionlint_zizmor_and_the_repository_audit(project: Project) -> None:
    toml = project.root / "freigabe.toml"
    text = toml.read_text().replace(
        '[environments.production]\ntarget = "local"',
        '[environments.production]\ntarget = "ssh://deploy@127.0.0.1:2222"',
    )
    toml.write_text(
        text
        + '\n[github]\nrepo = "acme/shop"\n[github.ci]\napproval = { staging = "reviewers", production = "phrase" }\n'
    )
    made = project.cli("ci", "init")
    assert made.exit_code == 0, made.output
    assert "staging: approved by required reviewers" in made.output
    assert (
        "read these repository secrets: FREIGABE_LEDGER_KEY, HEALTHCHECK_TOKEN, FREIGABE_KNOWN_HOSTS, FREIGABE_SSH_KEY"
        in made.output
    )
    assert "freigabe ledger key --new FILE" in made.output  # no key trusted yet: how to make and trust one
    folder = project.root / ".github" / "workflows"
    files = sorted(folder.glob("*.yml"))
    assert [f.name for f in files] == [
        "freigabe-build.yml",
        "freigabe-deploy-production.yml",
        "freigabe-deploy-staging.yml",
    ]
    actionlint, zizmor = find_tool("actionlint"), find_tool("zizmor")
    assert actionlint and zizmor, "the dev extra installs both"
    lint = subprocess.run([actionlint, "-no-color", *map(str, files)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for persona in ("regular", "pedantic"):
        ziz = subprocess.run(
            [zizmor, "--offline", "--persona", persona, "--format", "json", str(folder)], capture_output=True, text=True
        )
        assert json.loads(ziz.stdout or "[]") == [], ziz.stdout
    rows = run_audit(None, None, ("repo",), repo_dir=project.root).findings
    assert rows and all(f.status == "ok" for f in rows), [(f.key, f.status, f.ist) for f in rows if f.status != "ok"]
    # the policies, read from the files themselves
    pinned = {f"{repo}@{sha}" for repo, sha, _ in ACTIONS.values()}
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert doc["permissions"] == {}
        assert "StrictHostKeyChecking" not in path.read_text()
        for job in doc["jobs"].values():
            assert set(job["permissions"]) <= {"contents", "actions"}
            assert all(v == "read" for v in job["permissions"].values())
            assert "env" not in job, "secrets only in the env: of a step"
            for step in job["steps"]:
                if "uses" in step:
                    assert step["uses"] in pinned and re.search(r"@[0-9a-f]{40}$", step["uses"])
                assert "secrets." not in str(step.get("run", "")) and "inputs." not in str(step.get("run", ""))
                for value in (step.get("env") or {}).values():
                    if "secrets." in str(value):
                        assert "run" in step, "a secret goes to the step that uses it"
    deploy = yaml.safe_load((folder / "freigabe-deploy-production.yml").read_text())
    assert deploy["concurrency"] == {"group": "freigabe-deploy-production", "cancel-in-progress": False}
    assert deploy["jobs"]["deploy"]["environment"]["url"].startswith("http://127.0.0.1:")
    ssh = [s for s in deploy["jobs"]["deploy"]["steps"] if "SSH host keys" in str(s.get("name"))]
    assert ssh and ssh[0]["env"]["KNOWN_HOSTS"] == "${{ secrets.FREIGABE_KNOWN_HOSTS }}"
    signing = [s for s in deploy["jobs"]["deploy"]["steps"] if "exec freigabe deploy" in str(s.get("run"))]
    assert signing[0]["env"]["FREIGABE_LEDGER_KEY"] == "${{ secrets.FREIGABE_LEDGER_KEY }}"
    assert all("FREIGABE_LEDGER_KEY" not in str(job) for name, job in deploy["jobs"].items() if name != "deploy")
    staging = yaml.safe_load((folder / "freigabe-deploy-staging.yml").read_text())
    assert (
        staging["jobs"]["deploy"]["needs"] == "plan" and "plan_id" not in staging[True]["workflow_dispatch"]["inputs"]
    )
    assert set(deploy[True]["workflow_dispatch"]["inputs"]) == {"build_run_id", "plan_id", "plan_run_id", "approve"}
    again = project.cli("ci", "init")
    assert again.exit_code == 2 and "--force" in again.output


def test_the_pipeline_deploys_staging_after_the_reviewer_approves(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    build = pipeline.build()
    assert [a["name"] for a in gh.artifacts[build]] == [f"deployment-bundle-{SHA}"]
    rid = pipeline.dispatch("freigabe-deploy-staging.yml", {"build_run_id": str(build)})
    run = pipeline.finish(rid)
    assert run["conclusion"] == "success", pipeline.log_text(rid)
    assert project.current() == project.served() and str(project.current()).endswith(SHA[:8])
    assert "v1" in project.served_version()
    log = pipeline.log_text(rid)
    assert "##[group][" in log and "✔ switch" in log and "✔ health.health" in log
    assert TOKEN not in pipeline.raw_text(rid), "freigabe itself never prints the token"
    summaries = gh.summaries[rid]
    assert any("SOLL" in text for key, text in summaries.items() if key.startswith("plan/"))
    assert any("Evidence — run" in text for key, text in summaries.items() if key.startswith("deploy/"))
    # the job's environment: recorded the deployment; freigabe did not add a second one
    deployments = [d for d in gh.deployments if d["environment"] == "staging"]
    assert len(deployments) == 1 and deployments[0]["creator"]["login"] == "github-actions[bot]"
    states = [s["state"] for s in gh.statuses[deployments[0]["id"]]]
    assert states == ["success", "in_progress"]
    assert gh.statuses[deployments[0]["id"]][0]["environment_url"] == project.servers["staging"].url
    ledger = next(a for a in gh.artifacts[rid] if a["name"] == f"deployment-ledger-{rid}")
    with zipfile.ZipFile(io.BytesIO(gh.blobs[f"artifact-{ledger['id']}"])) as zf:
        assert "ledger/staging.jsonl" in zf.namelist()


def _plan_id(pipeline: Pipeline, rid: int) -> str:
    match = re.search(r"plan id ([0-9a-f]{64})", pipeline.log_text(rid))
    assert match, pipeline.log_text(rid)
    return match.group(1)


def test_phrase_approval_is_a_second_dispatch_bound_to_the_plan_id(pipeline: Pipeline) -> None:
    project = pipeline.project
    build = pipeline.build()
    planned = pipeline.dispatch("freigabe-deploy-production.yml", {"build_run_id": str(build)})
    assert pipeline.finish(planned)["conclusion"] == "success", pipeline.log_text(planned)
    assert project.current("production") is None, "a run without a plan id only plans"
    assert next(j for j in pipeline.gh.jobs[planned] if j["name"] == "deploy")["conclusion"] == "skipped"
    plan_id = _plan_id(pipeline, planned)
    inputs = {"build_run_id": str(build), "plan_id": plan_id, "plan_run_id": str(planned)}
    wrong = pipeline.dispatch("freigabe-deploy-production.yml", {**inputs, "approve": "STAGING-TEST FREIGEGEBEN"})
    assert pipeline.finish(wrong)["conclusion"] == "failure"
    assert "does not approve this plan" in pipeline.log_text(wrong) and project.current("production") is None
    right = pipeline.dispatch("freigabe-deploy-production.yml", {**inputs, "approve": "PROD-DEPLOY FREIGEGEBEN"})
    assert pipeline.finish(right)["conclusion"] == "success", pipeline.log_text(right)
    assert str(project.current("production")).endswith(SHA[:8]) and "v1" in project.served_version("production")
    again = pipeline.dispatch("freigabe-deploy-production.yml", {**inputs, "approve": "PROD-DEPLOY FREIGEGEBEN"})
    assert pipeline.finish(again)["conclusion"] == "failure" and "already ran" in pipeline.log_text(again)


def test_inside_a_job_freigabe_masks_groups_annotates_and_records_deployments(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project, gh = pipeline.project, pipeline.gh
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_SHA": SHA,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "4242",
    }.items():
        monkeypatch.setenv(name, value)
    shutil.copy(CORPUS / "51-askproai-staging-jq-null.yml", project.root / ".github/workflows/deploy-old.yml")
    bundle = project.build("v1")
    plan = project.cli("plan", "staging", "--bundle", str(bundle.path))
    assert plan.exit_code == 0, plan.output
    first = plan.raw.splitlines()[0]
    assert first == f"::add-mask::{TOKEN}", "secrets are masked before anything prints"
    assert TOKEN not in plan.raw.replace(f"::add-mask::{TOKEN}", "")
    jq = [line for line in plan.raw.splitlines() if line.startswith("::") and "jq-null-guard" in line]
    assert jq and re.match(
        r"::error file=\.github/workflows/deploy-old\.yml,line=\d+,title=workflow\.jq-null-guard%3Adeploy-old\.yml::",
        jq[0],
    ), jq
    assert "NO-GO" in summary.read_text()
    (project.root / ".github/workflows/deploy-old.yml").unlink()
    assert project.cli("plan", "staging", "--bundle", str(bundle.path)).exit_code == 0
    plan_id = re.search(r"plan_id=([0-9a-f]{64})\n$", output.read_text())
    assert plan_id and "SOLL" in summary.read_text()
    done = project.cli("deploy", "staging", "--plan", plan_id.group(1), "--approve", "STAGING-TEST FREIGEGEBEN")
    assert done.exit_code == 0, done.output
    assert "::group::[1/" in done.raw and "::endgroup::" in done.raw
    assert "Evidence — run" in summary.read_text()
    first_dep = gh.deployments[0]
    assert first_dep["environment"] == "staging" and first_dep["creator"]["login"] == "octocat"
    assert [s["state"] for s in gh.statuses[first_dep["id"]]] == ["success", "in_progress"]
    assert gh.statuses[first_dep["id"]][0]["log_url"] == "https://github.com/acme/shop/actions/runs/4242"
    # the next deploy's success marks the replaced deployment inactive

    def deploy(version: str, healthy: bool = True) -> CliResult:
        made = project.cli("plan", "staging", "--bundle", str(project.build(version, healthy).path))
        assert made.exit_code == 0, made.output
        plan = output.read_text().strip().splitlines()[-1].removeprefix("plan_id=")
        return project.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")

    failed = deploy("v2", healthy=False)
    assert failed.exit_code == 5 and "::error title=health.health (rollback)::" in failed.raw
    assert [s["state"] for s in gh.statuses[gh.deployments[0]["id"]]] == ["failure", "in_progress"]
    assert deploy("v3").exit_code == 0
    assert gh.statuses[first_dep["id"]][0]["state"] == "inactive"
    assert "::error title=freigabe::" in project.cli("deploy", "staging", "--plan", "0" * 12, "--approve", "x").raw
