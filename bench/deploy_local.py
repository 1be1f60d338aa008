"""Benchmark: a freigabe deploy to a local target vs the shell floor, in one run.

The floor is what a hand-written script minimally does: `sha256sum -c`, `tar -xzf` into a
new release directory, and an atomic `ln -s` + `mv -T`. freigabe additionally verifies the
local digest, checks every member of the bundle (and hashes each file for the release
manifest), copies the bundle to the target and verifies it there, links shared files,
writes the ledger, probes the release over HTTP and marks it. Backups are off on both
sides. Prints medians and the ratio.

    python bench/deploy_local.py [--files 20000] [--mb 100] [--rounds 3] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from freigabe.adapters.bundle import create_bundle
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.config import load_config
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.planning import make_deploy_plan


def make_tree(root: Path, files: int, megabytes: int) -> None:
    rng = random.Random(7)
    per_file = megabytes * 2**20 // files
    for index in range(files):
        folder = root / "vendor" / f"pkg{index // 500:03d}" / f"src{index // 50 % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        # half incompressible, half text: like vendor code next to images and fonts
        if index % 2:
            data = rng.randbytes(per_file)
        else:
            data = (f"<?php // file {index}\n" * (per_file // 20 + 1)).encode()[:per_file]
        (folder / f"f{index}.php").write_bytes(data)
    (root / "public").mkdir()
    (root / "public" / "index.html").write_text("bench")


def floor(bundle: Path, target: Path, release: str) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", "--quiet", "-c", bundle.name + ".sha256"], cwd=bundle.parent, check=True)
    rel = target / "releases" / release
    rel.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(bundle), "-C", str(rel)], check=True)
    subprocess.run(["ln", "-s", f"releases/{release}", str(target / "current.tmp")], check=True)
    subprocess.run(["mv", "-T", str(target / "current.tmp"), str(target / "current")], check=True)
    return time.perf_counter() - started


def config_text(deploy_path: Path, url: str) -> str:
    return f"""
preset = "generic"
[build]
source = "."
[gates]
required_files = ["public/index.html"]
[deploy]
revision_file = "public/REVISION"
[environments.bench]
target = "local"
deploy_path = "{deploy_path}"
url = "{url}"
keep_releases = 2
[environments.bench.backup]
enabled = false
[environments.bench.readiness]
probe = {{ url = "/REVISION" }}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="work here, e.g. /dev/shm to take the disk out")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freigabe-bench-", dir=args.dir))
    print(f"working in {work}")
    try:
        tree = work / "tree"
        make_tree(tree, args.files, args.mb)
        bundle = create_bundle(tree, work / "dist", "bench", [])
        print(f"bundle: {bundle.files} files, {bundle.size / 2**20:.1f} MiB compressed")
        floors, deploys, plans = [], [], []

        def run_floor(round_: int) -> None:
            os.sync()
            floors.append(floor(bundle.path, work / f"floor{round_}", f"20260101_00000{round_}-bench"))

        def run_freigabe(round_: int) -> None:
            target = work / f"target{round_}"
            server = ReleaseServer(target).start()
            try:
                (work / f"cfg{round_}").mkdir()
                cfg = work / f"cfg{round_}" / "freigabe.toml"
                cfg.write_text(config_text(target, server.url))
                loaded = load_config(cfg)
                os.sync()
                started = time.perf_counter()
                plan = make_deploy_plan(loaded, "bench", bundle.path).plan
                plans.append(time.perf_counter() - started)
                os.sync()
                started = time.perf_counter()
                prepared = prepare_bundle(loaded, plan)
                apply_plan(loaded, prepared, phrase=plan.approval_phrase)
                deploys.append(time.perf_counter() - started)
            finally:
                server.stop()

        for round_ in range(args.rounds):
            # alternate the order so neither side always meets the other's write-back
            for side in (run_floor, run_freigabe) if round_ % 2 == 0 else (run_freigabe, run_floor):
                side(round_)
            shutil.rmtree(work / f"target{round_}")
            shutil.rmtree(work / f"floor{round_}")
        f, d, p = (statistics.median(x) for x in (floors, deploys, plans))
        print(f"floor  (sha256sum -c + tar -xzf + mv -T): median {f:.2f} s  {[round(x, 2) for x in floors]}")
        print(f"freigabe deploy (approved plan):          median {d:.2f} s  {[round(x, 2) for x in deploys]}")
        print(f"freigabe plan (digest + member scan):     median {p:.2f} s")
        print(f"ratio deploy / floor: {d / f:.2f}x   (plan + deploy / floor: {(p + d) / f:.2f}x)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
