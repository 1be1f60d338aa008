"""Benchmark: a fleet deploy against a one-host deploy, the switch skew, and failed requests at the switch.

16 loopback hosts (each a real sshd in its own mount namespace with its own nginx + PHP-FPM, as in
the fleet tests) and one more host on its own. For a 1 MB and a 100 MB bundle:

* wall time of `deploy` (approved plan → done: prepare, migrate, switch, reload, verify, finish) on
  the one host and on all 16, medians of --rounds, and their ratio (goal ≤ 2x on 1 MB);
* switch skew: first to last rename of `current` over the 16 hosts, as the run records it (goal ≤ 250 ms);
* failed requests (non-2xx, connect/read/write errors; goal 0) and slow ones (no answer within 5 s)
  through a round-robin nginx in front of all 16 hosts, under `wrk` load for the whole deploy.

Traffic goes to 127.0.0.1 only; every loop is bounded.

    python bench/fleet.py [--rounds 3] [--hosts 16] [--sizes 1,100] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fleet import TOKEN, Fleet, fleet_config, start_fleet, start_host, write_app

from freigabe.config import LoadedConfig, load_config
from freigabe.usecases.apply import apply_plan, prepare_bundle
from freigabe.usecases.build import build
from freigabe.usecases.planning import make_deploy_plan

ENV_ONE, ENV_FLEET = "solo", "fleet"


def wrk_loop(url: str, stop: threading.Event, totals: dict[str, int]) -> None:
    """wrk in 2 s slices until told to stop: requests, failed ones (non-2xx, connect/read/write errors)
    and slow ones (no answer within wrk's 5 s timeout), summed."""
    while not stop.is_set():
        out = subprocess.run(
            ["wrk", "-t2", "-c16", "-d2s", "--timeout", "5s", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        found = re.search(r"(\d+) requests in", out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        totals["requests"] += int(found.group(1)) if found else 0
        totals["failed"] += int(non2xx.group(1)) if non2xx else 0
        if sock:
            connect, read, write, slow = map(int, sock.groups())
            totals["failed"] += connect + read + write
            totals["slow"] += slow


def deploy(loaded: LoadedConfig, env: str, bundle: Path) -> tuple[float, Any]:
    planned = make_deploy_plan(loaded, env, bundle, audit=False)
    prepared = prepare_bundle(loaded, planned.plan)
    started = time.monotonic()
    result = apply_plan(loaded, prepared, phrase=planned.plan.approval_phrase)
    return time.monotonic() - started, result


def config(work: Path, fleet: Fleet, solo: Fleet, concurrency: int) -> Path:
    root = work / "proj"
    root.mkdir(exist_ok=True)
    text = fleet_config(
        fleet, root, env=ENV_FLEET, extra=f"[environments.{ENV_FLEET}.fleet]\nconcurrency = {concurrency}\n"
    )
    one = fleet_config(solo, root, env=ENV_ONE)
    one = one[one.index(f"[environments.{ENV_ONE}]") :]
    # the one host is reached and checked directly (a fleet of one): no balancer in front
    one = one.replace(f'url = "{solo.url}"', f'url = "{solo.hosts[0].url}"')
    (root / "freigabe.toml").write_text(text + "\n" + one)
    return root / "freigabe.toml"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--sizes", default="1,100", help="bundle sizes in MB")
    parser.add_argument("--concurrency", type=int, default=16, help="hosts prepared at once")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (`make tools`)")
        return 2
    os.environ["HEALTHCHECK_TOKEN"] = TOKEN
    os.environ.setdefault("FREIGABE_ACTOR", "bench")
    work = Path(tempfile.mkdtemp(prefix="freigabe-fleet-bench-"))
    started = time.monotonic()
    fleet = start_fleet(work / "hosts", args.hosts)
    solo = Fleet(work / "solo", [start_host(work / "solo" / "solo1", "solo1")])
    solo.folder.mkdir(parents=True, exist_ok=True)
    print(f"started {args.hosts} + 1 hosts in {time.monotonic() - started:.1f} s", flush=True)
    toml = config(work, fleet, solo, args.concurrency)
    loaded = load_config(toml)
    rows = []
    builds = 0
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            bundles = []
            for variant in ("a", "b"):
                builds += 1
                write_app(loaded.root / "app", f"{size}mb-{variant}", size * 1024 * 1024 if size > 1 else 1024 * 1024)
                bundles.append(build(loaded, sha=f"{builds:02d}{variant}".ljust(40, "0")).bundle.path)
            one, many, skews = [], [], []
            for index in range(args.rounds):
                bundle = bundles[index % 2]
                seconds, _ = deploy(loaded, ENV_ONE, bundle)
                one.append(seconds)
                seconds, result = deploy(loaded, ENV_FLEET, bundle)
                many.append(seconds)
                skews.append(max(b["skew_ms"] for b in result.fleet["skew"]))
                print(
                    f"  {size} MB round {index + 1}: one host {one[-1]:.2f} s, {args.hosts} hosts {many[-1]:.2f} s, "
                    f"skew {skews[-1]:.0f} ms",
                    flush=True,
                )
            totals = {"requests": 0, "failed": 0, "slow": 0}
            stop = threading.Event()
            load = threading.Thread(target=wrk_loop, args=(f"{fleet.url}/index.php", stop, totals))
            load.start()
            time.sleep(1)
            try:
                seconds, result = deploy(loaded, ENV_FLEET, bundles[args.rounds % 2])
            finally:
                time.sleep(1)
                stop.set()
                load.join()
            loaded_skew = max(b["skew_ms"] for b in result.fleet["skew"])
            rows.append(
                (
                    size,
                    statistics.median(one),
                    statistics.median(many),
                    statistics.median(skews),
                    max(skews),
                    seconds,
                    loaded_skew,
                    totals["requests"],
                    totals["failed"],
                    totals["slow"],
                )
            )
    finally:
        fleet.stop()
        solo.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.hosts} hosts (prepared {args.concurrency} at once), medians of {args.rounds} rounds")
    print(
        f"{'bundle':>7} {'1 host':>8} {f'{args.hosts} hosts':>9} {'ratio':>6} {'skew med/max':>13} "
        f"{'under load':>11} {'skew':>6} {'requests':>9} {'failed':>7} {'slow':>5}"
    )
    for size, one_s, many_s, skew, skew_max, load_s, load_skew, requests, failed, slow in rows:
        print(
            f"{size:>5}MB {one_s:>7.2f}s {many_s:>8.2f}s {many_s / one_s:>5.2f}x {skew:>6.0f}/{skew_max:<4.0f}ms "
            f"{load_s:>10.2f}s {load_skew:>4.0f}ms {requests:>9} {failed:>7} {slow:>5}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
