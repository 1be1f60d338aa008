"""Benchmark: `plan` against a live target with a large release, over SSH, against its parts.

The live release has `--files` files; the new bundle is `--mb` MiB. A plan verifies the bundle's
SHA-256, scans every member (paths, modes, secrets, a SHA-256 per file), reads what is live and
runs the server audit, whose drift check hashes every file of the live release on the target.
Baselines in the same run: the local member scan alone and the target's drift check alone
(`sha256sum -c` of the live release over one SSH command); the plan is measured against the
slower of the two (the floor if the two ran side by side) and their sum (one after the other).
The delaying proxy runs in a process of its own, as the network it stands for takes no time
from the process that plans.

    python bench/plan_time.py [--files 50000] [--mb 500] [--rounds 3] [--rtt 0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, bench

from tests.support.sshd import start_sshd

from bench.deploy_local import make_tree
from bench.ssh_deploy import config_text
from freigabe.adapters.bundle import create_bundle, scan_bundle
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.config import load_config
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.planning import make_deploy_plan

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def latency_proxy(port: int, rtt: float) -> Iterator[int]:
    """tests/support/latency_proxy.py in a child process; yields the port to connect to."""
    code = (
        "import sys\nfrom tests.support.latency_proxy import LatencyProxy\n"
        f"with LatencyProxy({port}, {rtt}) as proxy:\n    print(proxy.port, flush=True)\n    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield int(child.stdout.readline())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50000)
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtt", type=float, default=0)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freigabe-planbench-", dir=args.dir))
    sshd = start_sshd(work / "sshd")
    try:
        make_tree(work / "live", args.files, 1)
        (work / "live" / "public").mkdir(exist_ok=True)
        (work / "live" / "public" / "index.html").write_text("live")
        (work / "live" / "public" / "health.json").write_text('{"status": "ok"}')
        live = create_bundle(work / "live", work / "dist-live", "live".ljust(40, "0"), [])
        make_tree(work / "new", 2000, args.mb)
        (work / "new" / "public").mkdir(exist_ok=True)
        (work / "new" / "public" / "index.html").write_text("new")
        (work / "new" / "public" / "health.json").write_text('{"status": "ok"}')
        new = create_bundle(work / "new", work / "dist-new", "new".ljust(40, "0"), [])
        host_key = (sshd.folder / "known_hosts").read_text().split()
        with latency_proxy(sshd.port, args.rtt) as proxy_port:
            known = work / "known_hosts"
            known.write_text(f"[127.0.0.1]:{proxy_port} {host_key[1]} {host_key[2]}\n")
            deploy_path = work / "target"
            server = ReleaseServer(deploy_path).start()
            try:
                (work / "cfg").mkdir()
                cfg = work / "cfg" / "freigabe.toml"
                target = f"ssh://root@127.0.0.1:{proxy_port}"
                cfg.write_text(config_text(target, sshd.key_file, known, deploy_path, server.url))
                loaded = load_config(cfg)
                first = make_deploy_plan(loaded, "bench", live.path, audit=False).plan
                apply_plan(loaded, prepare_bundle(loaded, first), phrase=first.approval_phrase)
                release = deploy_path / "current"
                plans, scans, drifts = [], [], []
                for _ in range(args.rounds):
                    shutil.rmtree(work / "cfg" / ".freigabe" / "scans", ignore_errors=True)  # no cached scan
                    started = time.perf_counter()
                    scan_bundle(new.path)
                    scans.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    sums = deploy_path / ".freigabe" / "manifests"
                    subprocess.run(
                        ["sh", "-c", f"cd {release} && sha256sum --quiet -c {next(sums.glob('*.sha256'))}"],
                        check=True,
                        capture_output=True,
                    )
                    drifts.append(time.perf_counter() - started)
                    shutil.rmtree(work / "cfg" / ".freigabe" / "scans", ignore_errors=True)
                    started = time.perf_counter()
                    make_deploy_plan(loaded, "bench", new.path)
                    plans.append(time.perf_counter() - started)
            finally:
                server.stop()
        p, s, d = statistics.median(plans), statistics.median(scans), statistics.median(drifts)
        print(f"live release: {args.files} files; new bundle {new.size / 2**20:.0f} MiB, {new.files} files")
        print(f"member scan alone: {s:.2f} s; drift check alone: {d:.2f} s")
        print(f"plan (with the audit): median {p:.2f} s {[round(x, 2) for x in plans]}")
        print(f"ratio plan / max(scan, drift) = {p / max(s, d):.2f}×; plan / (scan + drift) = {p / (s + d):.2f}×")
        return 0
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
