"""GitHub checks against a local server answering in GitHub's documented shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from freigabe.adapters import github_facts
from freigabe.audit.github import evaluate
from freigabe.config.models import GitHubConfig
from freigabe.core.findings import Finding

from .support.fake_github import (
    FORBIDDEN,
    NOT_FOUND,
    FakeGitHub,
    artifact,
    protection,
    ruleset_rules,
    run,
    workflow,
)

MAIN = ["build-frontend", "build-backend", "static-analysis", "run-tests", "create-deployment-bundle", "check-staging"]
SHA = "62584375" + "a" * 32


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_testtoken123456")
    server = FakeGitHub().start()
    server.workflows = [
        workflow(1, "Build Artifacts", "build-artifacts.yml"),
        workflow(2, "Deploy to Staging", "deploy-staging.yml"),
        workflow(3, "Deploy to Production", "deploy-production.yml"),
    ]
    server.runs = {
        "deploy-staging.yml": [run(10 + i, SHA, "success") for i in range(3)],
        "deploy-production.yml": [run(20, SHA, "success", file="deploy-production.yml")],
        "build-artifacts.yml": [run(19015290501, SHA, "success", name="Build Artifacts", file="build-artifacts.yml")],
    }
    server.artifacts = {19015290501: [artifact(7, f"deployment-bundle-{SHA}", 19015290501, SHA)]}
    yield server
    server.stop()


def _audit(gh: FakeGitHub, **cfg: Any) -> dict[str, Finding]:
    config = GitHubConfig(repo="acme/shop", api_url=gh.url, **cfg)
    return {f.key: f for f in evaluate(github_facts.read(config, SHA), config)}


def test_unprotected_main_is_a_p0_failure(gh: FakeGitHub) -> None:
    rows = _audit(gh)
    main = rows["github.branch-protection:main"]
    assert main.status == "fail" and main.impact == "P0"
    assert "404 Branch not protected" in main.ist
    develop = rows["github.branch-protection:develop"]
    assert develop.status == "fail" and develop.impact == "P1"


def test_protected_main_and_develop_pass(gh: FakeGitHub) -> None:
    gh.classic["main"] = (200, protection(MAIN))
    gh.classic["develop"] = (200, protection(MAIN[:4], reviews=1))
    rows = _audit(gh)
    assert rows["github.branch-protection:main"].status == "ok"
    assert rows["github.branch-protection:develop"].status == "ok"


def test_missing_checks_are_named(gh: FakeGitHub) -> None:
    gh.classic["main"] = (200, protection(MAIN[:4]))
    main = _audit(gh)["github.branch-protection:main"]
    assert main.status == "fail"
    assert "missing required checks: check-staging, create-deployment-bundle" in main.ist


def test_rulesets_count_as_protection(gh: FakeGitHub) -> None:
    gh.rules["main"] = ruleset_rules(MAIN)
    gh.rules["develop"] = ruleset_rules(MAIN[:4], reviews=1)
    rows = _audit(gh)
    assert rows["github.branch-protection:main"].status == "ok"
    assert "rulesets" in rows["github.branch-protection:main"].ist
    assert rows["github.branch-protection:develop"].status == "ok"


@pytest.mark.parametrize("answer", [(403, FORBIDDEN), (404, NOT_FOUND)])
def test_missing_admin_rights_is_pending_not_unprotected(gh: FakeGitHub, answer: tuple[int, dict[str, str]]) -> None:
    gh.classic["main"] = answer
    main = _audit(gh)["github.branch-protection:main"]
    assert main.status == "pending"
    assert "Administration: read" in main.fix
    assert "not protected" not in main.ist


def test_workflow_inventory(gh: FakeGitHub) -> None:
    assert _audit(gh)["github.workflows"].status == "ok"
    gh.workflows[1] = workflow(2, "Deploy to Staging", "deploy-staging.yml", state="disabled_manually")
    wf = _audit(gh)["github.workflows"]
    assert wf.status == "fail" and "deploy-staging.yml is disabled_manually" in wf.ist


def test_recent_runs_paginated_and_failures_in_a_row(gh: FakeGitHub) -> None:
    gh.runs["deploy-staging.yml"] = [run(19013942449 - i, SHA, "failure") for i in range(3)] + [
        run(100 + i, SHA, "success") for i in range(150)
    ]
    rows = _audit(gh, recent_runs=120)
    staging = rows["github.recent-runs:deploy-staging.yml"]
    assert staging.status == "fail" and "the last 3 runs failed" in staging.ist
    assert len(staging.evidence["runs"]) == 120  # two pages, limit respected
    pages = [p for m, p, _, _ in gh.requests if "deploy-staging.yml/runs" in p]
    assert len(pages) == 2 and "page=2" in pages[1]
    assert rows["github.recent-runs:deploy-production.yml"].status == "ok"


def test_build_artifact_found_missing_and_expired(gh: FakeGitHub) -> None:
    assert _audit(gh)["github.build-artifact"].status == "ok"
    gh.downloads[7] = 410
    expired = _audit(gh)["github.build-artifact"]
    assert expired.status == "fail" and "410 Gone" in expired.ist
    gh.runs["build-artifacts.yml"] = [
        run(5, SHA, None, status="in_progress", name="Build Artifacts", file="build-artifacts.yml")
    ]
    missing = _audit(gh)["github.build-artifact"]
    assert missing.status == "fail" and "no successful build run" in missing.ist
    assert "in_progress/None" in missing.ist


def test_the_token_is_sent_and_never_shown(gh: FakeGitHub) -> None:
    rows = _audit(gh)
    assert all(auth == "Bearer ghp_testtoken123456" for _, _, _, auth in gh.requests)
    assert "ghp_testtoken123456" not in repr(rows)
