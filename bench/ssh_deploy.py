"""Benchmark: a freigabe deploy over SSH (real sshd on loopback) vs the floor, in one run.

Floor: `ssh host 'mkdir -p DIR && tar -xzf - -C DIR' < bundle` — the least a script can do.
freigabe additionally checks every member and hashes each file locally (once, at plan time),
uploads over SFTP, verifies the SHA-256 on the target, extracts to a partial folder, writes
the manifest, links shared files, switches atomically, records the ledger and probes the new
release over HTTP. Prints medians and the ratio.

    python bench/ssh_deploy.py [--files 20000] [--mb 100] [--rounds 3] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.sshd import Sshd, start_sshd

from bench.deploy_local import make_tree
from freigabe.adapters.bundle import create_bundle
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.config import load_config
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.planning import make_deploy_plan


def floor(sshd: Sshd, bundle: Path, target: Path) -> float:
    started = time.perf_counter()
    with open(bundle, "rb") as fh:
        subprocess.run(
            [
                "ssh",
                "-i",
                str(sshd.key_file),
                "-o",
                f"UserKnownHostsFile={sshd.known_hosts}",
                "-o",
                "BatchMode=yes",
                "-p",
                str(sshd.port),
                "root@127.0.0.1",
                f"mkdir -p {target} && tar -xzf - -C {target}",
            ],
            stdin=fh,
            check=True,
        )
    return time.perf_counter() - started


def config_text(sshd: Sshd, deploy_path: Path, url: str) -> str:
    return f"""
preset = "generic"
[gates]
required_files = ["public/index.html"]
[deploy]
revision_file = "public/REVISION"
[environments.bench]
target = "{sshd.target}"
deploy_path = "{deploy_path}"
url = "{url}"
[environments.bench.ssh]
{sshd.toml()}
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
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freigabe-sshbench-", dir=args.dir))
    sshd = start_sshd(work / "sshd")
    try:
        make_tree(work / "tree", args.files, args.mb)
        bundle = create_bundle(work / "tree", work / "dist", "bench", [])
        print(f"bundle: {bundle.files} files, {bundle.size / 2**20:.1f} MiB compressed; target {sshd.target}")
        floors, deploys = [], []
        for round_ in range(args.rounds):
            floors.append(floor(sshd, bundle.path, work / f"floor{round_}"))
            target = work / f"target{round_}"
            server = ReleaseServer(target).start()
            try:
                (work / f"cfg{round_}").mkdir()
                cfg = work / f"cfg{round_}" / "freigabe.toml"
                cfg.write_text(config_text(sshd, target, server.url))
                loaded = load_config(cfg)
                plan = make_deploy_plan(loaded, "bench", bundle.path).plan
                started = time.perf_counter()
                apply_plan(loaded, prepare_bundle(loaded, plan), phrase=plan.approval_phrase)
                deploys.append(time.perf_counter() - started)
            finally:
                server.stop()
            shutil.rmtree(target)
            shutil.rmtree(work / f"floor{round_}")
        f, d = statistics.median(floors), statistics.median(deploys)
        print(f"floor  (ssh host 'tar -xzf -' < bundle): median {f:.2f} s  {[round(x, 2) for x in floors]}")
        print(f"freigabe deploy over SSH (approved plan): median {d:.2f} s  {[round(x, 2) for x in deploys]}")
        print(f"ratio deploy / floor: {d / f:.2f}x")
        return 0
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
