"""Plan ids: exact, covering config, bundle and live release; saved plans cannot be edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freigabe.config import config_digest, parse_config
from freigabe.core import pipeline
from freigabe.core.plan import BundleRef, Plan, PlanInputs
from freigabe.errors import ApprovalError
from freigabe.usecases.planning import check_phrase, stale_reasons

CONFIG = parse_config(
    {
        "preset": "laravel",
        "environments": {
            "staging": {
                "deploy_path": "/srv/app",
                "url": "http://127.0.0.1:8080",
                "health": [{"name": "health", "url": "/health", "bearer_token_env": "HEALTHCHECK_TOKEN"}],
            },
            "production": {
                "deploy_path": "/srv/prod",
                "url": "http://127.0.0.1:8081",
                "promotion": {"requires_stable_in": "staging"},
            },
        },
    }
)
BUNDLE = BundleRef(name="deployment-bundle-abc.tar.gz", sha256="a" * 64, size=10, path="/x/b.tgz", sha="abc")


def _plan(
    env: str = "staging",
    current: str | None = "20250101_000000-aaaaaaaa",
    bundle: BundleRef = BUNDLE,
    config=CONFIG,
    created: str = "t1",
) -> Plan:
    release = "20260101_000000-abc"
    return Plan(
        kind="deploy",
        environment=env,
        target="local",
        deploy_path="/srv/app",
        release=release,
        previous_release=current,
        bundle=bundle,
        inputs=PlanInputs(config_digest=config_digest(config), bundle_sha256=bundle.sha256, current_release=current),
        approval_phrase="STAGING-TEST FREIGEGEBEN",
        steps=pipeline.deploy_steps(config, env, bundle, release, "20260101_000000", current),
        rollback_steps=pipeline.rollback_steps(config, env, release, current),
        created_at=created,
    )


def test_id_is_stable_and_ignores_time_and_local_path() -> None:
    moved = BUNDLE.model_copy(update={"path": "/elsewhere/b.tgz"})
    assert _plan().id == _plan(created="t2").id == _plan(bundle=moved).id
    assert len(_plan().id) == 64


def test_id_covers_every_input() -> None:
    base = _plan().id
    assert _plan(current="20250202_000000-bbbbbbbb").id != base
    assert _plan(bundle=BUNDLE.model_copy(update={"sha256": "b" * 64})).id != base
    other = parse_config(
        {
            "preset": "laravel",
            "deploy": {"reload": [["true"]]},
            "environments": {"staging": {"deploy_path": "/srv/app", "url": "http://127.0.0.1:8080"}},
        }
    )
    assert _plan(config=other).id != base


def test_saved_plan_that_was_edited_is_refused() -> None:
    data = _plan().to_json()
    assert Plan.from_json(data).id == data["id"]
    data["steps"][0]["title"] = "something else"
    with pytest.raises(ApprovalError, match="was edited"):
        Plan.from_json(data)


def test_pipeline_order_follows_the_reference_plan() -> None:
    ids = [s.id for s in _plan().steps]
    order = [
        "target.check",
        "url.check",
        "backup.create",
        "bundle.upload",
        "bundle.verify",
        "release.extract",
        "shared.link",
        "gate.layer2.files",
        "gate.layer2.command.1",
        "migrate.1",
        "cache.before.1",
        "switch",
        "cache.after.1",
        "reload.1",
        "readiness",
        "health.health",
        "assets.check",
        "release.mark",
        "cleanup",
    ]
    assert [i for i in ids if i in order] == order
    steps = {s.id: s for s in _plan().steps}
    assert all(steps[i].on_failure == "abort" for i in order[: order.index("switch")] if i != "cache.before.1")
    assert steps["cache.before.1"].on_failure == "warn"
    assert steps["health.health"].on_failure == "rollback" and steps["assets.check"].on_failure == "rollback"
    assert steps["switch"].args["target"] == "releases/20260101_000000-abc"
    # health args carry the *name* of the token variable, never a value
    assert steps["health.health"].args["bearer_token_env"] == "HEALTHCHECK_TOKEN"


def test_layer3_only_for_production() -> None:
    staging = [s.id for s in _plan().steps]
    prod = [s.id for s in _plan(env="production").steps]
    assert not any(i.startswith("gate.layer3") for i in staging)
    assert "gate.layer3.command.1" in prod


def test_rollback_steps_target_the_recorded_release() -> None:
    plan = _plan()
    first = plan.rollback_steps[0]
    assert first.action == "switch" and first.args["release"] == "20250101_000000-aaaaaaaa"
    assert plan.rollback_steps[-1].args == {"release": "20260101_000000-abc", "mark": "bad"}
    assert _plan(current=None).rollback_steps == []


def test_staleness_reasons(tmp_path: Path) -> None:
    plan = _plan()

    class Loaded:
        digest = config_digest(CONFIG)

    assert stale_reasons(plan, Loaded(), plan.previous_release, BUNDLE.sha256) == []  # type: ignore[arg-type]
    reasons = stale_reasons(plan, Loaded(), "other", "c" * 64)  # type: ignore[arg-type]
    assert any("bundle changed" in r for r in reasons) and any("live release changed" in r for r in reasons)


def test_phrases() -> None:
    plan = _plan()
    check_phrase(plan, "STAGING-TEST FREIGEGEBEN")
    check_phrase(plan, "  STAGING-TEST   FREIGEGEBEN ")
    with pytest.raises(ApprovalError, match="needs 'STAGING-TEST FREIGEGEBEN'"):
        check_phrase(plan, "PROD-DEPLOY FREIGEGEBEN")
    with pytest.raises(ApprovalError, match="phrase is wrong"):
        check_phrase(plan, "staging-test freigegeben")
    with pytest.raises(ApprovalError, match="cancelled"):
        check_phrase(plan, "abbrechen")


def test_plan_json_roundtrip_is_canonical() -> None:
    data = _plan().to_json()
    again = Plan.from_json(json.loads(json.dumps(data)))
    assert again.id == data["id"]
    assert again.to_json() == data

    def reversed_keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(v) for v in value]
        return value

    shuffled = json.dumps(reversed_keys(data), indent=3)
    assert shuffled != json.dumps(data, indent=3)
    assert Plan.from_json(json.loads(shuffled)).id == data["id"]  # key order and layout are not identity
    edited = {**data, "release": data["release"] + "x"}
    with pytest.raises(ApprovalError):
        Plan.from_json(edited)
