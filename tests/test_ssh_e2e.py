"""The whole pipeline over SSH to a real sshd on loopback: what the web server serves is checked."""

from __future__ import annotations

import json

import pytest

from freigabe import failpoints
from freigabe.errors import ExitCode, StepFailed

from .conftest import Project
from .support.sshd import Sshd

PHRASE = "STAGING-TEST FREIGEGEBEN"


@pytest.fixture
def over_ssh(project: Project, sshd: Sshd) -> Project:
    project.use_ssh(sshd)
    bundle = project.build("v1")
    result = project.deploy("staging", bundle.path)
    assert result.exit_code == 0, result.output
    assert "v1" in project.served_version()
    return project


def test_good_deploy_over_ssh(over_ssh: Project) -> None:
    live = over_ssh.current()
    bundle = over_ssh.build("v2")
    result = over_ssh.deploy("staging", bundle.path)
    assert result.exit_code == 0, result.output
    assert over_ssh.current() != live and over_ssh.served() == over_ssh.current()
    assert "v2" in over_ssh.served_version()
    ledger = (over_ssh.deploy_path() / ".freigabe/ledger.jsonl").read_text().splitlines()
    assert over_ssh.cli("ledger", "verify", "staging").exit_code == 0
    switch = [json.loads(line) for line in ledger if '"event":"switch"' in line][-1]
    assert switch["data"]["after"] == f"releases/{over_ssh.current()}"


def test_failed_health_rolls_back_over_ssh(over_ssh: Project) -> None:
    live = over_ssh.current()
    bundle = over_ssh.build("v2", respond={"/health": {"status": 500}})
    result = over_ssh.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert over_ssh.current() == live and over_ssh.served() == live and "v1" in over_ssh.served_version()


def test_failing_migration_aborts_before_the_switch_over_ssh(over_ssh: Project) -> None:
    live = over_ssh.current()
    over_ssh.write("v2")
    (over_ssh.app / "migrations" / "002_broken.sql").write_text("alter table nope add column x;\n")
    from freigabe.usecases.build import build

    bundle = build(over_ssh.loaded(), sha="66ssh".ljust(40, "0")).bundle
    result = over_ssh.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.GATE, result.output
    assert "migration 002_broken.sql failed" in result.output  # the remote output, streamed
    assert over_ssh.current() == live and "v1" in over_ssh.served_version()


def test_wrong_token_is_stopped_by_the_token_digest_finding(over_ssh: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    live = over_ssh.current()
    bundle = over_ssh.build("v2")
    monkeypatch.setenv("HEALTHCHECK_TOKEN", "not-the-token-in-the-servers-env")
    planned = over_ssh.cli("plan", "staging", "--bundle", str(bundle.path), "--json")
    plan = json.loads(planned.raw)
    assert plan["decision"]["verdict"] == "NO-GO" and "server.token-digest" in plan["decision"]["blocking"]
    result = over_ssh.cli("deploy", "staging", "--plan", plan["id"], "--approve", "STAGING-TEST FREIGEGEBEN")
    assert result.exit_code == ExitCode.APPROVAL and "server.token-digest" in result.output
    assert "not-the-token" not in result.output
    assert over_ssh.current() == live and "v1" in over_ssh.served_version()


def test_a_failing_remote_command_names_host_step_and_last_lines(over_ssh: Project, sshd: Sshd) -> None:
    over_ssh.write("v2")
    manage = over_ssh.app / "manage.py"
    manage.write_text(
        manage.read_text().replace(
            'print("boot ok")', 'print("line one"); print("line two"); sys.exit("boot failed: DB_PASSWORD=hunter22")'
        )
    )
    from freigabe.usecases.build import build

    bundle = build(over_ssh.loaded(), sha="55ssh".ljust(40, "0")).bundle
    result = over_ssh.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.GATE
    assert f"on ssh://root@127.0.0.1:{sshd.port}" in result.output
    assert "gate.layer2.command.2" in result.output
    assert "boot failed: DB_PASSWORD=********" in result.output  # the line that says what failed
    assert "hunter22" not in result.output  # secrets in remote output are redacted
    logs = sorted((over_ssh.root / ".freigabe" / "runs").rglob("*gate.layer2.command.2.log"))
    assert logs and "line two" in logs[-1].read_text() and "hunter22" not in logs[-1].read_text()


def test_a_plan_runs_once_over_ssh_also_when_the_look_before_the_lock_missed_it(
    over_ssh: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approval is spent as the lock is taken (in the lock's one look), whatever the run's
    outcome: a second run of the plan is refused before the lock, and under the lock when it got
    past that look (two runs of one plan started at once)."""
    from freigabe.usecases import apply

    live = over_ssh.current()
    plan = over_ssh.plan_id("staging", over_ssh.build("v2").path)

    def stop() -> None:
        raise StepFailed("stopped before the switch by the test")

    failpoints.arm("step.before:gate.layer2.files", stop)
    assert over_ssh.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE).exit_code == ExitCode.GATE
    failpoints.disarm_all()
    assert over_ssh.current() == live  # the plan is not stale: only spent
    marker = over_ssh.deploy_path() / ".freigabe" / "plans" / f"{plan}.ran"
    assert json.loads(marker.read_text())["plan"] == plan
    before = [e["hash"] for e in over_ssh.ledger()]
    again = over_ssh.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE)
    assert again.exit_code == ExitCode.APPROVAL and "already ran" in again.output, again.output
    monkeypatch.setattr(apply, "check_hosts", lambda *args: None)  # as if both runs had looked at once
    raced = over_ssh.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE)
    assert raced.exit_code == ExitCode.APPROVAL and "already ran" in raced.output, raced.output
    assert [e["hash"] for e in over_ssh.ledger()] == before and over_ssh.current() == live
    assert not (over_ssh.deploy_path() / ".freigabe" / "deploy.lock").exists()
