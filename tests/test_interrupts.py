"""An interrupted deploy never leaves an unverified release live without saying so.

Each test runs `freigabe deploy` as a separate process (as a terminal or a CI runner does),
stops it at a named point, and sends the signal a person or a runner would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from freigabe.errors import ExitCode, FreigabeError

from .conftest import Project

PHRASE = "STAGING-TEST FREIGEGEBEN"


class Deploy:
    """`freigabe deploy` in its own process, with failpoints armed through the environment."""

    def __init__(self, project: Project, plan: str, failpoints: str) -> None:
        self.folder = project.root / "failpoints"
        self.folder.mkdir(exist_ok=True)
        env = {**os.environ, "FREIGABE_FAILPOINTS": failpoints, "FREIGABE_FAILPOINT_DIR": str(self.folder)}
        argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--plan", plan, "--approve", PHRASE]
        self.proc = subprocess.Popen(
            [*argv, "--config", str(project.root / "freigabe.toml")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def paused_at(self, point: str, timeout: float = 60) -> Path:
        marker = self.folder / f"{point}.paused"
        deadline = time.monotonic() + timeout
        while not marker.exists():
            assert self.proc.poll() is None, self.proc.communicate()[0]
            assert time.monotonic() < deadline, f"the deploy never reached {point}"
            time.sleep(0.02)
        return marker

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> tuple[int, str]:
        output = self.proc.communicate(timeout=120)[0]
        return self.proc.returncode, " ".join(output.split())


def _events(project: Project) -> list[str]:
    return [e["event"] for e in project.ledger()]


def test_sigint_before_the_switch_stops_cleanly(deployed: Project) -> None:
    live, releases = deployed.current(), deployed.releases()
    bundle = deployed.build("v2")
    run = Deploy(deployed, deployed.plan_id("staging", bundle.path), "step.before:gate.layer2.command.1=pause")
    run.paused_at("step.before:gate.layer2.command.1")
    run.send(signal.SIGINT)
    code, output = run.finish()
    assert code == ExitCode.INTERRUPTED, output
    assert "stopped before the switch" in output and "Traceback" not in output
    assert deployed.current() == live and deployed.served() == live
    assert deployed.releases() == releases  # the unfinished release was removed, no partial left
    assert not (deployed.deploy_path() / ".freigabe/deploy.lock").exists()
    finished = [e for e in deployed.ledger() if e["event"] == "run.finished"][-1]
    assert finished["data"]["outcome"] == "interrupted"
    assert "run.interrupted" in _events(deployed)
    status = deployed.cli("status", "staging")
    assert "attention" not in status.output and "(verified)" in status.output


def test_sigterm_during_readiness_rolls_back_and_verifies(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    run = Deploy(deployed, deployed.plan_id("staging", bundle.path), "step.before:readiness=pause")
    run.paused_at("step.before:readiness")
    assert deployed.current() != live  # switched: the new release is live but unverified
    run.send(signal.SIGTERM)
    code, output = run.finish()
    assert code == ExitCode.ROLLED_BACK, output
    assert "interrupted by SIGTERM during readiness" in output and "verified" in output
    assert deployed.current() == live and deployed.served() == live and "v1" in deployed.served_version()
    new = [r for r in deployed.releases() if r != live][0]
    mark = json.loads((deployed.deploy_path() / ".freigabe/marks" / f"{new}.json").read_text())
    assert mark["mark"] == "bad" and "interrupted by SIGTERM" in mark["reason"]
    assert "rollback.verified" in _events(deployed)
    assert not (deployed.deploy_path() / ".freigabe/deploy.lock").exists()


def test_a_second_signal_during_the_rollback_leaves_a_named_state_and_recover_resolves_it(
    deployed: Project,
) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    run = Deploy(
        deployed,
        deployed.plan_id("staging", bundle.path),
        "step.before:readiness=pause,step.before:rollback.readiness=pause",
    )
    run.paused_at("step.before:readiness")
    run.send(signal.SIGHUP)
    run.paused_at("step.before:rollback.readiness")
    run.send(signal.SIGTERM)
    code, output = run.finish()
    assert code == ExitCode.ROLLBACK_FAILED, output
    assert "stopped the rollback" in output and "freigabe recover staging" in output
    assert deployed.current() == live  # switched back, but never verified
    _the_unverified_release_is_named_everywhere(deployed, live)

    made = deployed.cli("recover", "staging", "--approve", PHRASE)
    assert made.exit_code == ExitCode.CONFIG and "approve it with --plan" in made.output
    plan = made.output.split("--plan ")[1].split()[0]
    done = deployed.cli("recover", "staging", "--plan", plan, "--approve", PHRASE)
    assert done.exit_code == 0, done.output
    assert deployed.current() == live
    status = deployed.cli("status", "staging")
    assert "attention" not in status.output and "recovered (verified)" in status.output
    v3 = deployed.build("v3")
    assert deployed.deploy("staging", v3.path).exit_code == 0
    assert deployed.cli("ledger", "verify", "staging").exit_code == 0


def _the_unverified_release_is_named_everywhere(project: Project, release: str | None) -> None:
    status = project.cli("status", "staging")
    assert "NOT verified" in status.output
    assert f"the live release {release} was never verified" in status.output
    assert "freigabe recover staging" in status.output
    audit = project.cli("audit", "server", "--env", "staging", "--json")
    rows = {f["key"]: f for f in json.loads(audit.raw)["findings"]}
    assert rows["server.live-unverified"]["status"] == "fail" and rows["server.live-unverified"]["impact"] == "P0"
    plan = json.loads(project.cli("plan", "staging", "--bundle", str(project.build("v9").path), "--json").raw)
    assert plan["decision"]["verdict"] == "NO-GO" and "server.live-unverified" in plan["decision"]["blocking"]


def test_a_kill_after_the_switch_is_named_and_resolved(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    run = Deploy(deployed, deployed.plan_id("staging", bundle.path), "step.after:switch=kill")
    code, output = run.finish()
    assert code == -signal.SIGKILL, output
    new = deployed.current()
    assert new != live and "v2" in deployed.served_version()
    assert (deployed.deploy_path() / ".freigabe/deploy.lock").exists()
    status = deployed.cli("status", "staging")
    assert "freigabe unlock staging" in status.output and "no longer running" in status.output
    _the_unverified_release_is_named_everywhere(deployed, new)
    assert deployed.cli("unlock", "staging").exit_code == 0
    made = deployed.cli("recover", "staging", "--approve", PHRASE)
    plan = made.output.split("--plan ")[1].split()[0]
    done = deployed.cli("recover", "staging", "--plan", plan, "--approve", PHRASE)
    assert done.exit_code == 0, done.output
    assert deployed.current() == new and deployed.marks()[new or ""] == "good"
    assert "attention" not in deployed.cli("status", "staging").output


def test_a_kill_between_the_rename_and_its_ledger_entry_is_named_too(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    run = Deploy(deployed, deployed.plan_id("staging", bundle.path), "switch.recorded-before=kill")
    code, _ = run.finish()
    assert code == -signal.SIGKILL
    new = deployed.current()
    assert new != live and "switch" not in [e["event"] for e in deployed.ledger()[-3:]]
    assert deployed.cli("unlock", "staging").exit_code == 0
    _the_unverified_release_is_named_everywhere(deployed, new)


def test_a_recovery_that_fails_rolls_back_to_the_release_before(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    run = Deploy(deployed, deployed.plan_id("staging", bundle.path), "step.after:switch=kill")
    assert run.finish()[0] == -signal.SIGKILL
    assert deployed.cli("unlock", "staging").exit_code == 0
    made = deployed.cli("recover", "staging", "--approve", PHRASE)
    plan = made.output.split("--plan ")[1].split()[0]
    result = deployed.cli("recover", "staging", "--plan", plan, "--approve", PHRASE)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert deployed.current() == live and deployed.served() == live


def test_a_plan_runs_once(deployed: Project) -> None:
    good, bad = deployed.build("v2"), deployed.build("v3", respond={"/health": {"status": 500}})
    for bundle, first_code in ((good, 0), (bad, ExitCode.ROLLED_BACK)):
        plan = deployed.plan_id("staging", bundle.path)
        assert deployed.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE).exit_code == first_code
        before = [e["hash"] for e in deployed.ledger()]
        again = deployed.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE)
        assert again.exit_code == ExitCode.APPROVAL, again.output
        assert "already ran" in again.output and "a plan runs once" in again.output
        assert [e["hash"] for e in deployed.ledger()] == before


def test_a_bad_mark_keeps_its_first_reason(deployed: Project) -> None:
    from datetime import UTC, datetime

    from freigabe.usecases.apply import apply_plan, prepare_bundle
    from freigabe.usecases.planning import make_deploy_plan, save_plan

    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    when = datetime.now(UTC)
    first = make_deploy_plan(deployed.loaded(), "staging", bundle.path, now=when, audit=False).plan
    result = deployed.cli("deploy", "staging", "--plan", save_plan(deployed.loaded(), first).stem, "--approve", PHRASE)
    assert result.exit_code == ExitCode.ROLLED_BACK
    reason = json.loads((deployed.deploy_path() / ".freigabe/marks" / f"{first.release}.json").read_text())["reason"]
    assert "health.health" in reason and "HTTP 500" in reason
    # the same bundle planned again in the same second (after a config change): the same release
    # name, refused at extraction — and the mark still says why the release failed first
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace("keep_releases = 3", "keep_releases = 4", 1))
    again = make_deploy_plan(deployed.loaded(), "staging", bundle.path, now=when, audit=False).plan
    assert again.release == first.release and again.id != first.id
    with pytest.raises(FreigabeError, match="already exists"):
        apply_plan(deployed.loaded(), prepare_bundle(deployed.loaded(), again), phrase=PHRASE)
    mark = json.loads((deployed.deploy_path() / ".freigabe/marks" / f"{first.release}.json").read_text())
    assert mark["reason"] == reason
