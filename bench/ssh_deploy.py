"""Benchmark: a freigabe deploy over SSH (real sshd on loopback) against its floor, at added latency.

Floor: `ssh host 'mkdir -p DIR && tar -xzf - -C DIR' < bundle`, the least a script can do, through
the same delaying proxy. Proving floor: the same `ssh` running the deploy's own receiving script
(`adapters/transport/receive.py`: the bytes hashed by the target, kept and unpacked out of view,
the member names listed), the least a deploy can do that checks on the target what it received.
freigabe additionally checks every member and hashes each file locally (once, at plan time),
compares the target's digest and member list, writes the manifest, links shared files, switches
atomically, records the signed ledger and probes the new release over HTTP (also through a
delaying proxy). A second deploy whose health check fails is rolled back.

Reported per round-trip time: medians and the ratios deploy / floor and deploy / proving floor,
round trips per deploy as the proxy counted them (an answer waited for after sending), switch →
verified healthy and failed health → previous release restored and verified (both from the
ledger's timestamps).

    python bench/ssh_deploy.py [--files 20000] [--mb 100] [--rounds 3] [--rtt 0,50] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.latency_proxy import LatencyProxy
from tests.support.sshd import Sshd, start_sshd

from bench.deploy_local import make_tree
from freigabe.adapters.bundle import BundleInfo, create_bundle
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.adapters.transport import receive, remote_sh
from freigabe.config import load_config
from freigabe.errors import RolledBack
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.planning import make_deploy_plan


def floor(sshd: Sshd, port: int, known_hosts: Path, bundle: Path, target: Path, proving: bool = False) -> float:
    """`ssh` with the bundle as stdin: unpacked by tar, or (`proving`) by the deploy's receiving script."""
    command = (
        remote_sh.script_line(receive.SCRIPT, str(target / "bundle.tar.gz"), str(target / ".release.part"))
        if proving
        else f"mkdir -p {target} && tar -xzf - -C {target}"
    )
    started = time.perf_counter()
    with open(bundle, "rb") as fh:
        done = subprocess.run(
            [
                "ssh",
                "-i",
                str(sshd.key_file),
                "-o",
                f"UserKnownHostsFile={known_hosts}",
                "-o",
                "BatchMode=yes",
                "-p",
                str(port),
                "root@127.0.0.1",
                command,
            ],
            stdin=fh,
            check=True,
            stdout=subprocess.PIPE if proving else None,
        )
    took = time.perf_counter() - started
    if proving:
        said = done.stdout.decode("utf-8", "replace").split(remote_sh.MARKER, 1)[-1]
        got = receive.Received.parse(said, done.returncode)
        if got.problem or not got.sha256:
            raise SystemExit(f"the proving floor's receiving script failed: {got.problem or said[-300:]}")
    return took


def config_text(target: str, key_file: Path, known_hosts: Path, deploy_path: Path, url: str) -> str:
    return f"""
preset = "generic"
[gates]
required_files = ["public/index.html"]
[deploy]
revision_file = "public/REVISION"
[environments.bench]
target = "{target}"
deploy_path = "{deploy_path}"
url = "{url}"
[environments.bench.ssh]
key_file = "{key_file}"
known_hosts = "{known_hosts}"
[environments.bench.backup]
enabled = false
[environments.bench.readiness]
probe = {{ url = "/REVISION" }}
interval = "0.02s"
[[environments.bench.health]]
name = "health"
url = "/health.json"
expect_json = {{ status = "ok" }}
attempts = 1
"""


