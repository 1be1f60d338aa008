"""The demo's sample application and configuration, written into a fresh folder.

The app is shaped like the users' Laravel app, in Python so the demo needs nothing but
this package: `manage.py` builds Vite-style hashed assets and a manifest, runs its
tests, applies SQL migrations to an SQLite database in `shared/`, and clears caches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MANAGE_PY = r'''"""Sample app's management script (the demo's `php artisan`)."""
import hashlib, json, os, pathlib, sqlite3, sys

HERE = pathlib.Path(__file__).resolve().parent
VERSION = (HERE / "VERSION").read_text().strip()


def build():
    out = HERE / "public" / "build"
    (out / "assets").mkdir(parents=True, exist_ok=True)
    manifest = {}
    for src in sorted((HERE / "resources").iterdir()):
        data = src.read_bytes()
        name = f"assets/{src.stem}-{hashlib.sha256(data).hexdigest()[:8]}{src.suffix}"
        (out / name).write_bytes(data)
        manifest[f"resources/{src.name}"] = {"file": name, "isEntry": src.suffix == ".js"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"built {len(manifest)} assets")


def db():
    return sqlite3.connect(HERE / "storage" / "database.sqlite")


def migrate():
    con = db()
    con.execute("create table if not exists migrations (name text primary key)")
    done = {r[0] for r in con.execute("select name from migrations")}
    for sql in sorted((HERE / "migrations").glob("*.sql")):
        if sql.name in done:
            continue
        try:
            con.executescript(sql.read_text())
        except sqlite3.Error as exc:
            sys.exit(f"migration {sql.name} failed: {exc}")
        con.execute("insert into migrations values (?)", (sql.name,))
        print(f"migrated {sql.name}")
    con.commit()
    print("nothing to migrate" if done else "migrations done")


def migrate_status():
    """Read-only, like `artisan migrate:status`: never creates the database or its tables."""
    path = HERE / "storage" / "database.sqlite"
    done = set()
    if path.exists():
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        if con.execute("select 1 from sqlite_master where name = 'migrations'").fetchone():
            done = {r[0] for r in con.execute("select name from migrations")}
    for sql in sorted((HERE / "migrations").glob("*.sql")):
        print(f"{sql.name} .......... {'Ran' if sql.name in done else 'Pending'}")


def cache_clear():
    cache = HERE / "storage" / "cache"
    removed = 0
    for item in cache.glob("*") if cache.is_dir() else []:
        item.unlink()
        removed += 1
    print(f"cache cleared ({removed} files)")


def main(args):
    if args == ["--version"]:
        print(f"demo-shop {VERSION}")
    elif args == ["build"]:
        build()
    elif args == ["test"]:
        assert json.loads((HERE / "public" / "health.json").read_text())["status"]
        print("2 tests passed")
    elif args == ["check"]:
        path = HERE / "storage" / "database.sqlite"
        if path.exists():  # read-only: a boot check never creates the database
            sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("select 1")
        print("boot ok")
    elif args == ["migrate"]:
        migrate()
    elif args == ["migrate:status"]:
        migrate_status()
    elif args == ["cache:clear"]:
        cache_clear()
    else:
        sys.exit(f"unknown command {args}")


main(sys.argv[1:])
'''

DUMP_PY = (
    "import sqlite3,sys,os; p=os.path.join(sys.argv[1],'shared','storage','database.sqlite'); "
    "[print(l) for l in (sqlite3.connect(p).iterdump() if os.path.exists(p) else [])]"
)


def write_app(app: Path, version: str, healthy: bool) -> None:
    """Write (or rewrite) the sample app at `version`; `healthy=False` breaks its health."""
    for folder in ("public", "resources", "migrations", "storage"):
        (app / folder).mkdir(parents=True, exist_ok=True)
    (app / "VERSION").write_text(version + "\n")
    (app / "manage.py").write_text(MANAGE_PY)
    (app / "public" / "index.html").write_text(f"<!doctype html><title>demo-shop</title><h1>demo-shop {version}</h1>\n")
    status = {"status": "ok", "database": "ok"} if healthy else {"status": "failing", "database": "unreachable"}
    (app / "public" / "health.json").write_text(json.dumps({**status, "version": version}))
    (app / "resources" / "app.js").write_text(f"console.log('demo-shop {version}');\n")
    (app / "resources" / "app.css").write_text(f"h1::after {{ content: ' {version}'; }}\n")
    (app / "migrations" / "001_products.sql").write_text(
        "create table products (id integer primary key, name text not null);\n"
        "insert into products (name) values ('coffee'), ('tea');\n"
    )


def config_text(root: Path, urls: dict[str, str], stable_for: str) -> str:
    py = json.dumps(sys.executable)
    manage = f'[{py}, "manage.py"'
    servers = root / "servers"

    def environment(name: str, extra: str) -> str:
        return f'''
[environments.{name}]
target = "local"
deploy_path = "{servers / name}"
url = "{urls[name]}"
keep_releases = 3

[environments.{name}.readiness]
grace = "0s"
timeout = "5s"
interval = "0.1s"
probe = {{ url = "/REVISION" }}

[[environments.{name}.health]]
name = "health"
url = "/health"
expect_json = {{ status = "ok" }}
bearer_token_env = "HEALTHCHECK_TOKEN"
attempts = 3
interval = "0.3s"
timeout = "2s"

[environments.{name}.assets]
manifest = "/build/manifest.json"
base = "/build/"

[environments.{name}.server]
migrations_status = {manage}, "migrate:status"]

[environments.{name}.backup]
db_dump = [{py}, "-c", {json.dumps(DUMP_PY)}, "{servers / name}"]
keep = 3
{extra}'''

    return (
        f"""# The freigabe demo: a sample app deployed to two local targets.
preset = "generic"

[project]
name = "demo-shop"

[build]
source = "app"
output_dir = "dist"
commands = [{manage}, "build"]]
checks = [{manage}, "test"]]
exclude = ["storage", "resources"]

[gates]
required_files = ["manage.py", "VERSION", "public/index.html", "public/health.json",
                  "public/build/manifest.json"]
required_dirs = ["public", "migrations"]
commands = [{manage}, "--version"], {manage}, "check"]]

[deploy]
shared_files = [".env"]
shared_dirs = ["storage"]
create_shared_dirs = ["storage/cache"]
migrate = [{manage}, "migrate"]]
cache_before = [{manage}, "cache:clear"]]
cache_after = [{manage}, "cache:clear"]]
revision_file = "public/REVISION"
"""
        + environment("staging", "")
        + environment(
            "production",
            f'\n[environments.production.promotion]\nrequires_stable_in = "staging"\nstable_for = "{stable_for}"\n',
        )
    )


def write_shared(deploy_path: Path, token: str) -> None:
    shared = deploy_path / "shared"
    (shared / "storage").mkdir(parents=True, exist_ok=True)
    (shared / ".env").write_text(f"APP_NAME=demo-shop\nHEALTHCHECK_TOKEN={token}\n")
