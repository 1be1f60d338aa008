"""Migrations in the plan, against real MariaDB + nginx + PHP-FPM over a real sshd.

The fixture app's `artisan` runs its migrations one statement at a time on MariaDB, with
Laravel 11's console output (`migrate`, `--pretend`, `--isolated`, `migrate:status`,
`db:show --counts --json`); its `/products` page reads `select id, name from products`, so a
schema change the old release does not expect fails there, as it would in a real app.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from .test_php_stack import TOKEN, write_app

PHRASES = {"staging": "STAGING-TEST FREIGEGEBEN", "production": "PROD-DEPLOY FREIGEGEBEN"}


@dataclass
class Shop:
    env: str
    root: Path
    deploy: Path
    web: WebStack
    db: MariaDB
    database: str
    builds: int = 0
    migrations: dict[str, str] = field(default_factory=dict)  # every release ships the ones added so far

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*args, "--config", str(self.root / "freigabe.toml")])
        return result.exit_code, " ".join(result.output.split())

    def bundle(self, version: str, migrations: dict[str, str] | None = None, healthy: bool = True) -> Path:
        self.migrations.update(migrations or {})
        write_app(self.root / "app", version, healthy)
        for name, sql in self.migrations.items():
            (self.root / "app" / "database" / "migrations" / f"{name}.sql").write_text(sql)
        self.builds += 1
        sha = f"{self.builds:02d}{version}".ljust(40, "0")
        return build(load_config(self.root / "freigabe.toml"), sha=sha).bundle.path

    def plan(self, bundle: Path) -> dict[str, Any]:
        code, output = self.cli("plan", self.env, "--bundle", str(bundle), "--json")
        assert code == 0, output
        plan: dict[str, Any] = json.loads(output)
        return plan

    def report(self) -> dict[str, Any]:
        newest = max((self.root / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
        data: dict[str, Any] = json.loads(newest.read_text())
        return data

    def findings(self) -> dict[str, dict[str, Any]]:
        return {f["key"]: f for f in self.report()["findings"]}

    def approve(self, plan: dict[str, Any]) -> tuple[int, str]:
        return self.cli("deploy", self.env, "--plan", plan["id"], "--approve", PHRASES[self.env])

    def ship(self, version: str, migrations: dict[str, str] | None = None, healthy: bool = True) -> tuple[int, str]:
        return self.approve(self.plan(self.bundle(version, migrations, healthy)))

    def sql(self, statement: str) -> str:
        return self.db.sql(statement, self.database)

    def current(self) -> str:
        return (self.deploy / "current").readlink().name

    def products(self) -> httpx.Response:
        return httpx.get(f"{self.web.url}/products", timeout=5)


def migrate_step(plan: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in plan["steps"] if s["id"] == "migrate.1")
    return step


def run_of(output: str) -> str:
    found = re.search(r"\(run (\S+);", output)
    assert found, output
    return found.group(1)


def _shop(env: str, tmp_path: Path, sshd: Sshd, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    monkeypatch.setenv("HEALTHCHECK_TOKEN", TOKEN)
    monkeypatch.setenv("FREIGABE_ACTOR", "tester")
    database = f"mig_{tmp_path.name[-10:].replace('-', '_')}"
    mariadb.sql(f"create database `{database}`")
    deploy = tmp_path / "srv" / "shop"
    (deploy / "shared").mkdir(parents=True)
    (deploy / "shared" / ".env").write_text(
        f'APP_ENV={env}\nDB_SOCKET="{mariadb.socket}"\nDB_DATABASE={database}\nDB_USERNAME=root\n'
        f'HEALTHCHECK_TOKEN="{TOKEN}"\n'
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
[gates]
# layer 3's config:cache writes bootstrap/cache/config.php into the release after its manifest, which
# the next plan's server.release-drift reports (a finding of its own, not about migrations)
production_commands = []
[deploy]
reload = [{json.dumps(web.reload_command())}]
[environments.{env}]
target = "{sshd.target}"
deploy_path = "{deploy}"
url = "{web.url}"
[environments.{env}.ssh]
{sshd.toml()}
[environments.{env}.readiness]
grace = "0s"
timeout = "5s"
interval = "0.05s"
probe = {{ url = "/release" }}
[environments.{env}.backup]
db_dump = {json.dumps(mariadb.dump_command(database))}
db_restore = {json.dumps(mariadb.client(database))}
[environments.{env}.server]
nginx_test = ["nginx", "-t", "-q", "-c", "{web.nginx_conf}", "-e", "{web.folder}/t.log"]
nginx_config = ["{web.nginx_conf}"]
[[environments.{env}.health]]
name = "health"
url = "/health"
bearer_token_env = "HEALTHCHECK_TOKEN"
attempts = 2
interval = "0.2s"
""")
    shop = Shop(env, root, deploy, web, mariadb, database)
    try:
        code, output = shop.ship("v1")  # the fixture's first migration creates products (coffee, tea)
        assert code == 0, output
        assert shop.sql("select count(*) from products") == "2"
        yield shop
    finally:
        web.stop()