def _ts(entry: dict[str, Any]) -> float:
    return datetime.strptime(str(entry["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


@dataclass
class Row:
    rtt: float
    floors: list[float] = field(default_factory=list)
    proving: list[float] = field(default_factory=list)
    deploys: list[float] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    ssh_turns: list[int] = field(default_factory=list)
    by_step: dict[str, int] = field(default_factory=dict)  # SSH turns per step of the last deploy
    to_healthy: list[float] = field(default_factory=list)
    to_restored: list[float] = field(default_factory=list)


def _bundle(work: Path, tree: Path, name: str, health: str) -> BundleInfo:
    (tree / "public").mkdir(parents=True, exist_ok=True)
    (tree / "public" / "index.html").write_text(f"<h1>{name}</h1>")
    (tree / "public" / "health.json").write_text(json.dumps({"status": health}))
    return create_bundle(tree, work / f"dist-{name}", name.ljust(40, "0"), [])


def measure(work: Path, sshd: Sshd, good: BundleInfo, bad: BundleInfo, rtt: float, rounds: int) -> Row:
    row = Row(rtt)
    host_key = (sshd.folder / "known_hosts").read_text().split()
    with LatencyProxy(sshd.port, rtt) as ssh_proxy:
        known = work / f"known_hosts-{rtt:g}"
        known.write_text(f"[127.0.0.1]:{ssh_proxy.port} {host_key[1]} {host_key[2]}\n")
        for round_ in range(rounds):
            row.floors.append(floor(sshd, ssh_proxy.port, known, good.path, work / f"floor-{rtt:g}-{round_}"))
            shutil.rmtree(work / f"floor-{rtt:g}-{round_}")
            proving_dir = work / f"proving-{rtt:g}-{round_}"
            row.proving.append(floor(sshd, ssh_proxy.port, known, good.path, proving_dir, proving=True))
            shutil.rmtree(proving_dir)
            deploy_path = work / f"target-{rtt:g}-{round_}"
            server = ReleaseServer(deploy_path).start()
            http_proxy = LatencyProxy(server.server_address[1], rtt).start()
            try:
                folder = work / f"cfg-{rtt:g}-{round_}"
                folder.mkdir()
                target = f"ssh://root@127.0.0.1:{ssh_proxy.port}"
                url = f"http://127.0.0.1:{http_proxy.port}"
                (folder / "freigabe.toml").write_text(config_text(target, sshd.key_file, known, deploy_path, url))
                loaded = load_config(folder / "freigabe.toml")
                plan = make_deploy_plan(loaded, "bench", good.path, audit=False).plan
                prepared = prepare_bundle(loaded, plan)
                ssh_proxy.counters.reset()
                http_proxy.counters.reset()
                started, started_wall = time.perf_counter(), time.time()
                apply_plan(loaded, prepared, phrase=plan.approval_phrase)
                row.deploys.append(time.perf_counter() - started)
                row.turns.append(ssh_proxy.counters.turns + http_proxy.counters.turns)
                row.ssh_turns.append(ssh_proxy.counters.turns)
                entries = _ledger(deploy_path)
                row.by_step = _turns_by_step(ssh_proxy.counters.turn_times, entries, started_wall)
                switch = next(e for e in entries if e["event"] == "switch")
                healthy = next(
                    e for e in entries if e["event"] == "step.finished" and str(e["data"]["step"]).startswith("health")
                )
                row.to_healthy.append(_ts(healthy) - _ts(switch))
                plan = make_deploy_plan(loaded, "bench", bad.path, audit=False).plan
                with contextlib.suppress(RolledBack):
                    apply_plan(loaded, prepare_bundle(loaded, plan), phrase=plan.approval_phrase)
                mine = [e for e in _ledger(deploy_path) if e["run"] == _ledger(deploy_path)[-1]["run"]]
                failed = next(e for e in mine if e["event"] == "step.finished" and e["data"]["outcome"] == "failed")
                restored = next(e for e in mine if e["event"] == "rollback.verified")
                row.to_restored.append(_ts(restored) - _ts(failed))
            finally:
                http_proxy.stop()
                server.stop()
            shutil.rmtree(deploy_path)
    return row


def _turns_by_step(times: list[float], entries: list[dict[str, Any]], started: float) -> dict[str, int]:
    """Each SSH turn given to the step that was running (by the ledger's clock), or to what came
    before the first entry / between steps."""
    marks = [(started, "(connect, lock, ledger sync)")]
    for e in entries:
        if e["event"] == "step.started":
            marks.append((_ts(e), str(e["data"]["step"])))
        elif e["event"] == "step.finished":
            marks.append((_ts(e), f"(after {e['data']['step']})"))
    counts: dict[str, int] = {}
    for t in times:
        name = [n for when, n in marks if when <= t][-1] if t >= started else marks[0][1]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _ledger(deploy_path: Path) -> list[dict[str, Any]]:
    lines = (deploy_path / ".freigabe" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtt", default="0,50", help="round-trip times in ms, comma-separated")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--trace", action="store_true", help="print the SSH turns of each step")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freigabe-sshbench-", dir=args.dir))
    sshd = start_sshd(work / "sshd")
    try:
        make_tree(work / "tree", args.files, args.mb)
        good = _bundle(work, work / "tree", "good", "ok")
        bad = _bundle(work, work / "tree", "bad", "failing")
        print(f"bundle: {good.files} files, {good.size / 2**20:.1f} MiB compressed; sshd on 127.0.0.1")
        rows = [measure(work, sshd, good, bad, float(r), args.rounds) for r in args.rtt.split(",")]
        print(
            "| RTT | floor (ssh + tar) | proving floor (ssh + receive script) | freigabe deploy | ratio to floor "
            "| ratio to proving floor | round trips | switch → verified healthy | failed health → restored, verified |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            f, p, d = statistics.median(row.floors), statistics.median(row.proving), statistics.median(row.deploys)
            turns = (  # counted only where waits show
                f"{statistics.median(row.turns):.0f} ({statistics.median(row.ssh_turns):.0f} SSH)" if row.rtt else "—"
            )
            print(
                f"| {row.rtt:g} ms | {f:.2f} s | {p:.2f} s | {d:.2f} s | {d / f:.2f}× | {d / p:.2f}× | {turns} "
                f"| {statistics.median(row.to_healthy) * 1000:.0f} ms "
                f"| {statistics.median(row.to_restored) * 1000:.0f} ms |"
            )
        for row in rows:
            if row.rtt and args.trace:
                print(f"\nSSH turns per step at {row.rtt:g} ms (last deploy):")
                for name, count in row.by_step.items():
                    print(f"  {count:3d}  {name}")
        return 0
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
