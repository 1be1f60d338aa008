"""Crash safety: a deploy killed (SIGKILL, nothing handles it) at each named point of the engine.

After every kill: the site answers with a complete release; `status` names what needs doing
and the command for it; those commands work; the next deploy succeeds; the ledger verifies;
nothing the killed run left behind remains. `tools/crash_table.py` runs every point over both
transports and prints the table; the suite runs every point locally and a sample over SSH.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import Project

PHRASE = "STAGING-TEST FREIGEGEBEN"

DEPLOY_STEPS = [
    "target.check",
    "url.check",
    "backup.create",
    "bundle.upload",
    "bundle.verify",
    "release.extract",
    "shared.link",
    "gate.layer2.files",
    "gate.layer2.command.1",
    "gate.layer2.command.2",
    "migrate.1",
    "cache.before.1",
    "switch",
    "cache.after.1",
    "readiness",
    "health.health",
    "assets.check",
    "release.mark",
    "cleanup",
]
INSIDE = [
    "step.before:switch",
    "extract.unpacked",
    "extract.before-rename",
    "switch.tmp-link",
    "switch.recorded-before",
    "switch.recorded",
    "ledger.append.before@4",
    "ledger.append.after@4",
    "ledger.append.before@15",
    "ledger.append.after@15",
]
ROLLBACK = [
    "step.before:rollback.switch",
    "switch.tmp-link@2",
    "step.after:rollback.switch",
    "step.before:rollback.readiness",
    "step.after:rollback.readiness",
    "step.after:rollback.health.health",
]
POINTS = [f"step.after:{s}" for s in DEPLOY_STEPS] + INSIDE + [f"rollback:{p}" for p in ROLLBACK]
SSH_SAMPLE = [
    "step.after:bundle.upload",
    "extract.before-rename",
    "switch.tmp-link",
    "switch.recorded-before",
    "step.after:readiness",
    "ledger.append.before@15",
    "rollback:step.after:rollback.switch",
    "rollback:step.before:rollback.readiness",
]


@dataclass
class Outcome:
    point: str
    attention: list[str]
    served: str


def killed_deploy(project: Project, point: str) -> int:
    """Deploy v2 (a failing one for rollback points) in its own process, killed at `point`."""
    failing = point.startswith("rollback:")
    failpoint = point.removeprefix("rollback:")
    bundle = project.build("v2", respond={"/health": {"status": 500}} if failing else None)
    plan = project.plan_id("staging", bundle.path)
    env = {**os.environ, "FREIGABE_FAILPOINTS": f"{failpoint}=kill"}
    argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--plan", plan, "--approve", PHRASE]
    proc = subprocess.run(
        [*argv, "--config", str(project.root / "freigabe.toml")], env=env, capture_output=True, text=True, timeout=180
    )
    return proc.returncode


def leftovers(deploy_path: Path) -> list[str]:
    found = []
    for path in deploy_path.rglob("*"):
        name = path.name
        if name.endswith(".partial") or name.startswith(".current.") or ".tmp-" in name or ".part-" in name:
            found.append(str(path.relative_to(deploy_path)))
        if path.parent.name == "running" and name.endswith(".pgid"):
            found.append(str(path.relative_to(deploy_path)))
    return found


def resolve(project: Project) -> list[str]:
    """Run every command `status` names, in its order; return what it named."""
    status = json.loads(project.cli("status", "staging", "--json").raw)
    named = [item["command"] for item in status["attention"]]
    for command in named:
        words = command.split()
        if words[1] == "recover":
            made = project.cli("recover", "staging", "--approve", PHRASE)
            plan = made.output.split("--plan ")[1].split()[0]
            done = project.cli("recover", "staging", "--plan", plan, "--approve", PHRASE)
            assert done.exit_code in (0, 5), done.output  # verified, or rolled back to the release before (verified)
        else:
            done = project.cli(*words[1:])
            assert done.exit_code == 0, (command, done.output)
    again = json.loads(project.cli("status", "staging", "--json").raw)
    assert again["attention"] == [], again["attention"]
    return named


def check_after_kill(project: Project, point: str) -> Outcome:
    code = killed_deploy(project, point)
    assert code == -signal.SIGKILL, f"{point} was never reached (exit {code})"
    # the site answers with a complete release, whichever one it is
    current = project.current()
    assert current is not None and project.served() == current
    version = (project.deploy_path() / "releases" / current / "VERSION").read_text().strip()
    assert version in httpx.get(f"{project.servers['staging'].url}/index.html", timeout=5).text
    named = resolve(project)
    assert project.cli("ledger", "verify", "staging").exit_code == 0
    v3 = project.build("v3")
    result = project.deploy("staging", v3.path)
    assert result.exit_code == 0, result.output
    assert "v3" in project.served_version()
    assert leftovers(project.deploy_path()) == []
    assert project.cli("ledger", "verify", "staging").exit_code == 0
    return Outcome(point, named, current)


@pytest.fixture
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each worker's rows of the crash table (point, transport, what served, what status named),
    for the record: `cat <basetemp>/*/crash-table.tsv` after a run with --basetemp."""
    return tmp_path_factory.getbasetemp() / "crash-table.tsv"


def _row(table: Path, transport: str, outcome: Outcome) -> None:
    with table.open("a", encoding="utf-8") as out:
        named = "; ".join(outcome.attention) or "nothing (clean)"
        out.write(f"{outcome.point}\t{transport}\t{outcome.served}\t{named}\n")


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_each_point_leaves_a_serving_site_and_a_way_back(deployed: Project, point: str, table: Path) -> None:
    _row(table, "local", check_after_kill(deployed, point))


@pytest.mark.parametrize("point", SSH_SAMPLE)
def test_a_kill_over_ssh_leaves_a_serving_site_and_a_way_back(live_ssh: Project, point: str, table: Path) -> None:
    _row(table, "ssh", check_after_kill(live_ssh, point))


def test_there_are_at_least_thirty_points() -> None:
    assert len(POINTS) >= 30
