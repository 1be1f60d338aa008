"""`freigabe demo` runs the whole pipeline on the embedded default and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "freigabe", "demo", "--dir", str(where)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "STAGING-TEST FREIGEGEBEN" in out and "PROD-DEPLOY FREIGEGEBEN" in out
    assert "rolled back" in out and "hash chain intact" in out
    runs = sorted((where / ".freigabe" / "runs").glob("*/evidence.json"))
    outcomes = sorted(json.loads(p.read_text())["outcome"] for p in runs)
    assert outcomes == ["deployed", "deployed", "rolled_back"]
    # both targets serve a release; production got staging's bundle
    ledgers = {
        env: [
            json.loads(line) for line in (where / "servers" / env / ".freigabe/ledger.jsonl").read_text().splitlines()
        ]
        for env in ("staging", "production")
    }
    prod_bundle = [e for e in ledgers["production"] if e["event"] == "run.started"][0]["data"]["bundle"]
    staging_bundles = [e["data"]["bundle"] for e in ledgers["staging"] if e["event"] == "run.started"]
    assert prod_bundle == staging_bundles[0] != staging_bundles[1]


def test_demo_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "freigabe", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "is not empty" in result.stderr
    assert (tmp_path / "x").read_text() == "keep me"
