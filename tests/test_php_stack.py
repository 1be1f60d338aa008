"""The laravel preset over SSH against real nginx + PHP-FPM (OPcache) + MariaDB.

The fixture app is shaped like the users' Laravel app: `artisan` runs real migrations on
MariaDB and real cache commands, `/health` and `/api/health-check` compare the bearer token
with hash_equals against `.env`, `/healthcheck.php`, a Vite manifest with assets, and
`/release` names the release that served the request. What nginx returns is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from freigabe.cli import app
from freigabe.config import load_config
from freigabe.errors import ExitCode
from freigabe.usecases.build import build

from .support.mariadb import MariaDB
from .support.sshd import Sshd
from .support.webstack import WebStack, start_webstack

FIXTURE = Path(__file__).parent / "fixtures" / "php_app"
TOKEN = "php-stack-token-0123456789abcdef"


def write_app(app_dir: Path, version: str, healthy: bool = True) -> None:
    if app_dir.exists():
        shutil.rmtree(app_dir)
    shutil.copytree(FIXTURE, app_dir)
    autoload = app_dir / "vendor" / "autoload.php"
    autoload.write_text(
        autoload.read_text().replace("{version}", version).replace("{healthy}", "true" if healthy else "false")
    )
    assets = app_dir / "public" / "build" / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, body in (
        ("app.js", f"console.log('{version}')"),
        ("app.css", f"body{{--v:'{version}'}}"),
        ("panel.css", ".panel{}"),
    ):
        stem, ext = name.rsplit(".", 1)
        hashed = f"{stem}-{hashlib.sha256(body.encode()).hexdigest()[:8]}.{ext}"
        (assets / hashed).write_text(body)
        manifest[f"resources/{name}"] = {"file": f"assets/{hashed}", "isEntry": True}
    (app_dir / "public" / "build" / "manifest.json").write_text(json.dumps(manifest))


@dataclass
class Stack:
    root: Path
    deploy: Path
    web: WebStack
    db: MariaDB
    database: str
    builds: int = 0

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*args, "--config", str(self.root / "freigabe.toml")])
        return result.exit_code, " ".join(result.output.split())

    def deploy_version(self, version: str, healthy: bool = True, extra_sql: str | None = None) -> tuple[int, str]:
        write_app(self.root / "app", version, healthy)
        if extra_sql:
            (self.root / "app" / "database" / "migrations" / "2025_02_01_000001_more.sql").write_text(extra_sql)
        self.builds += 1
        bundle = build(
            load_config(self.root / "freigabe.toml"), sha=f"{self.builds:02d}{version}".ljust(40, "0")
        ).bundle
        code, output = self.cli("plan", "staging", "--bundle", str(bundle.path), "--json")
        assert code == 0, output
        plan = json.loads(output)
        return self.cli("deploy", "staging", "--plan", plan["id"], "--approve", "STAGING-TEST FREIGEGEBEN")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.web.url}{path}", timeout=5)

    def current(self) -> str:
        return os.path.basename(os.readlink(self.deploy / "current"))


@pytest.fixture
def stack(tmp_path: Path, sshd: Sshd, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("HEALTHCHECK_TOKEN", TOKEN)
    database = f"shop_{tmp_path.name[-10:].replace('-', '_')}"
    mariadb.sql(f"create database `{database}`")
    deploy = tmp_path / "srv" / "app"
    (deploy / "shared").mkdir(parents=True)
    (deploy / "shared" / ".env").write_text(
        f'APP_ENV=staging\nDB_SOCKET="{mariadb.socket}"\nDB_DATABASE={database}\nDB_USERNAME=root\n'
        f'export HEALTHCHECK_TOKEN="{TOKEN}"\n'
    )
    web = start_webstack(tmp_path / "web", deploy, "$realpath_root")
    root = tmp_path / "project"
    root.mkdir()
    (root / "freigabe.toml").write_text(f"""
