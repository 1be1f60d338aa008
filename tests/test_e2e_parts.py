"""The pure parts of e2e and the CI citizen: log gates, the acceptance verdict, the logs zip,
workflow-command escaping, the E2E plan id, the config's [github.pipeline] and [github.ci], and
one sentence (no traceback) for every missing piece."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from freigabe.adapters.actions_runner import WorkflowCommands, escape_data, escape_property
from freigabe.config import parse_config
from freigabe.config.models import LogGate
from freigabe.core.e2e_plan import acceptance, judge_gates, render_inputs
from freigabe.core.run_logs import log_lines
from freigabe.errors import ConfigError, ExitCode
from freigabe.usecases.e2e_watch import failed_step, run_seconds

from .conftest import Project


def _env() -> dict[str, Any]:
    return {"environments": {"staging": {"deploy_path": "/srv/app", "url": "http://127.0.0.1:8080"}}}


def test_gates_are_seen_missing_or_contradicted() -> None:
    gates = [
        LogGate(name="gates", seen="gates PASSED"),
        LogGate(name="health", seen="HTTP 200", count=3, contradicted="rolling back"),
        LogGate(name="assets", seen="assets ok"),
    ]
    logs = {"deploy/7_Deploy.txt": ["all gates PASSED", "HTTP 200", "HTTP 200", "HTTP 200"]}
    states = {g.name: g.state for g in judge_gates(gates, logs)}
    assert states == {"gates": "seen", "health": "seen", "assets": "missing"}
    logs["deploy/7_Deploy.txt"].append("→ rolling back to 20261101_000000-aaaaaaaa")
    health = judge_gates(gates, logs)[1]
    assert health.state == "contradicted" and "rolling back" in health.snippet and health.where == "deploy/7_Deploy.txt"
    assert judge_gates(gates, {"x": ["HTTP 200"]})[1].state == "missing"  # 1 of the 3 it needs


def _verdict(**over: Any) -> Any:
    base: dict[str, Any] = {
        "conclusion": "success",
        "failed_step": None,
        "before": "20261101_000000-aaaaaaaa",
        "after": "20261102_000000-bbbbbbbb",
        "expected_suffix": "-bbbbbbbb",
        "probe": (True, "ok"),
        "health": (True, "1/1"),
        "assets": (True, "2 served"),
        "gates": [],
        "evidence": (True, "complete"),
        "attempts": 1,
    }
    return acceptance(**{**base, **over})


def test_the_verdict_trusts_the_target_before_the_log() -> None:
    assert _verdict().verdict == "PASS"
    stale = _verdict(after="20261101_000000-aaaaaaaa")
    assert stale.verdict == "FAIL" and "reports success, but current still points at" in stale.summary
    rolled = _verdict(conclusion="failure", failed_step="step 7 (Deploy)", after="20261101_000000-aaaaaaaa")
    assert rolled.verdict == "FAIL" and rolled.rolled_back and "rolled back" in rolled.summary
    assert "20261101_000000-aaaaaaaa is live again and healthy" in rolled.summary
    unhealthy = _verdict(health=(False, "0/1 passed; health: HTTP 500"))
    assert unhealthy.verdict == "FAIL" and "HTTP 500" in unhealthy.summary
    assert _verdict(attempts=2).verdict == "FAIL"  # a re-run is a manual intervention


def test_the_logs_zip_is_read_in_githubs_layout() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("1_deploy.txt", "2026-11-27T02:44:25.1234567Z whole job\n")
        zf.writestr("deploy/7_Deploy.txt", "2026-11-27T02:44:25.1234567Z ✔ switch a → b\n")
        zf.writestr("2_plan.txt", "2026-11-27T02:44:26.0000000Z plan id abc\n")
    lines = log_lines(buffer.getvalue())
    assert lines == {"deploy/7_Deploy.txt": ["✔ switch a → b"], "plan.txt": ["plan id abc"]}
    with pytest.raises(ValueError, match="not a zip"):
        log_lines(b"<html>")


def test_workflow_commands_are_escaped_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"
    lines: list[str] = []
    commands = WorkflowCommands(lines.append)
    commands.mask("line-one-secret\nline-two-secret\nab")
    commands.mask("line-one-secret")
    commands.annotate("error", "bad\nthing", file=".github/workflows/x.yml", line=3, title="k:v")
    assert lines == [
        "::add-mask::line-one-secret",
        "::add-mask::line-two-secret",
        "::error file=.github/workflows/x.yml,line=3,title=k%3Av::bad%0Athing",
    ]
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    commands.output("plan_id", "abc")
    commands.output("report", "two\nlines")
    text = (tmp_path / "out").read_text()
    assert text.startswith("plan_id=abc\nreport<<ghadelimiter_") and "\ntwo\nlines\nghadelimiter_" in text


def test_inputs_are_filled_and_the_run_facts_read() -> None:
    assert render_inputs(
        {"build_run_id": "{build_run_id}", "x": "{sha}-{ref}"}, {"build_run_id": "7", "sha": "s", "ref": "r"}
    ) == {
        "build_run_id": "7",
        "x": "s-r",
    }
    jobs: list[dict[str, Any]] = [
        {"name": "plan", "conclusion": "success", "steps": [], "completed_at": "2026-11-27T02:00:05Z"},
        {
            "name": "deploy",
            "conclusion": "failure",
            "completed_at": "2026-11-27T02:00:09Z",
            "steps": [
                {"number": 6, "name": "Download", "conclusion": "success"},
                {"number": 7, "name": "Deploy", "conclusion": "failure"},
            ],
        },
    ]
    assert failed_step(jobs) == "step 7 (Deploy) of job deploy"
    run = {"run_started_at": "2026-11-27T02:00:00Z", "updated_at": "2026-11-27T02:00:10Z"}
    assert run_seconds(run, jobs) == 10


def test_pipeline_config_problems_are_one_sentence_each() -> None:
    github = {"repo": "acme/shop", "pipeline": {"deploy": {"staging": {"workflow": "d.yml", "gate": []}}}}
    with pytest.raises(ConfigError) as caught:
        parse_config({**_env(), "github": github})
    assert any("github.pipeline.deploy.staging.gate" in p for p in caught.value.problems)
    bad = {
        "repo": "acme/shop",
        "pipeline": {"deploy": {"staging": {"workflow": "d.yml", "gates": [{"name": "x", "seen": "("}]}}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config({**_env(), "github": bad})
    assert any("is not a regular expression" in p and "backslash" in p for p in caught.value.problems)
    elsewhere = {"repo": "acme/shop", "pipeline": {"deploy": {"qa": {"workflow": "d.yml"}}}}
    with pytest.raises(ConfigError) as caught:
        parse_config({**_env(), "github": elsewhere})
    assert "github.pipeline.deploy.qa names an environment that is not configured" in str(caught.value.problems)
    ci = {"repo": "acme/shop", "ci": {"approval": {"staging": "maybe"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config({**_env(), "github": ci})
    assert any("github.ci.approval.staging" in p for p in caught.value.problems)


def test_e2e_and_ci_init_without_their_config_say_what_to_add(project: Project) -> None:
    missing = project.cli("e2e", "staging")
    assert missing.exit_code == ExitCode.CONFIG and "[github.pipeline]" in missing.output
    assert "Traceback" not in missing.output
    no_github = project.cli("ci", "init")
    assert no_github.exit_code == ExitCode.CONFIG and "ci init needs a [github] table" in no_github.output
    approve_alone = project.cli("e2e", "staging", "--approve", "STAGING-TEST FREIGEGEBEN")
    assert approve_alone.exit_code == ExitCode.CONFIG and "--approve needs --plan ID" in approve_alone.output
    unknown = project.cli("e2e", "staging", "--plan", "deadbeef00", "--approve", "STAGING-TEST FREIGEGEBEN")
    assert unknown.exit_code in (ExitCode.CONFIG, ExitCode.APPROVAL) and "Traceback" not in unknown.output


def test_the_new_core_modules_are_pure() -> None:
    """E2E plans, verdicts, log reading and the workflow text import no adapter, use case or I/O module."""
    import ast

    import freigabe

    core = Path(freigabe.__file__).parent / "core"
    for name in ("e2e_plan.py", "ci_workflows.py", "run_logs.py", "secret_names.py"):
        tree = ast.parse((core / name).read_text(encoding="utf-8"))
        imported = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        bad = {n for n in imported if n and n.startswith(("freigabe.adapters", "freigabe.usecases"))}
        bad |= {n for n in imported if n and n.split(".")[0] in {"subprocess", "httpx", "socket", "asyncssh", "os"}}
        assert not bad, (name, bad)
