"""Benchmark: a deploy with an additive migration under load, against a deploy without one.

Real nginx + PHP-FPM + MariaDB, the test fixture app (laravel preset, local target). `wrk` asks
for `/products` (a page that reads the table the migration changes) for the whole deploy; each
round deploys a release without a new migration (the baseline) and one whose migration adds a
nullable column and an index. Prints per round: deploy seconds, requests, non-2xx and socket
errors; then the median deploy time with the migration over the baseline's, as a ratio.
Traffic goes to 127.0.0.1 only.

    python bench/migration_under_load.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.mariadb import start_mariadb
from tests.support.webstack import start_webstack
from tests.test_php_stack import TOKEN, write_app
from typer.testing import CliRunner

from bench.switch_under_load import wrk
from freigabe.cli import app
from freigabe.config import load_config
from freigabe.usecases.build import build


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (`make tools`)")
        return 2
    import os

    os.environ["HEALTHCHECK_TOKEN"] = TOKEN
    work = Path(tempfile.mkdtemp(prefix="freigabe-migrate-"))
    db = start_mariadb()
    database = "bench_shop"
    db.sql(f"create database `{database}`")
    deploy = work / "srv" / "shop"
    (deploy / "shared").mkdir(parents=True)
    (deploy / "shared" / ".env").write_text(
        f'DB_SOCKET="{db.socket}"\nDB_DATABASE={database}\nDB_USERNAME=root\nHEALTHCHECK_TOKEN="{TOKEN}"\n'
    )
    web = start_webstack(work / "web", deploy)
    root = work / "project"
    root.mkdir()
    toml = root / "freigabe.toml"
    toml.write_text(f"""
preset = "laravel"
[build]
source = "app"
commands = []
checks = []
finalize = []
[deploy]
reload = [{json.dumps(web.reload_command())}]
[environments.staging]
target = "local"
deploy_path = "{deploy}"
url = "{web.url}"
[environments.staging.readiness]
grace = "0s"
timeout = "10s"
interval = "0.05s"
probe = {{ url = "/release" }}
[environments.staging.backup]
db_dump = {json.dumps(db.dump_command(database))}
[environments.staging.server]
nginx_test = ["nginx", "-t", "-q", "-c", "{web.nginx_conf}", "-e", "{web.folder}/t.log"]
[[environments.staging.health]]
name = "health"
url = "/health"
bearer_token_env = "HEALTHCHECK_TOKEN"
""")
    migrations: dict[str, str] = {}
    builds = 0

    def ship(version: str) -> float:
        nonlocal builds
        write_app(root / "app", version)
        for name, sql in migrations.items():
            (root / "app" / "database" / "migrations" / f"{name}.sql").write_text(sql)
        builds += 1
        bundle = build(load_config(toml), sha=f"{builds:03d}{version}".ljust(40, "0")).bundle.path
        runner = CliRunner()
        made = runner.invoke(app, ["plan", "staging", "--bundle", str(bundle), "--json", "--config", str(toml)])
        plan = json.loads(made.output)
        started = time.monotonic()
        done = runner.invoke(
            app,
            ["deploy", "staging", "--plan", plan["id"], "--approve", "STAGING-TEST FREIGEGEBEN", "--config", str(toml)],
        )
        if done.exit_code != 0:
            raise SystemExit(f"deploy {version} failed: {done.output[-600:]}")
        return time.monotonic() - started

    try:
        ship("v0")
        times: dict[str, list[float]] = {"none": [], "additive": []}
        print(f"{'migration':<10}{'round':>6}{'deploy s':>10}{'requests':>10}{'non-2xx':>9}{'socket err':>11}")
        for n in range(1, args.rounds + 1):
            for kind in ("none", "additive"):
                if kind == "additive":
                    migrations[f"2025_03_01_{n:06d}_add_col{n}"] = (
                        f"alter table `products` add `col{n}` int null;\n"
                        f"create index `products_col{n}_index` on `products` (`col{n}`);\n"
                    )
                seconds: list[float] = []
                thread = threading.Thread(target=lambda s=seconds, k=kind, r=n: s.append(ship(f"{k[0]}{r}")))
                load: dict[str, int] = {}
                runner = threading.Thread(target=lambda got=load: got.update(wrk(f"{web.url}/products", 25)))
                runner.start()
                time.sleep(1)
                thread.start()
                thread.join()
                runner.join()
                times[kind].append(seconds[0])
                print(
                    f"{kind:<10}{n:>6}{seconds[0]:>10.2f}{load['requests']:>10}{load['non2xx']:>9}"
                    f"{load['socket_errors']:>11}",
                    flush=True,
                )
        base, mig = statistics.median(times["none"]), statistics.median(times["additive"])
        print(f"median deploy: {mig:.2f} s with an additive migration, {base:.2f} s without: {mig / base:.2f}x")
    finally:
        web.stop()
        db.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
