"""Pre-flight: read-only for what is live; gates in a temporary copy that is always removed."""

from __future__ import annotations

import json
import sys

from freigabe.errors import ExitCode

from .conftest import Project, tree_snapshot


def _layer3(project: Project, argv: list[str]) -> None:
    toml = project.root / "freigabe.toml"
    toml.write_text(
        toml.read_text()
        .replace("[deploy]\n", "[deploy]\n", 1)
        .replace("[gates]\n", f"[gates]\nproduction_commands = [{json.dumps(argv)}]\n", 1)
    )


def test_preflight_passes_and_leaves_no_trace(deployed: Project) -> None:
    _layer3(deployed, [sys.executable, "manage.py", "check"])
    bundle = deployed.build("v2")
    (deployed.app / "migrations" / "002_orders.sql").write_text("create table orders (id integer);\n")
    bundle = deployed.build("v2b")
    before = {
        k: v for k, v in tree_snapshot(deployed.deploy_path("production")).items() if not k.startswith(".freigabe")
    }
    result = deployed.cli("preflight", "production", "--bundle", str(bundle.path))
    assert result.exit_code == 0, result.output
    assert "gate.layer3.command.1" in result.output and "pre-flight passed" in result.output
    assert "2 pending" in result.output and "002_orders.sql" in result.output and "env.link" in result.output
    after = {
        k: v for k, v in tree_snapshot(deployed.deploy_path("production")).items() if not k.startswith(".freigabe")
    }
    assert after == before  # nothing live changed: no release, no current, no backup
    leftovers = deployed.deploy_path("production") / ".freigabe" / "preflight"
    assert not leftovers.exists() or not any(leftovers.iterdir())
    assert not (deployed.deploy_path("production") / ".freigabe" / "deploy.lock").exists()


def test_failing_layer3_gate_stops_the_preflight(deployed: Project) -> None:
    _layer3(deployed, ["sh", "-c", "echo 'config:cache failed: env() used outside config' >&2; exit 1"])
    bundle = deployed.build("v2")
    live = deployed.current()
    result = deployed.cli("preflight", "staging", "--bundle", str(bundle.path))
    # staging has no layer 3; production has
    assert result.exit_code == 0, result.output
    result = deployed.cli("preflight", "production", "--bundle", str(bundle.path))
    assert result.exit_code == ExitCode.GATE, result.output
    assert "config:cache failed" in result.output and "nothing live was changed" in result.output
    leftovers = deployed.deploy_path("production") / ".freigabe" / "preflight"
    assert not leftovers.exists() or not any(leftovers.iterdir())
    assert deployed.current() == live


def test_preflight_works_for_any_environment(deployed: Project) -> None:
    """Staging has no promotion rule: without --bundle the newest built bundle is checked."""
    deployed.build("v2")
    newest = deployed.build("v3")
    result = deployed.cli("preflight", "staging")
    assert result.exit_code == 0, result.output
    assert f"bundle: {newest.path}" in result.output and "pre-flight passed for staging" in result.output
    assert "gate.layer3" not in result.output  # staging runs the layer-2 gates only