preset = "laravel"
[build]
source = "app"
commands = []
checks = []
finalize = []
[deploy]
reload = [{json.dumps(web.reload_command())}]
[environments.staging]
target = "{sshd.target}"
deploy_path = "{deploy}"
url = "{web.url}"
[environments.staging.ssh]
{sshd.toml()}
[environments.staging.readiness]
grace = "0s"
timeout = "5s"
interval = "0.05s"
probe = {{ url = "/release" }}
[environments.staging.backup]
db_dump = {json.dumps(mariadb.dump_command(database))}
[environments.staging.server]
migrations_status = ["php", "artisan", "migrate:status"]
nginx_test = ["nginx", "-t", "-q", "-c", "{web.nginx_conf}", "-e", "{web.folder}/t.log"]
nginx_config = ["{web.nginx_conf}"]
""")
    # the preset's three health checks, with fewer attempts so failures are quick
    text = (root / "freigabe.toml").read_text() + "".join(
        f'\n[[environments.staging.health]]\nname = "{n}"\nurl = "{u}"\nattempts = 2\ninterval = "0.2s"\n'
        + ('bearer_token_env = "HEALTHCHECK_TOKEN"\n' if b else "")
        for n, u, b in (
            ("health", "/health", True),
            ("api-health-check", "/api/health-check", True),
            ("healthcheck.php", "/healthcheck.php", False),
        )
    )
    (root / "freigabe.toml").write_text(text)
    s = Stack(root, deploy, web, mariadb, database)
    try:
        yield s
    finally:
        web.stop()


def test_good_deploy_over_ssh_served_by_nginx(stack: Stack) -> None:
    code, output = stack.deploy_version("v1")
    assert code == 0, output
    assert stack.get("/").text.strip() == "demo-shop v1"
    assert stack.get("/release").text.strip() == stack.current()
    assert stack.get("/health").status_code == 401  # the token is required
    ok = httpx.get(f"{stack.web.url}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["release"] == stack.current()
    assert stack.db.sql("select name from products order by id", stack.database) == "coffee\ntea"
    assert "gate.layer2.command.1" in output and "assets.check" in output and "3 assets served" in output
    backups = sorted((stack.deploy / "backups").iterdir())
    assert (backups[-1] / "db.sql").exists()
    code, output = stack.deploy_version("v2")
    assert code == 0, output
    assert stack.get("/").text.strip() == "demo-shop v2"


def test_failing_health_rolls_back_and_nginx_serves_the_old_release(stack: Stack) -> None:
    assert stack.deploy_version("v1")[0] == 0
    live = stack.current()
    code, output = stack.deploy_version("v2", healthy=False)
    assert code == ExitCode.ROLLED_BACK, output
    assert "HTTP 500" in output and "verified" in output
    assert stack.current() == live and stack.get("/").text.strip() == "demo-shop v1"


def test_failing_migration_aborts_before_the_switch(stack: Stack) -> None:
    assert stack.deploy_version("v1")[0] == 0
    live = stack.current()
    code, output = stack.deploy_version("v2", extra_sql="alter table nope add column x int;\n")
    assert code == ExitCode.GATE, output
    assert "migrate" in output and "SQLSTATE" in output and "nothing live was changed" in output
    assert stack.current() == live and stack.get("/").text.strip() == "demo-shop v1"


def test_wrong_token_is_stopped_by_the_token_digest_finding(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.deploy_version("v1")[0] == 0
    monkeypatch.setenv("HEALTHCHECK_TOKEN", "a-token-the-server-does-not-have")
    code, output = stack.deploy_version("v2")
    assert code == ExitCode.APPROVAL and "server.token-digest" in output, output
    assert "a-token-the-server" not in output
    assert stack.get("/").text.strip() == "demo-shop v1"


def test_audit_and_preflight_on_the_real_stack(stack: Stack) -> None:
    assert stack.deploy_version("v1")[0] == 0
    code, output = stack.cli("audit", "server", "--env", "staging", "--json")
    rows = {f["key"]: f for f in json.loads(output)["findings"]}
    assert rows["server.nginx:config-test"]["status"] == "ok"
    assert rows[f"server.nginx:{stack.web.nginx_conf}"]["status"] == "ok"  # $realpath_root
    assert rows["server.token-digest"]["status"] == "ok"
    assert rows["server.migrations"]["status"] == "ok"
    write_app(stack.root / "app", "v2")
    (stack.root / "app" / "database" / "migrations" / "2025_03_01_000001_orders.sql").write_text(
        "create table orders (id int primary key);\n"
    )
    bundle = build(load_config(stack.root / "freigabe.toml"), sha="77pre".ljust(40, "0")).bundle
    code, output = stack.cli("preflight", "staging", "--bundle", str(bundle.path))
    assert code == 0, output
    assert "1 pending" in output and "2025_03_01_000001_orders" in output and "nginx.test" in output
    assert stack.get("/").text.strip() == "demo-shop v1"
    assert stack.db.sql("show tables like 'orders'", stack.database) == ""  # pre-flight never migrates
