"""`freigabe e2e`: drives the fake GitHub's real runs and verifies on the target itself.

Each scenario of the issue is one test: a real switch, a failed health check with rollback
(production stays blocked), a run cancelled mid-way (SIGINT, then the kill after GitHub's
grace), a build that never succeeds, a reviewer who never approves, and a deploy workflow that
reports success while the server still serves the old release.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from freigabe.errors import ExitCode

from .conftest import TOKEN, Project
from .support.pipeline import API_TOKEN, SHA, Pipeline, pipeline_fixture  # noqa: F401
from .support.sshd import Sshd

SHA2 = "badc0de0" + "5e6f7a8b" * 4
TEAM_WORKFLOW = """name: Deploy to Staging
on:
  workflow_dispatch:
    inputs:
      build_run_id:
        required: true
        type: string
permissions: {}
jobs:
  deploy:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - name: Pre-switch gates
        run: |
          echo "Verifying release structure before migrations..."
          echo "All pre-switch gates PASSED"
      - name: Switch symlink
        run: echo "Symlink switched to new release"
      - name: Clear caches
        run: echo "All Laravel caches cleared"
      - name: Reload PHP-FPM
        run: echo "PHP-FPM reloaded - OPcache cleared"
      - name: Health checks
        run: |
          echo "Attempt 1/6: /health -> HTTP 200"
          echo "Attempt 1/6: /api/health-check -> HTTP 200"
          echo "/healthcheck.php -> HTTP 200"
      - name: Vite assets
        run: echo "Vite assets are accessible"
