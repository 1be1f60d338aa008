"""Backups before migrations (mysqldump of a real MariaDB, config files, SHA256SUMS) and restore."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from freigabe.errors import ExitCode

from .conftest import Project
from .support.mariadb import MariaDB


@dataclass
class DbProject:
    project: Project
    db: str
    site: Path


@pytest.fixture
def with_db(project: Project, mariadb: MariaDB, tmp_path: Path) -> DbProject:
    db = f"shop_{tmp_path.name[-8:].replace('-', '_')}"
    mariadb.sql(f"create database `{db}`")
    mariadb.sql("create table orders (id int primary key, item varchar(40))", db)
    mariadb.sql("insert into orders values (1, 'coffee'), (2, 'tea')", db)
    site = tmp_path / "nginx-site.conf"
    site.write_text("server { listen 80; root /srv/app/current/public; }\n")
    dump = json.dumps(mariadb.dump_command(db))
    restore = json.dumps(mariadb.client(db))
    toml = project.root / "freigabe.toml"
    text = toml.read_text()
    start = text.index("[environments.staging.backup]")
    end = text.index("keep = 3", start) + len("keep = 3")
    text = (
        text[:start]
        + (f'[environments.staging.backup]\ndb_dump = {dump}\ndb_restore = {restore}\nfiles = ["{site}"]\nkeep = 3')
        + text[end:]
    )
    toml.write_text(text)
    return DbProject(project, db, site)


def test_backup_dumps_the_database_and_config_before_migrations(with_db: DbProject, mariadb: MariaDB) -> None:
    bundle = with_db.project.build("v1")
    assert with_db.project.deploy("staging", bundle.path).exit_code == 0
    backups = sorted((with_db.project.deploy_path() / "backups").iterdir())
    folder = backups[-1]
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "app.tar.gz", "config.tar.gz", "db.sql"]
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder).returncode == 0
    dump = (folder / "db.sql").read_text()
    assert "CREATE TABLE `orders`" in dump and "'coffee'" in dump
    names = subprocess.run(["tar", "-tzf", str(folder / "config.tar.gz")], capture_output=True, text=True).stdout
    assert str(with_db.site).lstrip("/") in names
    # one timestamp for the run: the backup folder is named after the release's stamp
    assert str(with_db.project.current()).startswith(folder.name)
    ledger = [
        json.loads(line) for line in (with_db.project.deploy_path() / ".freigabe/ledger.jsonl").read_text().splitlines()
    ]
    steps = [e["data"]["step"] for e in ledger if e["event"] == "step.finished"]
    assert steps.index("backup.create") < steps.index("migrate.1")


def test_a_failing_dump_aborts_unless_best_effort(with_db: DbProject) -> None:
    bundle = with_db.project.build("v1")
    assert with_db.project.deploy("staging", bundle.path).exit_code == 0
    live = with_db.project.current()
    toml = with_db.project.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace(f'"{with_db.db}"]', '"no_such_database"]', 1))
    v2 = with_db.project.build("v2")
    result = with_db.project.deploy("staging", v2.path)
    assert result.exit_code == ExitCode.GATE and "database dump" in result.output
    assert with_db.project.current() == live and "v1" in with_db.project.served_version()
    toml.write_text(toml.read_text().replace("keep = 3\n", "keep = 3\nbest_effort = true\n", 1))
    result = with_db.project.deploy("staging", v2.path)
    assert result.exit_code == 0, result.output
    assert "backup.create" in result.output and "v2" in with_db.project.served_version()


def test_restore_behind_prod_fix(with_db: DbProject, mariadb: MariaDB) -> None:
    bundle = with_db.project.build("v1")
    assert with_db.project.deploy("staging", bundle.path).exit_code == 0
    backup = sorted((with_db.project.deploy_path() / "backups").iterdir())[-1].name
    mariadb.sql("delete from orders", with_db.db)
    assert mariadb.sql("select count(*) from orders", with_db.db) == "0"
    shown = with_db.project.cli("restore", "staging", "--backup", backup)
    assert shown.exit_code == 0 and "db.sql" in shown.output
    plan_id = shown.output.split("--plan ")[1].split()[0]
    wrong = with_db.project.cli("restore", "staging", "--backup", backup, "--plan", plan_id, "--approve", "ok")
    assert wrong.exit_code == ExitCode.APPROVAL
    assert mariadb.sql("select count(*) from orders", with_db.db) == "0"
    done = with_db.project.cli(
        "restore", "staging", "--backup", backup, "--plan", plan_id, "--approve", "PROD-FIX FREIGEGEBEN"
    )
    assert done.exit_code == 0, done.output
    assert mariadb.sql("select item from orders order by id", with_db.db) == "coffee\ntea"


def test_a_damaged_backup_is_not_restored(with_db: DbProject, mariadb: MariaDB) -> None:
    bundle = with_db.project.build("v1")
    assert with_db.project.deploy("staging", bundle.path).exit_code == 0
    folder = sorted((with_db.project.deploy_path() / "backups").iterdir())[-1]
    (folder / "db.sql").write_text("drop table orders;\n")
    shown = with_db.project.cli("restore", "staging", "--backup", folder.name)
    plan_id = shown.output.split("--plan ")[1].split()[0]
    result = with_db.project.cli(
        "restore", "staging", "--backup", folder.name, "--plan", plan_id, "--approve", "PROD-FIX FREIGEGEBEN"
    )
    assert result.exit_code == ExitCode.GATE and "does not match its SHA256SUMS" in result.output
    assert mariadb.sql("select count(*) from orders", with_db.db) == "2"
