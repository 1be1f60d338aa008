"""The stale-code case on real nginx + PHP-FPM with OPcache on and validate_timestamps=0.

With `fastcgi_param SCRIPT_FILENAME $document_root…` and a symlinked current, PHP's realpath
cache and OPcache keep serving the old release after the switch until PHP-FPM is reloaded.
These tests prove freigabe's reload step is necessary (not assumed), that freigabe's
readiness probe catches the stale release and rolls back without it, and that with
`$realpath_root` the new release answers at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from freigabe.cli import app
from freigabe.config import load_config
from freigabe.errors import ExitCode
from freigabe.usecases.build import build

from .support.sshd import Sshd
from .support.webstack import WebStack, start_webstack, write_php_app


def _config(deploy: Path, url: str, reload: list[list[str]], nginx_conf: Path) -> str:
    return f"""
preset = "generic"
[build]
source = "app"
[gates]
required_files = ["public/index.php", "public/release.php"]
[deploy]
revision_file = "public/REVISION"
reload = {json.dumps(reload)}
[environments.staging]
target = "local"
deploy_path = "{deploy}"
url = "{url}"
[environments.staging.backup]
enabled = false
[environments.staging.readiness]
timeout = "3s"
interval = "0.05s"
probe = {{ url = "/release.php" }}
[[environments.staging.health]]
name = "health"
url = "/health.php"
expect_json = {{ status = "ok" }}
attempts = 2
interval = "0.2s"
[environments.staging.server]
nginx_config = ["{nginx_conf}"]
"""


class Site:
    def __init__(self, root: Path, stack: WebStack, reload: bool, sshd: Sshd | None = None) -> None:
        self.root, self.stack = root, stack
        cmds = [stack.reload_command()] if reload else []
        text = _config(stack.deploy_path, stack.url, cmds, stack.nginx_conf)
        if sshd is not None:  # the same stack, reached over SSH
            text = text.replace('target = "local"', f'target = "{sshd.target}"') + (
                f"\n[environments.staging.ssh]\n{sshd.toml()}"
            )
        (root / "freigabe.toml").write_text(text)
        self.runner = CliRunner()
        self.n = 0

    def deploy(self, version: str) -> tuple[int, str]:
        write_php_app(self.root / "app", version)
        self.n += 1
        loaded = load_config(self.root / "freigabe.toml")
        bundle = build(loaded, sha=f"{self.n:02d}{version}".ljust(40, "0")).bundle
        cfg = ["--config", str(self.root / "freigabe.toml")]
        plan = self.runner.invoke(app, ["plan", "staging", "--bundle", str(bundle.path), "--json", *cfg])
        assert plan.exit_code == 0, plan.output
        plan_id = json.loads(plan.output)["id"]
        result = self.runner.invoke(
            app, ["deploy", "staging", "--plan", plan_id, "--approve", "STAGING-TEST FREIGEGEBEN", *cfg]
        )
        return result.exit_code, result.output

    def served(self) -> str:
        return httpx.get(f"{self.stack.url}/index.php", timeout=5).text.strip()


@pytest.fixture(params=["local", "ssh"])
def make_site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str, bool], Site]]:
    stacks: list[WebStack] = []
    sshd: Sshd | None = request.getfixturevalue("sshd") if request.param == "ssh" else None

    def factory(root_var: str, reload: bool) -> Site:
        deploy = tmp_path / "deploy"
        (deploy / "shared").mkdir(parents=True, exist_ok=True)
        stack = start_webstack(tmp_path / "stack", deploy, root_var)
        stacks.append(stack)
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        return Site(root, stack, reload, sshd)

    yield factory
    for stack in stacks:
        stack.stop()


def test_document_root_without_reload_serves_stale_code_and_freigabe_rolls_back(
    make_site: Callable[[str, bool], Site],
) -> None:
    site = make_site("$document_root", False)
    code, output = site.deploy("v1")
    assert code == 0, output
    assert site.served() == "demo-shop v1"
    code, output = site.deploy("v2")
    # the switch happened, but PHP kept answering from the old release: readiness saw it and rolled back
    assert code == ExitCode.ROLLED_BACK, output
    assert "was not answering" in output and "answered" in output
    assert site.served() == "demo-shop v1"


def test_document_root_stays_stale_until_the_reload(make_site: Callable[[str, bool], Site]) -> None:
    """Switch by hand (no reload): the old code is still served seconds later; the reload fixes it."""
    site = make_site("$document_root", False)
    assert site.deploy("v1")[0] == 0
    for _ in range(3):
        assert site.served() == "demo-shop v1"  # warm OPcache and the realpath cache
    write_php_app(site.root / "app", "v2")
    new = site.stack.deploy_path / "releases" / "manual-v2"
    (new / "public").mkdir(parents=True)
    for rel in ("public/index.php", "public/release.php", "public/health.php"):
        (new / rel).write_text((site.root / "app" / rel).read_text())
    tmp = site.stack.deploy_path / "current.tmp"
    tmp.symlink_to("releases/manual-v2")
    tmp.replace(site.stack.deploy_path / "current")
    time.sleep(3)
    assert site.served() == "demo-shop v1", "expected stale code without a reload"
    import subprocess

    subprocess.run(site.stack.reload_command(), check=True)
    deadline = time.monotonic() + 5
    while site.served() != "demo-shop v2":
        assert time.monotonic() < deadline, "the reload did not bring the new code"
        time.sleep(0.05)


def test_document_root_with_freigabes_reload_serves_the_new_release(make_site: Callable[[str, bool], Site]) -> None:
    site = make_site("$document_root", True)
    assert site.deploy("v1")[0] == 0
    assert site.served() == "demo-shop v1"
    code, output = site.deploy("v2")
    assert code == 0, output
    assert site.served() == "demo-shop v2"


def test_realpath_root_serves_the_new_release_at_once(make_site: Callable[[str, bool], Site]) -> None:
    site = make_site("$realpath_root", False)
    assert site.deploy("v1")[0] == 0
    assert site.served() == "demo-shop v1"
    code, output = site.deploy("v2")
    assert code == 0, output
    assert site.served() == "demo-shop v2"
    ledger = [json.loads(line) for line in (site.stack.deploy_path / ".freigabe/ledger.jsonl").read_text().splitlines()]
    ready = [e for e in ledger if e["event"] == "step.finished" and e["data"]["step"] == "readiness"][-1]
    assert ready["data"]["details"]["polls"] == 1  # the first probe already saw the new release (no timing)


def test_the_audit_flags_document_root(make_site: Callable[[str, bool], Site]) -> None:
    site = make_site("$document_root", True)
    assert site.deploy("v1")[0] == 0
    result = CliRunner().invoke(
        app, ["audit", "server", "--env", "staging", "--json", "--config", str(site.root / "freigabe.toml")]
    )
    rows = {f["key"]: f for f in json.loads(result.output)["findings"]}
    row = rows[f"server.nginx:{site.stack.nginx_conf}"]
    assert row["status"] == "fail" and row["impact"] == "P1" and "$realpath_root" in row["fix"]
    assert os.path.exists(site.stack.fpm_pid_file)