"""


def _evidence(project: Project) -> dict[str, Any]:
    folder = sorted((project.root / ".freigabe/e2e/runs").iterdir())[-1]
    data: dict[str, Any] = json.loads((folder / "evidence.json").read_text())
    return data


def _ledger_events(project: Project, env: str = "staging") -> list[str]:
    return [e["event"] for e in project.ledger(env)]


def test_a_real_switch_is_verified_on_the_target(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    plan = pipeline.e2e_plan("staging", "--sha", SHA)
    assert plan.exit_code == 0, plan.output
    assert "POST /repos/acme/shop/actions/workflows/freigabe-build.yml/dispatches" in plan.output
    assert "nothing is changed there" in plan.output and "To run: freigabe e2e staging --plan" in plan.output
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == 0, result.output
    assert "E2E staging: PASS" in result.output and "waiting for a reviewer of environment staging" in result.output
    assert "build · 5 Build, tests, layer-1 gates, bundle success" in result.output  # live progress
    assert str(project.current()).endswith(SHA[:8]) and project.served() == project.current()
    ev = _evidence(project)
    assert ev["verdict"]["verdict"] == "PASS" and ev["symlink"] == {"before": None, "after": project.current()}
    assert [g["state"] for g in ev["gates"]] == ["seen"] * len(ev["gates"]) and len(ev["gates"]) == 6
    assert ev["deploy"]["html_url"].startswith("https://github.com/acme/shop/actions/runs/")
    assert ev["ledger"]["ok"] and "the same on the target" in ev["ledger"]["detail"]
    started = [e["data"] for e in project.ledger() if e["event"] == "run.started"]
    assert ev["bundle_sha256"] and started[-1]["bundle"]["sha256"] == ev["bundle_sha256"]
    assert ev["api_calls"] == len(ev["calls"]) > 10
    assert all(call.split(" ", 1)[1].startswith(("/repos/acme/shop/", "http")) for call in ev["calls"])
    folder = sorted((project.root / ".freigabe/e2e/runs").iterdir())[-1]
    for path in folder.iterdir():
        if path.suffix in (".json", ".md"):
            assert TOKEN not in path.read_text() and API_TOKEN not in path.read_text()
    tokens = {f"Bearer {API_TOKEN}", f"Bearer {gh.token}"}  # e2e's, and the runner's inside the workflow
    assert all(auth in tokens for _, path, _, auth in gh.requests if path.startswith("/repos"))
    assert gh.blob_requests and all(auth is None for _, auth in gh.blob_requests), "no token after a redirect"
    # a plan runs once, and another plan's phrase is refused
    again = project.cli("e2e", "staging", "--plan", ev["plan"], "--approve", "STAGING-TEST FREIGEGEBEN")
    assert again.exit_code == ExitCode.APPROVAL and "already ran" in again.output
    fresh = json.loads(project.cli("e2e", "staging", "--sha", SHA, "--json").raw)
    assert fresh["build_run_id"] is not None, "the successful build for the commit is found, not dispatched again"
    wrong = project.cli("e2e", "staging", "--plan", fresh["id"], "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert wrong.exit_code == ExitCode.APPROVAL and "does not approve this plan" in wrong.output


def test_a_failed_health_check_rolls_back_and_production_stays_blocked(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    assert pipeline.e2e("staging", "--sha", SHA).exit_code == 0
    good = project.current()
    project.write("v2", healthy=False)
    gh.heads["main"] = SHA2
    result = pipeline.e2e("staging", "--sha", SHA2)
    assert result.exit_code == ExitCode.E2E_FAILED, result.output
    assert "E2E staging: FAIL" in result.output and "rolled back" in result.output
    assert f"{good} is live again and healthy" in result.output
    assert project.current() == good and project.served() == good and "v1" in project.served_version()
    assert "rollback.verified" in _ledger_events(project)
    ev = _evidence(project)
    assert ev["verdict"]["rolled_back"] and ev["deploy"]["conclusion"] == "failure"
    assert "Deploy (approved plan only)" in ev["deploy"]["failed_step"]
    health = next(g for g in ev["gates"] if g["name"].startswith("health"))
    assert health["state"] == "contradicted"
    # production stays blocked: its E2E plan is NO-GO and cannot be approved
    plan = pipeline.e2e_plan("production", "--json")
    made = json.loads(plan.raw)
    assert made["decision"]["verdict"] == "NO-GO" and "e2e.source-passed:staging" in made["decision"]["blocking"]
    shown = pipeline.e2e_plan("production")
    assert "the last E2E of staging did not pass" in shown.output and "rolled back" in shown.output
    refused = project.cli("e2e", "production", "--plan", made["id"], "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert refused.exit_code == ExitCode.APPROVAL and "NO-GO" in refused.output
    assert project.current("production") is None


def _start_e2e(pipeline: Pipeline, sha: str) -> subprocess.Popen[str]:
    project = pipeline.project
    made = json.loads(project.cli("e2e", "staging", "--sha", sha, "--json").raw)
    argv = [sys.executable, "-m", "freigabe", "e2e", "staging", "--plan", made["id"], "--approve"]
    return subprocess.Popen(
        [*argv, "STAGING-TEST FREIGEGEBEN", "--config", str(project.root / "freigabe.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _paused(folder: Path, point: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not (folder / f"{point}.paused").exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, f"the deploy never reached {point}"
        time.sleep(0.05)


def _deploy_run(pipeline: Pipeline) -> int:
    runs = pipeline.gh.runs["freigabe-deploy-staging.yml"]
    return int(runs[0]["id"])


def test_a_run_cancelled_after_the_switch_rolls_back_and_e2e_says_so(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project, gh = pipeline.project, pipeline.gh
    assert pipeline.e2e("staging", "--sha", SHA).exit_code == 0
    good = project.current()
    points = tmp_path / "points"
    points.mkdir()
    monkeypatch.setenv("FREIGABE_FAILPOINTS", "step.before:readiness=pause")
    monkeypatch.setenv("FREIGABE_FAILPOINT_DIR", str(points))
    project.write("v2")
    gh.heads["main"] = SHA2
    proc = _start_e2e(pipeline, SHA2)
    _paused(points, "step.before:readiness", proc)
    assert project.current() != good  # switched: the new release is live, not yet verified
    rid = _deploy_run(pipeline)
    import httpx

    assert httpx.post(f"{pipeline.api}/actions/runs/{rid}/cancel", timeout=10).status_code == 202
    output = " ".join(proc.communicate(timeout=180)[0].split())
    assert proc.returncode == ExitCode.E2E_FAILED, output
    assert "ended cancelled" in output and f"{good} is live again and healthy" in output
    assert project.current() == good and project.served() == good
    events = _ledger_events(project)
    assert "run.interrupted" in events and "rollback.verified" in events
    interrupted = [e for e in project.ledger() if e["event"] == "run.interrupted"][-1]
    assert interrupted["data"]["signal"] == "SIGINT", "GitHub's runner sends SIGINT first"
    assert gh.run_by_id[rid]["conclusion"] == "cancelled"
    step = pipeline.step(rid, "deploy", "Deploy (approved plan only)")
    assert step["conclusion"] == "cancelled" and step["completed_at"]
    assert "Process completed with exit code 5" in pipeline.log_text(rid)


def test_a_run_killed_after_the_grace_leaves_a_state_e2e_names(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project, gh = pipeline.project, pipeline.gh
    assert pipeline.e2e("staging", "--sha", SHA).exit_code == 0
    good = project.current()
    points = tmp_path / "points"
    points.mkdir()
    # held inside the switch's critical section: SIGINT and SIGTERM wait, the kill does not
    monkeypatch.setenv("FREIGABE_FAILPOINTS", "switch.recorded-before=pause")
    monkeypatch.setenv("FREIGABE_FAILPOINT_DIR", str(points))
    gh.grace = (0.5, 0.5)
    project.write("v2")
    gh.heads["main"] = SHA2
    proc = _start_e2e(pipeline, SHA2)
    _paused(points, "switch.recorded-before", proc)
    rid = _deploy_run(pipeline)
    import httpx

    assert httpx.post(f"{pipeline.api}/actions/runs/{rid}/cancel", timeout=10).status_code == 202
    output = " ".join(proc.communicate(timeout=180)[0].split())
    assert proc.returncode == ExitCode.E2E_FAILED, output
    assert "The operation was canceled." in pipeline.log_text(rid)  # the runner killed the tree
    assert project.current() != good, "killed after the rename: the new release is live, unrecorded"
    assert "freigabe unlock staging" in output or "freigabe recover staging" in output, output
    assert "E2E staging: FAIL" in output


def test_a_build_that_never_succeeds_times_out_and_is_cancelled(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    pipeline.configure(build_timeout="3s")
    manage = project.app / "manage.py"
    manage.write_text("import time\ntime.sleep(300)\n" + manage.read_text())
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == ExitCode.E2E_TIMEOUT, result.output
    assert "is still in_progress after 3 s; e2e cancelled it" in result.output
    assert "staging still serves nothing" in result.output
    build = gh.runs["freigabe-build.yml"][0]
    pipeline.wait(lambda: gh.run_by_id[int(build["id"])]["status"] == "completed")
    assert gh.run_by_id[int(build["id"])]["conclusion"] == "cancelled"
    assert "freigabe-deploy-staging.yml" not in gh.runs, "no deploy was dispatched"
    assert project.current() is None
    # a build that fails outright is a FAIL at its step, not a wait (given time to fail on a busy machine)
    pipeline.configure(build_timeout="120s")
    manage.write_text(manage.read_text().replace("time.sleep(300)", "raise SystemExit('compile error')"))
    failed = pipeline.e2e("staging", "--sha", SHA)
    assert failed.exit_code == ExitCode.E2E_FAILED, failed.output
    assert "the build run" in failed.output and "ended failure at step 5 (Build, tests, layer-1 gates, bundle)" in (
        failed.output
    )


def test_a_run_no_runner_takes_is_given_up_and_cancelled(pipeline: Pipeline) -> None:
    gh = pipeline.gh
    gh.hold_queue = True  # no runner comes
    pipeline.configure(queue_timeout="1s")
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == ExitCode.E2E_TIMEOUT, result.output
    assert "was still queued after 1 s (no runner took it); e2e cancelled it" in result.output
    build = gh.runs["freigabe-build.yml"][0]
    pipeline.wait(lambda: gh.run_by_id[int(build["id"])]["status"] == "completed")
    assert gh.run_by_id[int(build["id"])]["conclusion"] == "cancelled"


def test_a_reviewer_who_never_approves(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    gh.auto_approve = set()
    pipeline.configure(review_timeout="2s")
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == ExitCode.E2E_TIMEOUT, result.output
    assert "waiting for a reviewer of environment staging (reviewers: octocat)" in result.output
    assert "nobody approved within 2 s; e2e cancelled it" in result.output
    rid = _deploy_run(pipeline)
    pipeline.wait(lambda: gh.run_by_id[rid]["status"] == "completed")
    assert gh.run_by_id[rid]["conclusion"] == "cancelled" and project.current() is None
    assert [d for d in gh.deployments if d["environment"] == "staging"] == []


def test_a_deploy_that_reports_success_while_the_old_release_is_served_fails(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    assert pipeline.e2e("staging", "--sha", SHA).exit_code == 0
    good = project.current()
    (project.root / ".github/workflows/deploy-staging.yml").write_text(TEAM_WORKFLOW)
    pipeline.configure(
        staging_workflow="deploy-staging.yml", log_preset="reference", extra_deploy='ledger_artifact = ""\n'
    )
    project.write("v2")
    gh.heads["main"] = SHA2
    result = pipeline.e2e("staging", "--sha", SHA2)
    assert result.exit_code == ExitCode.E2E_FAILED, result.output
    assert "the deploy run reports success, but current still points at" in result.output
    assert "the server serves the old release" in result.output
    ev = _evidence(project)
    assert ev["deploy"]["conclusion"] == "success" and [g["state"] for g in ev["gates"]] == ["seen"] * 6
    assert project.current() == good


def test_a_dispatch_without_run_details_is_matched_by_event_branch_and_time(pipeline: Pipeline) -> None:
    pipeline.gh.dispatch_details = "ignored"  # a server from before 2026: 204, no run id
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == 0, result.output
    assert "the dispatch returned no run id (HTTP 204); finding the run" in result.output
    listed = [p for m, p, _, _ in pipeline.gh.requests if "/runs?" in p and "event=workflow_dispatch" in p]
    assert listed and all("created=%3E%3D" in p and "branch=main" in p for p in listed)


def test_production_takes_the_same_bundle_after_preflight(pipeline: Pipeline) -> None:
    project, gh = pipeline.project, pipeline.gh
    gh.environments["production"] = {"reviewers": True}
    gh.auto_approve = {"staging", "production"}
    pipeline.configure(approval='{ staging = "reviewers", production = "reviewers" }')
    assert project.cli("ci", "init", "--force").exit_code == 0
    assert pipeline.e2e("staging", "--sha", SHA).exit_code == 0
    staging = _evidence(project)
    time.sleep(1.1)  # stable_for = 1s in the test config
    result = pipeline.e2e("production")
    assert result.exit_code == 0, result.output
    assert "pre-flight on production" in result.output and "E2E production: PASS" in result.output
    ev = _evidence(project)
    assert ev["preflight"]["sha256"] == staging["bundle_sha256"] == ev["bundle_sha256"]
    assert ev["build"]["id"] == staging["build"]["id"], "the build run of staging, not a new one"
    assert str(project.current("production")).endswith(SHA[:8])
    kinds = [e["data"]["kind"] for e in project.ledger("production") if e["event"] == "run.started"]
    assert kinds == ["preflight", "deploy"], "the pre-flight ran before the deploy"


def test_over_ssh_the_workflow_takes_host_keys_from_a_secret_and_e2e_reads_through_the_transport(
    pipeline: Pipeline, sshd: Sshd, tmp_path: Path
) -> None:
    project, gh = pipeline.project, pipeline.gh
    keys = tmp_path / "keys"
    keys.mkdir()
    known_hosts, key = keys / "known_hosts", keys / "id_ed25519"
    shutil.copy(sshd.known_hosts, known_hosts)
    shutil.copy(sshd.key_file, key)
    toml = project.root / "freigabe.toml"
    text = toml.read_text().replace(
        '[environments.staging]\ntarget = "local"', f'[environments.staging]\ntarget = "{sshd.target}"', 1
    )
    head, github = text.split("\n[github]", 1)
    toml.write_text(
        f'{head}\n[environments.staging.ssh]\nkey_file = "{key}"\nknown_hosts = "{known_hosts}"\n\n[github]{github}'
    )
    assert project.cli("ci", "init", "--force").exit_code == 0
    gh.secrets["FREIGABE_KNOWN_HOSTS"] = known_hosts.read_text()
    gh.secrets["FREIGABE_SSH_KEY"] = key.read_text()
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == 0, result.output
    assert str(project.current()).endswith(SHA[:8]) and project.served() == project.current()
    rid = _deploy_run(pipeline)
    assert pipeline.step(rid, "deploy", "SSH host keys")["conclusion"] == "success"
    assert key.read_text().strip() not in pipeline.raw_text(rid)


def test_a_phrase_approved_workflow_is_named_when_e2e_finds_its_deploy_skipped(pipeline: Pipeline) -> None:
    project = pipeline.project
    pipeline.configure(approval='{ staging = "phrase", production = "phrase" }')
    assert project.cli("ci", "init", "--force").exit_code == 0
    result = pipeline.e2e("staging", "--sha", SHA)
    assert result.exit_code == ExitCode.E2E_FAILED, result.output
    assert "the workflow skipped job deploy (a phrase-approved workflow deploys only on a second dispatch" in (
        result.output
    )
    assert project.current() is None
