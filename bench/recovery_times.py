"""Benchmark: time from switch to verified healthy, and from a failed health check to the
previous release restored and verified — on real nginx + PHP-FPM, read from the ledger.

    python bench/recovery_times.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.webstack import start_webstack, write_php_app

from freigabe.config import load_config
from freigabe.errors import RolledBack
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.build import build
from freigabe.usecases.planning import make_deploy_plan

CONFIG = """
preset = "generic"
[build]
source = "app"
[gates]
required_files = ["public/index.php"]
[deploy]
revision_file = "public/REVISION"
reload = [{reload}]
[environments.bench]
target = "local"
deploy_path = "{deploy}"
url = "{url}"
[environments.bench.backup]
enabled = false
[environments.bench.readiness]
timeout = "5s"
interval = "0.02s"
probe = {{ url = "/release.php" }}
[[environments.bench.health]]
name = "health"
url = "/health.php"
expect_json = {{ status = "ok" }}
attempts = 3
interval = "0.2s"
"""


def ts(entry: dict[str, object]) -> float:
    return datetime.strptime(str(entry["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freigabe-recovery-"))
    deploy = work / "deploy"
    (deploy / "shared").mkdir(parents=True)
    stack = start_webstack(work / "stack", deploy, "$document_root")
    try:
        (work / "project" / "app").mkdir(parents=True)
        cfg = work / "project" / "freigabe.toml"
        cfg.write_text(CONFIG.format(reload=json.dumps(stack.reload_command()), deploy=deploy, url=stack.url))
        loaded = load_config(cfg)
        to_healthy, to_restored = [], []
        n = 0

        def deploy_version(version: str, healthy: bool) -> str:
            nonlocal n
            n += 1
            write_php_app(work / "project" / "app", version)
            if not healthy:
                (work / "project" / "app" / "public" / "health.php").write_text(
                    "<?php http_response_code(500); echo json_encode(['status' => 'failing']);\n"
                )
            bundle = build(loaded, sha=f"{n:03d}{version}".ljust(40, "0")).bundle
            plan = make_deploy_plan(loaded, "bench", bundle.path, audit=False).plan
            try:
                return apply_plan(loaded, prepare_bundle(loaded, plan), phrase=plan.approval_phrase).run
            except RolledBack:
                entries = (deploy / ".freigabe" / "ledger.jsonl").read_text().splitlines()
                return str(json.loads(entries[-1])["run"])

        deploy_version("v0", True)
        for round_ in range(args.rounds):
            run = deploy_version(f"g{round_}", True)
            entries = [json.loads(x) for x in (deploy / ".freigabe/ledger.jsonl").read_text().splitlines()]
            mine = [e for e in entries if e["run"] == run]
            switch = next(e for e in mine if e["event"] == "switch")
            verified = [e for e in mine if e["event"] == "step.finished" and e["data"]["step"].startswith("health.")][
                -1
            ]
            to_healthy.append(ts(verified) - ts(switch))
            run = deploy_version(f"b{round_}", False)
            entries = [json.loads(x) for x in (deploy / ".freigabe/ledger.jsonl").read_text().splitlines()]
            mine = [e for e in entries if e["run"] == run]
            failed = next(e for e in mine if e["event"] == "step.finished" and e["data"]["outcome"] == "failed")
            restored = next(e for e in mine if e["event"] == "rollback.verified")
            to_restored.append(ts(restored) - ts(failed))
        print(
            f"switch → new release verified healthy: median {statistics.median(to_healthy) * 1000:.0f} ms "
            f"{[round(x * 1000) for x in to_healthy]}"
        )
        print(
            f"failed health → previous release restored and verified: median "
            f"{statistics.median(to_restored) * 1000:.0f} ms {[round(x * 1000) for x in to_restored]}"
        )
        print("(nginx $document_root + PHP-FPM with OPcache, validate_timestamps=0; reload = kill -USR2)")
        return 0
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)
        os.environ.pop("FREIGABE_TEST_WEBSTACK", None)


if __name__ == "__main__":
    sys.exit(main())
