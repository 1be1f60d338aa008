"""Benchmark: does a deploy (and `status`) cost more as the ledger grows?

One real deploy to a local target records its entries; they are then repeated, re-chained and
re-signed, to stand for N earlier deploys (25-odd entries each), and the local copy is brought
up to the target once (a new machine's first run, reported apart). Then a small deploy and a
`status` are timed with 0, 100 and 1,000 earlier deploys; the baseline is the 0 case, in the
same run.

    python bench/ledger_growth.py [--counts 0,100,1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deploy_local import config_text
from freigabe.adapters.bundle import create_bundle
from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.adapters.ledger_keys import local_signer
from freigabe.config import load_config
from freigabe.core import ledger
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.planning import make_deploy_plan
from freigabe.usecases.status import status as get_status


def _deploy(folder: Path, version: int) -> tuple[float, float]:
    """(plan with the audit, apply) in seconds."""
    loaded = load_config(folder / "cfg" / "freigabe.toml")
    tree = folder / f"tree{version}"
    (tree / "public").mkdir(parents=True)
    (tree / "public" / "index.html").write_text(f"v{version}")
    bundle = create_bundle(tree, folder / f"dist{version}", f"{version:04d}".ljust(40, "0"), [])
    started = time.perf_counter()
    plan = make_deploy_plan(loaded, "bench", bundle.path).plan
    planned = time.perf_counter() - started
    prepared = prepare_bundle(loaded, plan)
    started = time.perf_counter()
    apply_plan(loaded, prepared, phrase=plan.approval_phrase)
    return planned, time.perf_counter() - started


def _grow(folder: Path, earlier: int) -> None:
    """Repeat the first deploy's entries `earlier` times on the target, chained and signed."""
    path = folder / "target" / ".freigabe" / "ledger.jsonl"
    one = [json.loads(line) for line in path.read_text().splitlines()]
    signer = local_signer(folder / "cfg")
    prev: dict[str, Any] | None = None
    with path.open("w") as fh:
        for n in range(earlier + 1):
            for entry in one:
                prev = ledger.make_entry(
                    prev,
                    env="bench",
                    run=f"{entry['run']}-{n}",
                    event=entry["event"],
                    data=entry["data"],
                    signer=signer,
                )
                fh.write(ledger.serialize(prev))
    shutil.rmtree(folder / "cfg" / ".freigabe" / "ledger", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="0,100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for earlier in [int(c) for c in args.counts.split(",")]:
        work = Path(tempfile.mkdtemp(prefix="freigabe-ledgerbench-"))
        server = ReleaseServer(work / "target").start()
        try:
            (work / "cfg").mkdir()
            (work / "cfg" / "freigabe.toml").write_text(config_text(work / "target", server.url))
            _deploy(work, 0)
            _grow(work, earlier)
            size = (work / "target" / ".freigabe" / "ledger.jsonl").stat().st_size
            first = sum(_deploy(work, 1))  # the local copy is brought up to the target here
            plans, deploys, statuses = [], [], []
            for round_ in range(args.rounds):
                planned, applied = _deploy(work, 2 + round_)
                plans.append(planned)
                deploys.append(applied)
                loaded = load_config(work / "cfg" / "freigabe.toml")
                started = time.perf_counter()
                get_status(loaded, "bench")
                statuses.append(time.perf_counter() - started)
            rows.append(
                (
                    earlier,
                    size,
                    first,
                    statistics.median(plans),
                    statistics.median(deploys),
                    statistics.median(statuses),
                )
            )
        finally:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)
    base_plan, base_deploy, base_status = rows[0][3], rows[0][4], rows[0][5]
    print("| earlier deploys | ledger | first run on a new machine | plan | vs 0 | deploy | vs 0 | status | vs 0 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for earlier, size, first, plan, deploy, status in rows:
        print(
            f"| {earlier} | {size / 2**20:.1f} MiB | {first:.2f} s | {plan:.3f} s | {plan / base_plan:.2f}× "
            f"| {deploy:.3f} s | {deploy / base_deploy:.2f}× | {status:.3f} s | {status / base_status:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
