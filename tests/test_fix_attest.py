"""PROD-FIX FREIGEGEBEN (only the named remediation, bound to its plan) and APPEND MISSING INFO."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from freigabe.errors import ExitCode

from .conftest import Project
from .support.fake_github import FORBIDDEN, FakeGitHub, workflow


@pytest.fixture
def github(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fixtoken123456")
    server = FakeGitHub().start()
    server.workflows = [
        workflow(1, "Build Artifacts", "build-artifacts.yml"),
        workflow(2, "Deploy to Staging", "deploy-staging.yml"),
        workflow(3, "Deploy to Production", "deploy-production.yml"),
    ]
    server.runs = {"deploy-staging.yml": [], "deploy-production.yml": [], "build-artifacts.yml": []}
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text() + f'\n[github]\nrepo = "acme/shop"\napi_url = "{server.url}"\n')
    yield server
    server.stop()


def _plan_id(output: str) -> str:
    match = re.search(r"--plan ([0-9a-f]{16})", output)
    assert match, output
    return match.group(1)


def test_fix_branch_protection_through_the_api(deployed: Project, github: FakeGitHub) -> None:
    shown = deployed.cli("fix", "github.branch-protection:main", "--env", "staging")
    assert shown.exit_code == 0, shown.output
    assert "check-staging" in shown.output and not [r for r in github.requests if r[0] == "PUT"]
    wrong = deployed.cli(
        "fix",
        "github.branch-protection:main",
        "--env",
        "staging",
        "--plan",
        _plan_id(shown.output),
        "--approve",
        "PROD-DEPLOY FREIGEGEBEN",
    )
    assert wrong.exit_code == ExitCode.APPROVAL and "PROD-FIX FREIGEGEBEN" in wrong.output
    done = deployed.cli(
        "fix",
        "github.branch-protection:main",
        "--env",
        "staging",
        "--plan",
        _plan_id(shown.output),
        "--approve",
        "PROD-FIX FREIGEGEBEN",
    )
    assert done.exit_code == 0, done.output
    assert "the finding is now ok" in done.output
    puts = [r for r in github.requests if r[0] == "PUT"]
    assert len(puts) == 1 and puts[0][1].endswith("/branches/main/protection")
    body = puts[0][2]
    assert body is not None and body["required_status_checks"]["contexts"][-1] == "check-staging"
    # the fix is a run of the executor like any change: approved, its step, its end, on record
    fix_run = [e for e in deployed.ledger() if e["event"] == "plan.approved" and e["data"]["kind"] == "fix"][-1]["run"]
    run = [e for e in deployed.ledger() if e["run"] == fix_run]
    assert [e["event"] for e in run] == [
        "plan.approved",
        "run.started",
        "step.started",
        "step.finished",
        "run.finished",
    ]
    assert run[3]["data"]["step"] == "fix.github.protect" and run[3]["data"]["outcome"] == "ok"
    assert run[-1]["data"]["outcome"] == "done"


def test_fix_refused_by_github_says_so(deployed: Project, github: FakeGitHub) -> None:
    shown = deployed.cli("fix", "github.branch-protection:develop", "--env", "staging")
    github.classic["develop"] = (403, FORBIDDEN)
    stale = deployed.cli(
        "fix",
        "github.branch-protection:develop",
        "--env",
        "staging",
        "--plan",
        _plan_id(shown.output),
        "--approve",
        "PROD-FIX FREIGEGEBEN",
    )
    # the facts changed (now unreadable → pending); the same plan still applies, GitHub refuses
    assert (
        stale.exit_code == ExitCode.APPROVAL
        and "GitHub refused the branch protection of develop (HTTP 403" in stale.output
    )


def test_fix_failed_release_and_stale_fix_plan(deployed: Project) -> None:
    live = deployed.current()
    bad = deployed.build("v2", respond={"/health": {"status": 500}})
    assert deployed.deploy("staging", bad.path).exit_code == ExitCode.ROLLED_BACK
    shown = deployed.cli("fix", "server.failed-release", "--env", "staging")
    assert shown.exit_code == 0 and "remove releases/" in shown.output
    failed = shown.output.split("remove releases/")[1].split()[0]
    done = deployed.cli(
        "fix",
        "server.failed-release",
        "--env",
        "staging",
        "--plan",
        _plan_id(shown.output),
        "--approve",
        "PROD-FIX FREIGEGEBEN",
    )
    assert done.exit_code == 0, done.output
    assert not (deployed.deploy_path() / "releases" / failed).exists()
    assert deployed.current() == live and deployed.served() == live
    again = deployed.cli(
        "fix",
        "server.failed-release",
        "--env",
        "staging",
        "--plan",
        _plan_id(shown.output),
        "--approve",
        "PROD-FIX FREIGEGEBEN",
    )
    assert again.exit_code == ExitCode.CONFIG and "already ok" in again.output


def test_fix_stale_lock(deployed: Project) -> None:
    lock = deployed.deploy_path() / ".freigabe" / "deploy.lock"
    lock.write_text(
        json.dumps({"owner": "ci", "host": "gone", "pid": 1, "run": "r-dead", "started": 1.0, "release": None})
    )
    shown = deployed.cli("fix", "server.lock", "--env", "staging")
    other = "0" * 16
    stale = deployed.cli("fix", "server.lock", "--env", "staging", "--plan", other, "--approve", "PROD-FIX FREIGEGEBEN")
    assert stale.exit_code == ExitCode.APPROVAL and "not the current fix" in stale.output
    done = deployed.cli(
        "fix", "server.lock", "--env", "staging", "--plan", _plan_id(shown.output), "--approve", "PROD-FIX FREIGEGEBEN"
    )
    assert done.exit_code == 0 and not lock.exists()


def test_only_known_remediations(deployed: Project) -> None:
    result = deployed.cli("fix", "server.current", "--env", "staging")
    assert result.exit_code == ExitCode.CONFIG and "already ok" in result.output
    (deployed.deploy_path() / "releases" / str(deployed.current()) / "public" / "index.html").write_text("x")
    result = deployed.cli("fix", "server.release-drift", "--env", "staging")
    assert result.exit_code == ExitCode.CONFIG and "no automatic remediation" in result.output


def test_attest_a_pending_fact(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHCHECK_TOKEN")
    not_pending = deployed.cli("attest", "server.current", "--env", "staging", "--note", "looked")
    assert not_pending.exit_code == ExitCode.CONFIG and "not a pending finding" in not_pending.output
    empty = deployed.cli("attest", "server.token-digest", "--env", "staging")
    assert empty.exit_code == ExitCode.CONFIG and "--note" in empty.output
    done = deployed.cli(
        "attest",
        "server.token-digest",
        "--env",
        "staging",
        "--note",
        "compared the CI secret with the server's .env by hand, 2026-11-26",
    )
    assert done.exit_code == 0 and "(not verified)" in done.output
    audit = deployed.cli("audit", "server", "--env", "staging", "--json")
    rows = {f["key"]: f for f in json.loads(audit.raw)["findings"]}
    row = rows["server.token-digest"]
    assert row["status"] == "pending" and row["attested"]["by"] == "tester"
    assert json.loads(audit.raw)["decision"]["verdict"] == "CONDITIONAL GO"
