"""The engine: one handler per step kind, typed arguments, and no run without its end on record."""

from __future__ import annotations

import json

import pytest

from freigabe import failpoints
from freigabe.adapters.transport import LocalTransport
from freigabe.config import parse_config
from freigabe.core import pipeline
from freigabe.core import steps as typed
from freigabe.core.plan import BundleRef, Step
from freigabe.engine.actions import REGISTRY
from freigabe.errors import ExitCode

from .conftest import Project

BUNDLE = BundleRef(name="deployment-bundle-abc.tar.gz", sha256="a" * 64, size=10, path="/x/b.tgz", sha="abc")
CONFIG = parse_config(
    {
        "preset": "laravel",
        "deploy": {"php_fpm_service": "php8.3-fpm"},
        "environments": {
            "staging": {
                "deploy_path": "/srv/app",
                "url": "http://127.0.0.1:8080",
                "backup": {"db_dump": ["mysqldump", "app"], "files": ["/etc/nginx/sites-enabled/app"]},
                "assets": {"extra": ["/favicon.ico"]},
                "server": {"nginx_test": ["nginx", "-t"], "migrations_status": ["php", "artisan", "migrate:status"]},
            },
            "production": {
                "deploy_path": "/srv/prod",
                "url": "http://127.0.0.1:8081",
                "promotion": {"requires_stable_in": "staging"},
            },
        },
    }
)


def _every_emitted_step() -> list[Step]:
    out: list[Step] = []
    for env in ("staging", "production"):
        out += pipeline.deploy_steps(CONFIG, env, BUNDLE, "20260101_000000-abc", "20260101_000000", "prev")
        out += pipeline.rollback_steps(CONFIG, env, "20260101_000000-abc", "prev")
        out += pipeline.restore_steps(CONFIG, env, "prev")
        out += pipeline.recover_steps(CONFIG, env, "prev")
        out += pipeline.preflight_steps(CONFIG, env, BUNDLE, "pf")
    out.append(pipeline.scratch_removal(["/srv/app/.freigabe/preflight/pf"]))
    return out


def test_every_step_kind_has_exactly_one_handler_and_one_model() -> None:
    assert set(REGISTRY) == set(typed.ACTIONS)
    for action, spec in REGISTRY.items():
        assert spec.args is typed.ACTIONS[action], action


def test_every_step_the_pipeline_emits_is_handled_and_its_args_validate() -> None:
    emitted = _every_emitted_step()
    assert {s.action for s in emitted} >= {"switch", "wait.ready", "health.check", "release.extract", "command"}
    for step in emitted:
        spec = REGISTRY[step.action]
        spec.args.model_validate(step.args)  # the engine will accept exactly what the plan holds


def test_step_arguments_are_typed_and_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        typed.Switch.model_validate({"link": "/x/current", "target": "releases/r", "release": "r", "force": True})
    with pytest.raises(ValueError):
        Step(id="x", title="x", action="rm -rf /", args={})


def test_a_bug_in_a_handler_is_a_recorded_failure_not_a_traceback(deployed: Project) -> None:
    live = deployed.current()

    def bug() -> None:
        raise KeyError("a handler that crashes")

    failpoints.arm("step.before:gate.layer2.files", bug)
    bundle = deployed.build("v2")
    result = deployed.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.GATE, result.output
    assert "internal error in gate.files: KeyError" in result.output and "Traceback" not in result.output
    assert deployed.current() == live
    finished = [e for e in deployed.ledger() if e["event"] == "run.finished"][-1]
    assert finished["data"]["outcome"] == "aborted" and finished["data"]["failed_step"] == "gate.layer2.files"


def test_a_plan_holds_typed_steps(deployed: Project) -> None:
    bundle = deployed.build("v2")
    plan = json.loads(deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--json").raw)
    for step in plan["steps"]:
        REGISTRY[step["action"]].args.model_validate(step["args"])


def test_under_the_lock_the_live_link_is_read_once(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a run holding the lock changes `current`, and its switch reads the link back: the lock's
    look reads it, nothing else reads it again (every read is a round trip to a far target)."""
    before, bundle = deployed.current(), deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    link = str(deployed.deploy_path("staging") / "current")
    reads: list[str] = []
    readlink = LocalTransport.readlink

    def counted(self: LocalTransport, path: str) -> str | None:
        reads.append(path)
        return readlink(self, path)

    monkeypatch.setattr(LocalTransport, "readlink", counted)
    result = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    assert result.exit_code == 0, result.output
    assert reads.count(link) == 2  # the lock's look, and the switch reading back what it made
    mine = [e for e in deployed.ledger() if e["run"] == deployed.ledger()[-1]["run"]]
    started = next(e for e in mine if e["event"] == "run.started")
    finished = next(e for e in mine if e["event"] == "run.finished")
    assert started["data"]["current_before"] == before
    assert finished["data"]["current_after"] == deployed.current() != before


def test_a_switch_to_a_release_that_is_not_there_changes_nothing(deployed: Project) -> None:
    live, bundle = deployed.current(), deployed.build("v2")

    def vanish() -> None:  # the release folder gone between extraction and the switch
        releases = deployed.deploy_path("staging") / "releases"
        new = [p for p in releases.iterdir() if p.name != live]
        for p in new:
            p.rename(releases.parent / f"moved-{p.name}")

    failpoints.arm("step.before:switch", vanish)
    result = deployed.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.GATE, result.output
    assert "is not a complete release on the target" in result.output
    assert deployed.current() == live and deployed.served() == live
    switches = [e for e in deployed.ledger() if e["event"] == "switch"]
    assert all(e["data"]["after"] != "releases/missing" for e in switches)
