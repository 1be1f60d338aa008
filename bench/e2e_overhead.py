"""Benchmark: what `freigabe e2e` adds to the pipeline it drives.

The fake GitHub (tests/support/fake_actions.py) runs the workflows `freigabe ci init` writes
against a loopback target; e2e drives them as it would drive GitHub. Per round:

* e2e: from the approved run's start to the verdict;
* pipeline: the runs' own time (build + deploy), measured by the runner itself to the
  millisecond (GitHub's API gives whole seconds; that figure is shown too);
* overhead ratio = e2e / pipeline (polling latency, the logs and ledger downloads, the own
  checks on the target);
* API calls per E2E.

    python bench/e2e_overhead.py [--rounds 3] [--poll 0.25,1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_actions import FakeActions
from tests.support.pipeline import github_toml

from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.config import load_config
from freigabe.demo import app as demo_app
from freigabe.usecases.ci_init import ci_init
from freigabe.usecases.e2e import make_e2e_plan, run_e2e, save_e2e_plan
from freigabe.usecases.e2e_watch import QuietProgress

TOKEN = "bench-token-0123456789abcdef0123456789"  # noqa: S105 — a test credential


def one_round(folder: Path, poll: float, cold: bool, index: int) -> dict[str, float]:
    root = folder / f"round-{index}"
    root.mkdir()
    servers = {}
    for env in ("staging", "production"):
        demo_app.write_shared(root / "servers" / env, TOKEN)
        servers[env] = ReleaseServer(root / "servers" / env, protected=("/health",))
        servers[env].start()
    sha = f"{index:08x}" + "ab12cd34" * 4
    gh = FakeActions(root, folder / f"work-{index}", sha).start()
    gh.secrets = {"HEALTHCHECK_TOKEN": TOKEN}
    gh.environments = {"staging": {"reviewers": False}}
    try:
        text = demo_app.config_text(root, {n: s.url for n, s in servers.items()}, "1s")
        toml = text + github_toml(gh.url, approval='{ staging = "reviewers", production = "reviewers" }')
        (root / "freigabe.toml").write_text(toml.replace('poll_interval = "0.2s"', f'poll_interval = "{poll}s"'))
        demo_app.write_app(root / "app", "v1", True)
        ci_init(load_config(root / "freigabe.toml"), [])
        if not cold:  # a successful build for the commit exists already: e2e finds it
            body = {"ref": "main", "inputs": {}, "return_run_details": True}
            _status, answer = gh.dispatch("freigabe-build.yml", body)
            gh.wait_for(int(answer["workflow_run_id"]))
        loaded = load_config(root / "freigabe.toml")
        plan = make_e2e_plan(loaded, "staging", sha).plan
        save_e2e_plan(loaded, plan)
        started = time.monotonic()
        result = run_e2e(loaded, plan, "STAGING-TEST FREIGEGEBEN", QuietProgress())
        wall = time.monotonic() - started
        assert result.verdict.verdict == "PASS", result.verdict.summary
        own = [
            gh.timings[rid][1] - gh.timings[rid][0]
            for rid, run in gh.run_by_id.items()
            if rid in gh.timings and (cold or "deploy" in run["path"])
        ]
        return {
            "e2e": wall,
            "pipeline": sum(own),
            "pipeline_api": result.pipeline_seconds,
            "calls": float(result.api_calls),
        }
    finally:
        gh.stop()
        for server in servers.values():
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", default="0.25,1", help="poll intervals in seconds, comma-separated")
    args = parser.parse_args()
    os.environ["HEALTHCHECK_TOKEN"] = TOKEN
    os.environ["GITHUB_TOKEN"] = "ghp_bench_token_0123456789"  # noqa: S105 — for the fake GitHub
    os.environ.setdefault("FREIGABE_ACTOR", "bench")
    rows = []
    with tempfile.TemporaryDirectory(prefix="freigabe-e2e-bench-") as tmp:
        index = 0
        for poll in [float(p) for p in args.poll.split(",")]:
            for cold in (True, False):
                results = []
                for _ in range(args.rounds):
                    index += 1
                    results.append(one_round(Path(tmp), poll, cold, index))
                med = {k: statistics.median(r[k] for r in results) for k in results[0]}
                rows.append((poll, "dispatched" if cold else "found", med))
    print(
        f"{'poll':>6}  {'build':<10}  {'e2e s':>7}  {'pipeline s':>10}  {'(API s)':>7}  {'ratio':>6}  {'API calls':>9}"
    )
    for poll, build, med in rows:
        ratio = med["e2e"] / med["pipeline"] if med["pipeline"] else float("nan")
        print(
            f"{poll:>6g}  {build:<10}  {med['e2e']:>7.2f}  {med['pipeline']:>10.2f}  {med['pipeline_api']:>7.0f}  "
            f"{ratio:>6.2f}  {med['calls']:>9.0f}"
        )
    print(f"(medians of {args.rounds} rounds; 'pipeline' timed by the runner, '(API s)' from GitHub's whole seconds)")


if __name__ == "__main__":
    main()
