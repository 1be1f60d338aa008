"""Fleets on five real hosts: each its own sshd (port, host key), mount namespace and nginx + PHP-FPM,
a round-robin nginx in front. One fleet serves every test of this module: each test starts from
what the fleet serves and puts back what it changed (flags, a killed host)."""

from __future__ import annotations

import json
import os
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
        result = CliRunner().invoke(
            app, [*args, "--config", str(self.root / "freigabe.toml")], catch_exceptions=False
        )
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
    assert plan["fleet"] == {"strategy": "all-at-once", "batches": [[f"web{i}" for i in range(1, 6)]],
                             "on_unreachable": "abort", "concurrency": 8}
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
