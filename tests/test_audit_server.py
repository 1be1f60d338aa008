"""Server checks: every id with a failing and a passing case, on real local targets."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from freigabe.core.findings import Finding
from freigabe.usecases.audit import run_audit

from .conftest import Project


def _audit(project: Project, env: str = "staging", needs: int = 0) -> dict[str, Finding]:
    result = run_audit(project.loaded(), env, ("server",), needs_bytes=needs)
    return {f.key: f for f in result.findings}


def _live(project: Project) -> Path:
    current = project.current()
    assert current is not None
    return project.deploy_path() / "releases" / current


def test_a_healthy_deploy_passes_everything(deployed: Project) -> None:
    rows = _audit(deployed)
    for key in (
        "server.current",
        "server.failed-release",
        "server.required-files",
        "server.lock",
        "server.disk",
        "server.token-digest",
        "server.sudo",
        "server.env-link",
        "server.migrations",
        "server.release-drift",
        "server.unrecorded-switch",
        "server.url",
        "server.live-unverified",
    ):
        assert rows[key].status == "ok", rows[key]


def test_current(project: Project, deployed: Project) -> None:
    link = deployed.deploy_path() / "current"
    link.unlink()
    link.symlink_to("releases/20990101_000000-gone")
    assert _audit(deployed)["server.current"].status == "fail"


def test_no_release_yet(project: Project) -> None:
    rows = _audit(project)
    assert rows["server.current"].status == "warn" and "first deploy" in rows["server.current"].ist


def test_failed_release_with_the_ledgers_reason(deployed: Project) -> None:
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    deployed.deploy("staging", bundle.path)
    row = _audit(deployed)["server.failed-release"]
    assert row.status == "warn" and "rolled_back" in row.ist and "HTTP 500" in row.ist


def test_required_files(deployed: Project) -> None:
    (_live(deployed) / "public" / "index.html").unlink()
    row = _audit(deployed)["server.required-files"]
    assert row.status == "fail" and row.impact == "P0" and "public/index.html" in row.ist


def test_lock(deployed: Project) -> None:
    lock = deployed.deploy_path() / ".freigabe" / "deploy.lock"
    lock.write_text(
        json.dumps({"owner": "ci", "host": "elsewhere", "pid": 1, "run": "r-old", "started": 1.0, "release": None})
    )
    row = _audit(deployed)["server.lock"]
    assert row.status == "fail" and "looks abandoned" in row.ist


def test_disk(deployed: Project) -> None:
    row = _audit(deployed, needs=10**18)["server.disk"]
    assert row.status == "fail"


def test_disk_of_a_deploy_path_that_does_not_exist_yet(project: Project) -> None:
    """Measured at the nearest existing parent, where the first deploy will create it."""
    toml = project.root / "freigabe.toml"
    missing = project.root / "not" / "yet" / "there"
    toml.write_text(
        toml.read_text().replace(f'deploy_path = "{project.deploy_path()}"', f'deploy_path = "{missing}"', 1)
    )
    row = _audit(project)["server.disk"]
    assert row.status == "ok", row
    assert f"at {project.root} (the deploy path does not exist yet)" in row.ist


def test_a_down_url_is_caught_by_the_plan(deployed: Project) -> None:
    bundle = deployed.build("v2")
    deployed.servers["staging"].stop()
    try:
        row = _audit(deployed)["server.url"]
        assert row.status == "fail" and "does not answer" in row.ist
        plan = json.loads(deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--json").raw)
        assert plan["decision"]["verdict"] == "NO-GO" and "server.url" in plan["decision"]["blocking"]
    finally:
        deployed.servers["staging"] = type(deployed.servers["staging"])(deployed.deploy_path())
        deployed.servers["staging"].start()


def test_a_newer_good_release_after_a_manual_rollback_is_no_failed_release(deployed: Project) -> None:
    v2 = deployed.build("v2")
    assert deployed.deploy("staging", v2.path).exit_code == 0
    made = deployed.cli("rollback", "staging", "--approve", "STAGING-TEST FREIGEGEBEN")
    plan = made.output.split("--plan ")[1].split()[0]
    assert deployed.cli("rollback", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN").exit_code == 0
    row = _audit(deployed)["server.failed-release"]
    assert row.status == "ok" and "marked good (a manual rollback)" in row.ist


def test_token_digest_match_mismatch_and_pending(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    env = deployed.deploy_path() / "shared" / ".env"
    env.write_text(
        '# written by hand\nexport HEALTHCHECK_TOKEN="' + os.environ["HEALTHCHECK_TOKEN"] + '"  \nAPP_NAME=x\n'
    )
    assert _audit(deployed)["server.token-digest"].status == "ok"  # quotes, export: the value is compared
    env.write_text("HEALTHCHECK_TOKEN=something-else\n")
    row = _audit(deployed)["server.token-digest"]
    assert row.status == "fail" and "digests differ" in row.ist
    assert (
        "something-else" not in row.model_dump_json() and os.environ["HEALTHCHECK_TOKEN"] not in row.model_dump_json()
    )
    monkeypatch.delenv("HEALTHCHECK_TOKEN")
    assert _audit(deployed)["server.token-digest"].status == "pending"


def test_sudo(deployed: Project) -> None:
    toml = deployed.root / "freigabe.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace(
            'revision_file = "public/REVISION"', 'revision_file = "public/REVISION"\nreload = [["sudo", "-n", "true"]]'
        )
    )
    assert _audit(deployed)["server.sudo"].status == "ok"
    toml.write_text(
        text.replace(
            'revision_file = "public/REVISION"',
            'revision_file = "public/REVISION"\nreload = [["sudo", "-n", "/nonexistent/reload"]]',
        )
    )
    row = _audit(deployed)["server.sudo"]
    assert row.status == "fail" and "/nonexistent/reload" in row.ist


SITE = """
events {{}}
http {{
  server {{
    listen 127.0.0.1:18999;
    root {root}/current/public;
    location ~ \\.php$ {{
      fastcgi_pass 127.0.0.1:9000;
      fastcgi_param SCRIPT_FILENAME {var}$fastcgi_script_name;
    }}
  }}
}}
"""


@pytest.mark.parametrize(("var", "status"), [("$document_root", "fail"), ("$realpath_root", "ok")])
def test_nginx(deployed: Project, tmp_path: Path, var: str, status: str) -> None:
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed (`make tools` installs it)")
    conf = tmp_path / "nginx.conf"
    conf.write_text(SITE.format(root=deployed.deploy_path(), var=var))
    toml = deployed.root / "freigabe.toml"
    toml.write_text(
        toml.read_text().replace(
            "[environments.staging.server]\n",
            f'[environments.staging.server]\nnginx_test = ["nginx", "-t", "-q", "-c", "{conf}", "-e", '
            f'"{tmp_path}/error.log", "-g", "pid {tmp_path}/nginx.pid;"]\nnginx_config = ["{conf}"]\n',
            1,
        )
    )
    rows = _audit(deployed)
    assert rows["server.nginx:config-test"].status == "ok", rows["server.nginx:config-test"]
    row = rows[f"server.nginx:{conf}"]
    assert row.status == status and row.impact == "P1"
    if status == "fail":
        assert "$document_root" in row.ist and "$realpath_root" in row.fix
    conf.write_text("events {} http { server { listen nope; } }")
    broken = _audit(deployed)["server.nginx:config-test"]
    assert broken.status == "fail" and "fails" in broken.ist


def test_env_link(deployed: Project) -> None:
    env = _live(deployed) / ".env"
    content = env.read_text()
    env.unlink()
    env.write_text(content)
    row = _audit(deployed)["server.env-link"]
    assert row.status == "fail" and "not a link" in row.ist


def test_migrations(deployed: Project) -> None:
    (_live(deployed) / "migrations" / "002_orders.sql").write_text("create table orders (id integer);\n")
    row = _audit(deployed)["server.migrations"]
    assert row.status == "warn" and "002_orders.sql" in row.ist


def test_release_drift_lists_changed_and_added_files(deployed: Project) -> None:
    live = _live(deployed)
    (live / "public" / "index.html").write_text("hotfix edited on the server")
    (live / "public" / "debug.php").write_text("<?php phpinfo();")
    row = _audit(deployed)["server.release-drift"]
    assert row.status == "fail" and row.impact == "P1"
    assert row.evidence == {"changed": ["public/index.html"], "added": ["public/debug.php"]}


def test_unrecorded_switch(deployed: Project) -> None:
    first = deployed.current()
    v2 = deployed.build("v2")
    assert deployed.deploy("staging", v2.path).exit_code == 0
    link = deployed.deploy_path() / "current"
    tmp = deployed.deploy_path() / "current.tmp"
    tmp.symlink_to(f"releases/{first}")
    tmp.replace(link)  # someone switched back by hand
    row = _audit(deployed)["server.unrecorded-switch"]
    assert row.status == "fail" and row.impact == "P0"


def test_a_p1_makes_production_no_go_and_the_deploy_is_refused(deployed: Project) -> None:
    """Staging would be CONDITIONAL GO with the same finding; production is NO-GO, no flag skips it."""
    import time

    from freigabe.errors import ExitCode

    time.sleep(1.1)  # staging stable_for = 1s
    first = deployed.cli("promote", "production")
    plan_id = first.output.split("plan id ")[1].split()[0]
    assert (
        deployed.cli("promote", "production", "--plan", plan_id, "--approve", "PROD-DEPLOY FREIGEGEBEN").exit_code == 0
    )
    live = deployed.current("production")
    assert live is not None
    (deployed.deploy_path("production") / "releases" / live / "public" / "index.html").write_text("hotfix")
    bundle = deployed.build("v2")
    planned = deployed.cli("plan", "production", "--bundle", str(bundle.path), "--json")
    plan = json.loads(planned.raw)
    assert plan["decision"]["verdict"] == "NO-GO"
    assert "server.release-drift" in plan["decision"]["blocking"]
    refused = deployed.cli("deploy", "production", "--plan", plan["id"], "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert refused.exit_code == ExitCode.APPROVAL and "decision NO-GO" in refused.output
    assert deployed.current("production") == live
    (deployed.deploy_path() / "releases" / str(deployed.current()) / "public" / "index.html").write_text("hotfix")
    staging = deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--json")
    assert json.loads(staging.raw)["decision"]["verdict"] == "CONDITIONAL GO"
