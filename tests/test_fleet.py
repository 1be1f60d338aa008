"""Fleets on five real hosts: each its own sshd (port, host key), mount namespace and nginx + PHP-FPM,
a round-robin nginx in front. One fleet serves every test of this module: each test starts from
what the fleet serves and puts back what it changed (flags, a killed host)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from freigabe.cli import app
from freigabe.config import load_config
from freigabe.errors import ExitCode
from freigabe.usecases.build import build

from .conftest import CliResult
from .support.fleet import TOKEN, Fleet, FleetHost, fleet_config, start_fleet, write_app

PHRASE = "STAGING-TEST FREIGEGEBEN"


@dataclass
class FleetProject:
    root: Path
    fleet: Fleet
    builds: int = 0

    @property
    def hosts(self) -> list[FleetHost]:
        return self.fleet.hosts

    def host(self, name: str) -> FleetHost:
        return self.fleet.host(name)

    def configure(self, extra: str = "", roles: dict[str, list[str]] | None = None) -> None:
        (self.root / "freigabe.toml").write_text(fleet_config(self.fleet, self.root, extra=extra, roles=roles))

    def build(self, version: str) -> Path:
        write_app(self.root / "app", version)
        self.builds += 1
        loaded = load_config(self.root / "freigabe.toml")
        return build(loaded, sha=f"{self.builds:02d}{version}".ljust(40, "0")).bundle.path

    def cli(self, *args: str) -> CliResult:
        result = CliRunner().invoke(app, [*args, "--config", str(self.root / "freigabe.toml")], catch_exceptions=False)
        return CliResult(result.exit_code, result.output)

    def plan(self, bundle: Path, *flags: str) -> dict[str, Any]:
        result = self.cli("plan", "staging", "--bundle", str(bundle), "--json", *flags)
        assert result.exit_code == 0, result.output
        plan: dict[str, Any] = json.loads(result.raw)
        return plan

    def deploy(self, bundle: Path, *flags: str) -> tuple[dict[str, Any], CliResult]:
        plan = self.plan(bundle, *flags)
        return plan, self.cli("deploy", "staging", "--plan", plan["id"], "--approve", PHRASE)

    def currents(self) -> dict[str, str | None]:
        return {h.name: h.current() for h in self.hosts}

    def served(self) -> dict[str, str]:
        return {h.name: h.served() for h in self.hosts}

    def run_entries(self, run: str) -> dict[str, list[dict[str, Any]]]:
        return {h.name: [e for e in h.ledger() if e["run"] == run] for h in self.hosts}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetProject]:
    os.environ["HEALTHCHECK_TOKEN"] = TOKEN
    os.environ["FREIGABE_ACTOR"] = "tester"
    folder = tmp_path_factory.mktemp("fleet")
    started = start_fleet(folder / "hosts", 5)
    project = FleetProject(folder / "proj", started)
    project.root.mkdir()
    project.configure()
    bundle = project.build("v1")
    _, result = project.deploy(bundle)
    assert result.exit_code == 0, result.output
    try:
        yield project
    finally:
        started.stop()


@pytest.fixture
def steady(fleet: FleetProject) -> Iterator[FleetProject]:
    """The fleet serves one verified release on every host; flags and config are put back afterwards."""
    currents = set(fleet.currents().values())
    assert len(currents) == 1 and None not in currents, fleet.currents()
    yield fleet
    for host in fleet.hosts:
        if not host.processes():
            host.revive()
        for flag in ("fail-gate", *(f"fail-health-v{i}" for i in range(10))):
            host.flag(flag, on=False)
    fleet.configure()


def test_good_deploy_switches_every_host_to_one_release_verified_each(steady: FleetProject) -> None:
    before = steady.currents()
    bundle = steady.build("v2")
    plan, result = steady.deploy(bundle)
    assert result.exit_code == 0, result.output
    release = plan["release"]
    # the plan showed every host with its live release, roles and what it will do
    assert [h["name"] for h in plan["hosts"]] == ["web1", "web2", "web3", "web4", "web5"]
    assert all(h["current_release"] == before[h["name"]] for h in plan["hosts"])
    assert plan["hosts"][0]["roles"] == ["web", "migrate"] and "migrate" in plan["hosts"][0]["does"]
    assert plan["fleet"] == {
        "strategy": "all-at-once",
        "batches": [[f"web{i}" for i in range(1, 6)]],
        "on_unreachable": "abort",
        "concurrency": 8,
    }
    # one release name everywhere, live and served by every host's own nginx
    assert set(steady.currents().values()) == {release}
    assert set(steady.served().values()) == {release}
    assert all(h.version() == "fleet-shop v2" for h in steady.hosts)
    # migrated once, on the migrate host, after its database dump
    assert steady.host("web1").migrations()[-1] == release
    assert all(release not in h.migrations() for h in steady.hosts[1:])
    run = next(e["run"] for e in steady.host("web1").ledger()[::-1] if e["event"] == "run.started")
    entries = steady.run_entries(run)
    web1 = [e["event"] + ":" + str(e["data"].get("step", "")) for e in entries["web1"]]
    assert web1.index("step.finished:backup.create") < web1.index("step.finished:migrate.1")
    assert not any("migrate." in str(e["data"].get("step")) for h in ("web2", "web3") for e in entries[h])
    # each host verified through its own address, and its ledger ties to the fleet's run
    for name, mine in entries.items():
        started = next(e for e in mine if e["event"] == "run.started")
        assert started["data"]["fleet"]["host"] == name and started["data"]["plan"] == plan["id"]
        health = next(e for e in mine if e["event"] == "step.finished" and e["data"]["step"] == "health.app")
        assert health["data"]["outcome"] == "ok"
        assert health["data"]["details"]["url"].startswith(steady.host(name).url)
        assert next(e for e in mine if e["event"] == "run.finished")["data"]["outcome"] == "deployed"
    skew = [e["data"] for e in entries["web3"] if e["event"] == "fleet.switched"]
    assert len(skew) == 1 and sorted(skew[0]["hosts"]) == sorted(entries) and skew[0]["skew_ms"] < 2000
    # the evidence covers every host; the ledger of every host verifies
    assert steady.cli("evidence", run).exit_code == 0
    evidence = json.loads((steady.root / ".freigabe" / "runs" / run / "evidence.json").read_text())
    assert set(evidence["hosts"]) == set(entries) and evidence["outcome"] == "deployed"
    assert evidence["fleet"]["skew_ms"] == skew[0]["skew_ms"]
    assert steady.cli("ledger", "verify", "staging").exit_code == 0
    status = steady.cli("status", "staging", "--json")
    data = json.loads(status.raw)
    assert data["fleet"]["release"] == release and data["fleet"]["drift"] == {}


def _run_of(host: FleetHost) -> str:
    return str(next(e["run"] for e in host.ledger()[::-1] if e["event"] == "run.started"))


def test_a_gate_failing_on_one_host_switches_nothing_anywhere(steady: FleetProject) -> None:
    before = steady.currents()
    steady.host("web4").flag("fail-gate")
    bundle = steady.build("v3")
    plan, result = steady.deploy(bundle)
    assert result.exit_code == ExitCode.GATE, result.output
    assert "web4 gate.layer2.command.1" in result.output and "nothing was switched on any host" in result.output
    assert steady.currents() == before and set(steady.served().values()) == set(before.values())
    # no migration ran (they wait for every host to be prepared), every host recorded the abort
    assert plan["release"] not in steady.host("web1").migrations()
    run = _run_of(steady.host("web1"))
    for name, mine in steady.run_entries(run).items():
        assert not [e for e in mine if e["event"] == "switch"], name
        finished = next(e for e in mine if e["event"] == "run.finished")["data"]
        assert finished["outcome"] == "aborted" and finished["current_after"] == before[name]
        assert steady.host(name).marks()[plan["release"]] == "bad"


def test_health_failing_on_one_host_after_the_switch_sends_every_host_back_verified(steady: FleetProject) -> None:
    before = steady.currents()
    steady.host("web2").flag("fail-health-v4")
    bundle = steady.build("v4")
    plan, result = steady.deploy(bundle)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert "web2 health.app" in result.output and "answers healthy again (verified)" in result.output
    assert steady.currents() == before and set(steady.served().values()) == set(before.values())
    run = _run_of(steady.host("web1"))
    for name, mine in steady.run_entries(run).items():
        events = [e["event"] for e in mine]
        assert events.count("switch") == 2, (name, events)  # switched, and switched back
        verified = next(e for e in mine if e["event"] == "rollback.verified")["data"]
        assert verified["restored"] == before[name] and verified["current_after"] == before[name]
        checks = [e["data"] for e in mine if e["event"] == "step.finished" and "rollback.health" in e["data"]["step"]]
        assert checks and all(c["outcome"] == "ok" for c in checks)
        assert steady.host(name).marks()[plan["release"]] == "bad"
    evidence = steady.cli("evidence", run)
    assert evidence.exit_code == 0
    data = json.loads((steady.root / ".freigabe" / "runs" / run / "evidence.json").read_text())
    assert {h["rollback"]["status"] for h in data["hosts"].values()} == {"verified"}


def test_unreachable_host_with_abort_changes_nothing_anywhere(steady: FleetProject) -> None:
    before = steady.currents()
    bundle = steady.build("v5")
    plan = steady.plan(bundle)
    steady.host("web5").kill()  # down between the plan and the deploy
    result = steady.cli("deploy", "staging", "--plan", plan["id"], "--approve", PHRASE)
    assert result.exit_code == ExitCode.TARGET, result.output
    assert "web5 cannot be reached" in result.output and "nothing was changed on any host" in result.output
    assert {n: c for n, c in steady.currents().items()} == before
    for host in steady.hosts[:4]:
        assert not (host.root / ".freigabe" / "deploy.lock").exists()
        assert plan["release"] not in host.releases()


def test_unreachable_host_with_skip_is_left_out_reported_as_drift_and_caught_up(steady: FleetProject) -> None:
    before = steady.currents()
    steady.configure(extra='[environments.staging.fleet]\non_unreachable = "skip"\n')
    bundle = steady.build("v6")
    plan = steady.plan(bundle)
    assert plan["fleet"]["on_unreachable"] == "skip"
    steady.host("web3").kill()
    result = steady.cli("deploy", "staging", "--plan", plan["id"], "--approve", PHRASE)
    assert result.exit_code == 0, result.output
    assert "web3 was left out" in result.output and "--hosts web3" in result.output
    release = plan["release"]
    steady.host("web3").revive()
    currents = steady.currents()
    assert currents["web3"] == before["web3"] and {c for n, c in currents.items() if n != "web3"} == {release}
    # drift: in status, in the audit, and recorded in the other hosts' ledgers
    status = json.loads(steady.cli("status", "staging", "--json").raw)
    assert status["fleet"]["drift"] == {"web3": before["web3"]}
    assert any("--hosts web3" in a["command"] for a in status["attention"])
    audit = json.loads(steady.cli("audit", "server", "--env", "staging", "--json").raw)
    drift = next(f for f in audit["findings"] if f["id"] == "server.fleet-drift")
    assert drift["status"] == "warn" and drift["evidence"]["drifted"] == {"web3": before["web3"]}
    run = _run_of(steady.host("web1"))
    assert any(e["event"] == "fleet.skipped" and e["data"]["host"] == "web3" for e in steady.run_entries(run)["web1"])
    # caught up alone, with the same bundle: the fleet's release name, no second migration
    migrations = steady.host("web1").migrations()
    catch_up, result = steady.deploy(bundle, "--hosts", "web3")
    assert result.exit_code == 0, result.output
    assert catch_up["release"] == release and [h["name"] for h in catch_up["hosts"]] == ["web3"]
    assert set(steady.currents().values()) == {release} and steady.host("web3").served() == release
    assert steady.host("web1").migrations() == migrations
    assert json.loads(steady.cli("status", "staging", "--json").raw)["fleet"]["drift"] == {}
    # another bundle cannot be "caught up" to
    other = steady.build("v6b")
    refused = steady.cli("plan", "staging", "--bundle", str(other), "--hosts", "web3")
    assert refused.exit_code == ExitCode.CONFIG and "same bundle" in refused.output


def test_canary_is_switched_and_verified_before_the_rest(steady: FleetProject) -> None:
    bundle = steady.build("v7")
    plan, result = steady.deploy(bundle, "--strategy", "canary")
    assert result.exit_code == 0, result.output
    assert plan["fleet"]["batches"] == [["web1"], ["web2", "web3", "web4", "web5"]]
    run = _run_of(steady.host("web1"))
    entries = steady.run_entries(run)
    canary_verified = next(
        e["ts"] for e in entries["web1"] if e["event"] == "step.finished" and e["data"]["step"] == "health.app"
    )
    assert all(next(e["ts"] for e in entries[n] if e["event"] == "switch") > canary_verified for n in ("web2", "web5"))
    assert set(steady.currents().values()) == {plan["release"]}


def test_waves_stop_at_the_failing_wave_and_send_earlier_waves_back(steady: FleetProject) -> None:
    before = steady.currents()
    steady.host("web3").flag("fail-health-v8")
    bundle = steady.build("v8")
    plan, result = steady.deploy(bundle, "--strategy", "waves", "--wave-size", "2")
    assert plan["fleet"]["batches"] == [["web1", "web2"], ["web3", "web4"], ["web5"]]
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert "web5 were never switched" in result.output
    assert steady.currents() == before
    run = _run_of(steady.host("web1"))
    entries = steady.run_entries(run)
    assert not [e for e in entries["web5"] if e["event"] == "switch"]
    for name in ("web1", "web2", "web3", "web4"):
        assert any(e["event"] == "rollback.verified" for e in entries[name]), name
    # a good run in waves
    good = steady.build("v9")
    plan, result = steady.deploy(good, "--strategy", "waves", "--wave-size", "40%")
    assert result.exit_code == 0, result.output
    assert plan["fleet"]["batches"] == [["web1", "web2"], ["web3", "web4"], ["web5"]]
    assert set(steady.currents().values()) == {plan["release"]}


def test_a_host_killed_between_switch_and_verify(steady: FleetProject) -> None:
    """The run is its own process (its lock owner must die with it); it pauses after the switch,
    the test kills web4, then lets it go on."""
    before = steady.currents()
    bundle = steady.build("v10")
    plan = steady.plan(bundle)
    env = {**os.environ, "FREIGABE_FAILPOINTS": "fleet.switched=pause", "FREIGABE_FAILPOINT_DIR": str(steady.root)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "freigabe",
            "deploy",
            "staging",
            "--plan",
            plan["id"],
            "--approve",
            PHRASE,
            "--config",
            str(steady.root / "freigabe.toml"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marker = steady.root / "fleet.switched.paused"
    import time

    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read() if process.stdout else ""
        time.sleep(0.05)
    assert set(steady.currents().values()) == {plan["release"]}  # every host switched
    steady.host("web4").kill()
    marker.unlink()
    output, _ = process.communicate(timeout=180)
    assert process.returncode == ExitCode.ROLLBACK_FAILED, output
    assert "web4" in output and "freigabe status staging" in output
    # every other host is back on its release, verified; web4 stays as the kill left it
    currents = steady.currents()
    assert {n: c for n, c in currents.items() if n != "web4"} == {n: c for n, c in before.items() if n != "web4"}
    assert currents["web4"] == plan["release"]
    steady.host("web4").revive()
    status = json.loads(steady.cli("status", "staging", "--json").raw)
    assert status["fleet"]["drift"] == {"web4": plan["release"]}
    assert any(a["command"] == "freigabe unlock staging --hosts web4" for a in status["attention"])
    assert steady.cli("unlock", "staging", "--hosts", "web4").exit_code == 0
    # recover brings web4 back to the fleet's verified release, and proves it answers
    recover = steady.cli("recover", "staging", "--hosts", "web4")
    made = next(w for w in recover.output.split() if len(w) == 12 and all(c in "0123456789abcdef" for c in w))
    done = steady.cli("recover", "staging", "--plan", made, "--approve", PHRASE)
    assert done.exit_code == 0, done.output
    assert steady.currents() == before and steady.host("web4").served() == before["web4"]
    assert json.loads(steady.cli("status", "staging", "--json").raw)["fleet"]["drift"] == {}


def test_plan_status_preflight_rollback_and_cleanup_work_on_the_fleet(steady: FleetProject) -> None:
    before = steady.currents()
    bundle = steady.build("v11")
    shown = steady.cli("plan", "staging", "--bundle", str(bundle))
    assert shown.exit_code == 0, shown.output
    for text in ("Fleet: 5 hosts", "web, migrate", "migrate (once, after the backup)", "every host", "web1"):
        assert text in shown.output, text
    report = sorted((steady.root / "reports").glob("DEPLOY_STAGING_*.md"))[-1].read_text()
    assert "| web3 |" in report and "migrate.1" in report
    # the pre-flight: every host, a temporary copy each, removed; nothing switched
    preflight = steady.cli("preflight", "staging", "--bundle", str(bundle))
    assert preflight.exit_code == 0, preflight.output
    assert "web5 gate.layer2.command.1" in preflight.output and steady.currents() == before
    assert all(not list((h.root / ".freigabe" / "preflight").iterdir()) for h in steady.hosts)
    # a good deploy, then a manual rollback of the whole fleet to the release before
    plan, result = steady.deploy(bundle)
    assert result.exit_code == 0, result.output
    rollback = steady.cli("rollback", "staging")
    made = rollback.output.split("plan id ")[1].split()[0]
    done = steady.cli("rollback", "staging", "--plan", made, "--approve", PHRASE)
    assert done.exit_code == 0, done.output
    assert steady.currents() == before and set(steady.served().values()) == set(before.values())
    # a single host forward again by hand (drift), then back to the fleet's release with --hosts
    forward = steady.cli("rollback", "staging", "--hosts", "web2", "--to", plan["release"])
    made = forward.output.split("plan id ")[1].split()[0]
    assert steady.cli("rollback", "staging", "--plan", made, "--approve", PHRASE).exit_code == 0
    assert steady.host("web2").current() == plan["release"]
    shown_status = steady.cli("status", "staging")
    assert "drift" in shown_status.output and "--hosts web2" in shown_status.output
    back = steady.cli("rollback", "staging", "--hosts", "web2")
    made = back.output.split("plan id ")[1].split()[0]
    assert steady.cli("rollback", "staging", "--plan", made, "--approve", PHRASE).exit_code == 0
    assert steady.currents() == before
    # retention on every host (keep_releases = 3), never the live or the previous good release
    cleaned = steady.cli("cleanup", "staging")
    assert cleaned.exit_code == 0, cleaned.output and "web1:" in cleaned.output
    for host in steady.hosts:
        assert before[host.name] in host.releases() and len(host.releases()) <= 3
    assert steady.cli("unlock", "staging").output.strip() == "no chosen host of staging is locked"


def _deploy_process(steady: FleetProject, plan: dict[str, Any], failpoints: str) -> tuple[int, str]:
    env = {**os.environ, "FREIGABE_FAILPOINTS": failpoints}
    argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--plan", plan["id"], "--approve", PHRASE]
    done = subprocess.run(
        [*argv, "--config", str(steady.root / "freigabe.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_signal_stops_every_host_before_the_switch_and_rolls_every_host_back_after_it(steady: FleetProject) -> None:
    before = steady.currents()
    bundle = steady.build("v12")
    plan = steady.plan(bundle)
    code, output = _deploy_process(steady, plan, "step.after:gate.layer2.command.1@1=sigint")
    assert code == ExitCode.INTERRUPTED, output
    assert steady.currents() == before
    for host in steady.hosts:
        assert plan["release"] not in host.releases()  # the unfinished release is removed everywhere
        assert not (host.root / ".freigabe" / "deploy.lock").exists()
    plan = steady.plan(bundle)
    code, output = _deploy_process(steady, plan, "fleet.switched=sigterm")
    assert code == ExitCode.ROLLED_BACK, output
    assert steady.currents() == before and set(steady.served().values()) == set(before.values())
    run = _run_of(steady.host("web1"))
    assert all(any(e["event"] == "rollback.verified" for e in mine) for mine in steady.run_entries(run).values())


def test_promotion_from_a_fleet_needs_every_host_stable_on_one_release(steady: FleetProject) -> None:
    from freigabe.errors import ApprovalError
    from freigabe.usecases.promote import check_stability

    prod = steady.root / "prod"
    steady.configure()
    toml = steady.root / "freigabe.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[environments.production]\ndeploy_path = "{prod}"\nurl = "{steady.fleet.url}"\n'
        + '[environments.production.promotion]\nrequires_stable_in = "staging"\nstable_for = "0s"\n'
    )
    release = steady.host("web1").current()
    stable = check_stability(load_config(toml), "production")
    assert stable.release == release and stable.bundle["sha256"]
    # one host on another release: the fleet is not stable
    root = steady.host("web2").root
    older = "20000101_000000-0lder000"
    shutil.copytree(root / "releases" / str(release), root / "releases" / older, symlinks=True)
    (root / "current.tmp").symlink_to(f"releases/{older}")
    (root / "current.tmp").rename(root / "current")
    try:
        with pytest.raises(ApprovalError, match=r"drifted.*web2"):
            check_stability(load_config(toml), "production")
    finally:
        (root / "current.tmp").symlink_to(f"releases/{release}")
        (root / "current.tmp").rename(root / "current")
        shutil.rmtree(root / "releases" / older)
