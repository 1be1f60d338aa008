"""Repository checks: every id with a failing and a passing case, and the report's NO-GO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freigabe.core.findings import Finding
from freigabe.errors import ExitCode
from freigabe.usecases.repo_audit import audit_repo

from .conftest import Project
from .fixtures import workflows as W


def _rows(tmp_path: Path, files: dict[str, str]) -> dict[str, Finding]:
    W.write(tmp_path, files)
    return {f.key: f for f in audit_repo(tmp_path, linters=False)}


@pytest.fixture
def buggy(tmp_path: Path) -> dict[str, Finding]:
    return _rows(tmp_path / "buggy", W.BUGGY)


@pytest.fixture
def fixed(tmp_path: Path) -> dict[str, Finding]:
    return _rows(tmp_path / "fixed", W.FIXED)


CHECKS = {
    "workflow.jq-null-guard:deploy-staging.yml": "P0",
    "workflow.duplicate-name": "P2",
    "workflow.health-check-cannot-fail:deploy-staging.yml": "P1",
    "workflow.hardening:deploy-staging.yml#post-switch-cache-clear": "P1",
    "workflow.hardening:deploy-staging.yml#php-fpm-reload": "P1",
    "workflow.hardening:deploy-staging.yml#grace-readiness": "P2",
    "workflow.hardening:deploy-staging.yml#health-retry": "P2",
    "workflow.hardening:deploy-staging.yml#rollback-after-switch": "P1",
    "workflow.deploy-before-build:deploy-staging.yml": "P1",
    "workflow.deploy-before-build:deploy-staging.yml#bundle-name": "P1",
    "workflow.call-trigger:check-staging.yml": "P1",
}


@pytest.mark.parametrize(("key", "impact"), CHECKS.items())
def test_each_check_fails_on_the_bug_and_passes_when_fixed(
    buggy: dict[str, Finding], fixed: dict[str, Finding], key: str, impact: str
) -> None:
    assert buggy[key].status == "fail", buggy[key]
    assert buggy[key].impact == impact
    assert buggy[key].fix
    assert fixed[key].status == "ok", fixed[key]


def test_the_jq_row_names_the_variable_and_the_line(buggy: dict[str, Finding]) -> None:
    row = buggy["workflow.jq-null-guard:deploy-staging.yml"]
    assert "$BUILD_RUN_ID" in row.ist and "only `[ -z ]`" in row.ist and "`null`" in row.ist
    assert row.location == ".github/workflows/deploy-staging.yml:11"  # the line of BUILD_RUN_ID=$(


def test_health_problems_are_all_listed(buggy: dict[str, Finding]) -> None:
    whats = {p["what"] for p in buggy["workflow.health-check-cannot-fail:deploy-staging.yml"].evidence["problems"]}
    assert whats >= {
        "HTTP 401 is accepted as healthy",
        "a fallback prints 'healthy' when the check fails",
        "`|| true` makes the check pass whatever happens",
        "the ledger records 'passed' without a check's result",
        "curl without --fail exits 0 on HTTP 500",
    }


def test_rollback_by_mtime_is_named(buggy: dict[str, Finding]) -> None:
    row = buggy["workflow.hardening:deploy-staging.yml#rollback-after-switch"]
    assert "runs on any failure" in row.ist and "by mtime" in row.ist


def test_no_workflows_no_rows(tmp_path: Path) -> None:
    assert audit_repo(tmp_path) == []


def test_invalid_yaml_is_a_finding(tmp_path: Path) -> None:
    rows = _rows(tmp_path, {"broken.yml": "name: x\non: [push\n"})
    assert rows["workflow.parse:broken.yml"].status == "fail"


def test_linters_are_folded_in_and_their_absence_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both linters are installed by the dev extra: each must report a real finding, with file:line,
    on a workflow that has what it looks for; without them, their absence is a finding."""
    W.write(tmp_path, {**W.FIXED, "lint-bait.yml": LINT_BAIT})
    rows = audit_repo(tmp_path, linters=True)
    zizmor = [f for f in rows if f.id.startswith("zizmor.")]
    assert zizmor, "zizmor (dev extra) must run and find the unpinned action"
    assert all(f.status == "warn" and f.location and ".github/workflows/" in f.location for f in zizmor)
    actionlint = [f for f in rows if f.id.startswith("actionlint.")]
    assert actionlint, "actionlint (dev extra) must run and find the undefined matrix key"
    assert any(f.location and f.location.startswith(".github/workflows/lint-bait.yml:") for f in actionlint)
    assert "tool.actionlint" not in {f.key for f in rows} and "tool.zizmor" not in {f.key for f in rows}
    monkeypatch.setattr("freigabe.adapters.workflows.find_tool", lambda name: None)
    absent = {f.key: f for f in audit_repo(tmp_path, linters=True)}
    for tool in ("tool.zizmor", "tool.actionlint"):
        assert absent[tool].status == "warn" and "not installed" in absent[tool].ist


LINT_BAIT = """
name: Lint bait
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ matrix.nowhere }}"
"""


def test_audit_repo_works_without_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from freigabe.cli import app

    W.write(tmp_path, W.BUGGY)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["audit", "repo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    keys = {f["key"]: f for f in data["findings"]}
    assert keys["workflow.jq-null-guard:deploy-staging.yml"]["status"] == "fail"


def test_plan_report_shows_the_bugs_and_no_go_then_ok(deployed: Project) -> None:
    """Done means: the reference plan's bugs → rows with the right impacts and NO-GO; fixed → ok."""
    W.write(deployed.root, W.BUGGY)
    bundle = deployed.build("v2")
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--out", str(deployed.root / "r1"))
    assert result.exit_code == 0, result.output
    assert "NO-GO" in result.output
    report = json.loads(next((deployed.root / "r1").glob("DEPLOY_STAGING_*.json")).read_text())
    assert report["schema_version"] == 1 and report["decision"]["verdict"] == "NO-GO"
    rows = {f["key"]: f for f in report["findings"]}
    for key, impact in CHECKS.items():
        assert rows[key]["status"] == "fail" and rows[key]["impact"] == impact
    assert "workflow.jq-null-guard:deploy-staging.yml" in report["decision"]["blocking"]
    md = next((deployed.root / "r1").glob("DEPLOY_STAGING_*.md")).read_text()
    assert "BUILD_RUN_ID" in md and "✘ **NO-GO**" in md and "```mermaid" in md
    # a NO-GO plan cannot be approved
    refused = deployed.cli("deploy", "staging", "--plan", report["plan"]["id"], "--approve", "STAGING-TEST FREIGEGEBEN")
    assert refused.exit_code == ExitCode.APPROVAL and "decision NO-GO" in refused.output
    assert "v1" in deployed.served_version()
    # fixed workflows flip the rows to ok and the plan may be approved
    W.write(deployed.root, W.FIXED)
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--out", str(deployed.root / "r2"))
    report = json.loads(next((deployed.root / "r2").glob("DEPLOY_STAGING_*.json")).read_text())
    rows = {f["key"]: f for f in report["findings"]}
    assert all(rows[key]["status"] == "ok" for key in CHECKS)
    assert report["decision"]["verdict"] in ("GO", "CONDITIONAL GO")
    ok = deployed.cli("deploy", "staging", "--plan", report["plan"]["id"], "--approve", "STAGING-TEST FREIGEGEBEN")
    assert ok.exit_code == 0, ok.output