@pytest.fixture
def staging(tmp_path: Path, sshd: Sshd, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    yield from _shop("staging", tmp_path, sshd, mariadb, monkeypatch)


@pytest.fixture
def production(tmp_path: Path, sshd: Sshd, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    yield from _shop("production", tmp_path, sshd, mariadb, monkeypatch)


ADD_PRICE = {
    "2025_02_01_000001_add_price": "alter table `products` add `price` int null;\n"
    "create index `products_name_index` on `products` (`name`);\n"
}
DROP_NAME = {"2025_02_01_000002_drop_name": "alter table `products` drop `name`;\n"}


def test_an_additive_migration_is_go_shown_with_its_sql_and_undone_by_the_named_backup(production: Shop) -> None:
    shop = production
    plan = shop.plan(shop.bundle("v2", ADD_PRICE))
    assert plan["decision"]["verdict"] == "GO", plan["decision"]
    step = migrate_step(plan)
    assert step["action"] == "migrations.run" and "1 pending" in step["title"]
    assert step["args"]["planned"] == [
        {
            "name": "2025_02_01_000001_add_price",
            "statements": [
                "alter table `products` add `price` int null",
                "create index `products_name_index` on `products` (`name`)",
            ],
            "kinds": ["additive", "additive"],
        }
    ]
    assert step["args"]["require_backup"] is True and step["args"]["backup_dir"].startswith(str(shop.deploy))
    rows = shop.findings()
    assert (
        rows["migration.pending"]["status"] == "ok"
        and "2025_02_01_000001_add_price" in rows["migration.pending"]["ist"]
    )
    assert rows["migration.backup"]["status"] == "ok"
    assert not [k for k in rows if k.startswith("migration.breaking")]
    md = max((shop.root / "reports").glob("*.md"), key=lambda p: p.stat().st_mtime).read_text()
    assert "add `price` int null" in md and "adds nullable column `price` to `products`" in md
    assert "none of them pending afterwards" in md  # the validation plan's acceptance criterion
    assert shop.sql("show columns from products like 'price'") == ""  # planning never migrates
    code, shown = shop.cli("plan", "production", "--bundle", str(shop.bundle("v2", ADD_PRICE)))
    assert code == 0 and "migrate.1 runs 1 pending migration" in shown, shown
    assert "additive alter table `products` add `price` int null" in shown
    code, output = shop.approve(plan)
    assert code == 0, output
    assert "1 migration applied" in output and "Migrated" not in output  # Laravel 11 prints DONE lines
    assert "2025_02_01_000001_add_price" in output and "DONE" in output  # the command's output, streamed
    assert shop.sql("show columns from products like 'price'").startswith("price")
    evidence = json.loads((shop.root / ".freigabe" / "runs" / run_of(output) / "evidence.json").read_text())
    (applied,) = evidence["migrations"]
    assert applied["event"] == "migrations.applied" and applied["migrations"] == ["2025_02_01_000001_add_price"]
    backup = applied["backup"]
    assert (Path(backup["dir"]) / "db.sql").is_file() and backup["dir"] == step["args"]["backup_dir"]
    md = (shop.root / ".freigabe" / "runs" / run_of(output) / "evidence.md").read_text()
    assert f"freigabe restore production --backup {backup['stamp']}" in md
    assert shop.products().status_code == 200


def test_a_dropped_column_is_no_go_for_production_until_attested(production: Shop) -> None:
    shop = production
    v1 = shop.current()
    bundle = shop.bundle("v2", DROP_NAME)
    plan = shop.plan(bundle)
    key = "migration.breaking:2025_02_01_000002_drop_name#1"
    assert plan["decision"]["verdict"] == "NO-GO" and key in plan["decision"]["blocking"], plan["decision"]
    row = shop.findings()[key]
    assert row["impact"] == "P1" and row["status"] == "fail"
    assert "drops column `name` of `products`" in row["ist"] and "expand/contract" in row["fix"]
    assert "backfill" in row["fix"] and "in a later release" in row["fix"]
    code, output = shop.approve(plan)
    assert code == ExitCode.APPROVAL and "NO-GO" in output
    assert shop.sql("show columns from products like 'name'").startswith("name")
    code, output = shop.cli("attest", key, "--env", "production", "--note", "v1 reads name; we accept the window")
    assert code == 0, output
    plan = shop.plan(bundle)
    assert plan["decision"]["verdict"] == "CONDITIONAL GO" and key in plan["decision"]["conditions"]
    assert "attested" in shop.findings()[key]["attested"]["note"] or shop.findings()[key]["attested"]["by"] == "tester"
    code, output = shop.approve(plan)
    assert code == 0, output
    assert shop.sql("show columns from products like 'name'") == ""
    assert shop.products().status_code == 500  # the new code still reads `name`: the finding was right
    # A rollback to v1 warns that the schema stays ahead and names the restore that undoes it.
    code, output = shop.cli("rollback", "production", "--to", v1)  # the plan, shown before any approval
    assert code == ExitCode.APPROVAL, output
    assert f"the schema is ahead of {v1}" in output and "2025_02_01_000002_drop_name" in output
    stamp = re.search(r"freigabe restore production --backup (\S+)`", output)
    assert stamp and "PROD-FIX FREIGEGEBEN" in output, output
    plan_id = re.search(r"plan id (\w+)", output)
    assert plan_id
    code, output = shop.cli("rollback", "production", "--plan", plan_id.group(1), "--approve", "PROD-FIX FREIGEGEBEN")
    assert code == 0, output
    assert "the schema is ahead" in output  # shown again next to the approval
    assert shop.current() == v1 and shop.products().status_code == 500  # code back, schema not
    code, output = shop.cli("status", "production")
    assert f"freigabe restore production --backup {stamp.group(1)}" in output
    code, output = shop.cli("restore", "production", "--backup", stamp.group(1))
    restore_id = output.split("--plan ")[1].split()[0]
    code, output = shop.cli(
        "restore", "production", "--backup", stamp.group(1), "--plan", restore_id, "--approve", "PROD-FIX FREIGEGEBEN"
    )
    assert code == 0, output
    assert shop.products().status_code == 200 and shop.sql("select name from products order by id") == "coffee\ntea"
    code, output = shop.cli("status", "production")
    assert "freigabe restore" not in output  # the restore put the schema back: nothing ahead any more


def test_a_production_plan_with_migrations_needs_a_database_backup(production: Shop) -> None:
    toml = production.root / "freigabe.toml"
    toml.write_text(re.sub(r"\ndb_dump = .*\n", "\n", toml.read_text()))
    plan = production.plan(production.bundle("v2", ADD_PRICE))
    assert plan["decision"]["verdict"] == "NO-GO" and "migration.backup" in plan["decision"]["blocking"]
    row = production.findings()["migration.backup"]
    assert row["impact"] == "P0" and "no database dump before pending migrations" in row["ist"]
    code, output = production.cli("waive", "migration.backup", "--env", "production", "--reason", "we know what we do")
    assert code == ExitCode.CONFIG and "cannot be waived" in output


def test_production_never_migrates_without_this_run_s_database_backup(production: Shop) -> None:
    """A best-effort backup may fail and the deploy go on; the migrations then refuse to run."""
    live = production.current()
    toml = production.root / "freigabe.toml"
    toml.write_text(
        toml.read_text().replace(f'"{production.database}"]\n', '"no_such_database"]\nbest_effort = true\n', 1)
    )
    code, output = production.ship("v2", ADD_PRICE)
    assert code == ExitCode.GATE, output
    assert "! backup.create" in output  # warned, not fatal
    assert "no database backup of this run" in output and "run only after a backup that can undo them" in output
    assert production.sql("show columns from products like 'price'") == "" and production.current() == live


def test_a_renamed_column_is_a_finding(staging: Shop) -> None:
    plan = staging.plan(
        staging.bundle("v2", {"2025_02_01_000003_rename": "alter table `products` rename column `name` to `title`;\n"})
    )
    key = "migration.breaking:2025_02_01_000003_rename#1"
    row = staging.findings()[key]
    assert row["status"] == "fail" and row["impact"] == "P2"  # P1 for production only
    assert "renames column `name` of `products` to `title`" in row["ist"]
    assert plan["decision"]["verdict"] == "CONDITIONAL GO" and key in plan["decision"]["conditions"]


def test_not_null_without_default_is_breaking_on_a_filled_table_only(staging: Shop) -> None:
    assert staging.ship("v2", {"2025_02_01_000004_orders": "create table `orders` (`id` int primary key);\n"})[0] == 0
    staging.plan(
        staging.bundle(
            "v3",
            {
                "2025_02_01_000005_required": "alter table `products` add `sku` varchar(20) not null;\n"
                "alter table `orders` add `total` int not null;\n"
                "alter table `products` add `stock` int not null default 0;\n"
            },
        )
    )
    rows = staging.findings()
    filled = rows["migration.breaking:2025_02_01_000005_required#1"]
    assert filled["status"] == "fail" and "`products`, which has 2 rows" in filled["ist"]
    assert "migration.breaking:2025_02_01_000005_required#2" not in rows  # orders is empty
    assert "migration.breaking:2025_02_01_000005_required#3" not in rows  # a default fills it
    statements = rows["migration.pending"]["evidence"]["migrations"][0]["statements"]
    assert [s["kind"] for s in statements] == ["breaking", "additive", "additive"]
    assert "which has no rows" in statements[1]["why"][0]


def test_a_migration_failing_half_way_says_which_statement_and_what_the_schema_is(staging: Shop) -> None:
    live = staging.current()
    code, output = staging.ship(
        "v2",
        {
            "2025_02_01_000006_half": "alter table `products` add `price` int null;\n"
            "alter table `nope` add `x` int null;\n"
            "alter table `products` add `stock` int null;\n"
        },
    )
    assert code == ExitCode.GATE, output
    assert "2025_02_01_000006_half failed at statement 2 of 3 (`alter table `nope` add `x` int null`)" in output
    assert "doesn't exist" in output and "its statement 1 ran and stays applied" in output
    assert "migrate:status after the failure: none ran, 2025_02_01_000006_half pending" in output
    assert "freigabe restore staging --backup" in output and "nothing live was changed" in output
    assert staging.sql("show columns from products like 'price'").startswith("price")  # statement 1 did run
    assert staging.sql("show columns from products like 'stock'") == ""
    assert staging.current() == live and staging.products().status_code == 200
    ledger = (staging.deploy / ".freigabe" / "ledger.jsonl").read_text().splitlines()
    failed = [e for e in map(json.loads, ledger) if e["event"] == "migrations.failed"]
    assert failed and failed[-1]["data"]["migration"] == "2025_02_01_000006_half"


def test_an_automatic_rollback_after_an_additive_migration_warns_without_a_restore(staging: Shop) -> None:
    live = staging.current()
    code, output = staging.ship("v2", ADD_PRICE, healthy=False)
    assert code == ExitCode.ROLLED_BACK, output
    assert f"the schema is ahead of {live}: 2025_02_01_000001_add_price ran" in output
    error = output.split("error:")[-1]
    assert "they are additive" in error and "freigabe restore" not in error
    assert staging.current() == live and staging.products().status_code == 200


def test_an_automatic_rollback_after_a_breaking_migration_points_to_restore(staging: Shop) -> None:
    live = staging.current()
    code, output = staging.ship("v2", DROP_NAME, healthy=False)  # CONDITIONAL GO on staging
    assert code == ExitCode.ROLLED_BACK, output
    assert f"the schema is ahead of {live}" in output and "breaking for it" in output
    assert re.search(r"freigabe restore staging --backup \d{8}_\d{6}` \(PROD-FIX FREIGEGEBEN", output), output
    assert staging.current() == live and staging.products().status_code == 500  # what the warning is about
    code, output = staging.cli("status", "staging")
    assert "attention:" in output and "freigabe restore staging --backup" in output


def test_a_database_that_moved_on_since_the_plan_is_not_migrated(staging: Shop) -> None:
    plan = staging.plan(staging.bundle("v2", ADD_PRICE))
    staging.sql("insert into migrations (migration) values ('2025_02_01_000001_add_price')")  # done by hand
    code, output = staging.approve(plan)
    assert code == ExitCode.GATE and "the database changed since the plan" in output, output
    assert staging.sql("show columns from products like 'price'") == ""


def test_the_old_release_keeps_answering_during_an_additive_migration_deploy(staging: Shop) -> None:
    """Load on the page that reads the table the migration changes, from before the backup through
    the migrations (one of which takes a second) and the switch to the new release: 0 failed."""
    live = staging.current()
    plan = staging.plan(staging.bundle("v2", {**ADD_PRICE, "2025_02_01_000007_slow": "select sleep(1);\n"}))
    assert plan["decision"]["verdict"] == "GO", plan["decision"]
    stop = threading.Event()
    counts = {"ok": 0}
    failures: list[str] = []
    served: set[str] = set()

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get(f"{staging.web.url}/products")
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200 or len(response.json()) != 2:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    counts["ok"] += 1
                    served.add(response.headers.get("X-Release", ""))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        code, output = staging.approve(plan)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert code == 0, output
    assert "2 migrations applied" in output
    assert staging.current() != live and {live, staging.current()} <= served  # both releases answered
    assert counts["ok"] > 200, counts
    assert not failures, (len(failures), failures[:5])


def test_migrations_run_once_another_runner_holding_the_isolated_lock_is_no_success(staging: Shop) -> None:
    """`--isolated`: while another runner migrates, artisan exits 0 without migrating. The step
    checks migrate:status afterwards and does not switch to a release whose schema is not there."""
    live = staging.current()
    plan = staging.plan(staging.bundle("v2", ADD_PRICE))
    lock = f"fixture-artisan-migrate:{staging.database}"  # the fixture artisan's lock for this database
    holder = subprocess.Popen(
        staging.db.client("-e", f"select get_lock('{lock}', 0); select sleep(60)"),
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while staging.sql(f"select is_used_lock('{lock}')") == "NULL":
            assert time.monotonic() < deadline, "the other runner never took the lock"
            time.sleep(0.05)
        code, output = staging.approve(plan)
    finally:
        holder.kill()
        holder.wait()
        # the server keeps the killed client's session (and its lock) until its sleep ends: end it now
        owner = staging.sql(f"select is_used_lock('{lock}')")
        if owner != "NULL":
            staging.sql(f"kill {int(owner)}")
    assert code == ExitCode.GATE, output
    assert "The [migrate] command is already running" in output  # artisan's own output, in the step's
    assert "exited 0 but 2025_02_01_000001_add_price is still pending" in output and "--isolated" in output
    assert staging.sql("show columns from products like 'price'") == "" and staging.current() == live
