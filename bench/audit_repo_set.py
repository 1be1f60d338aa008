"""Benchmark: the repository audit of a 30-file workflow set (goal: under 2 s).

The set is the 30 largest corpus excerpts plus the reference plan's four workflows, written
into a temporary repository. Times gathering (YAML + shell parsing) and judging, with and
without the external linters (actionlint, zizmor), and prints medians.

    python bench/audit_repo_set.py [--rounds 5] [--files 30] [--repo PATH]

`--repo` audits an existing checkout's `.github/workflows` instead (e.g. a real project's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from freigabe.adapters.workflows import gather_repo
from freigabe.audit.repo import evaluate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures import workflows as reference  # noqa: E402


def workflow_set(repo: Path, files: int) -> int:
    """Write `files` workflow files into `repo`; returns how many."""
    reference.write(repo, reference.BUGGY)
    folder = repo / ".github" / "workflows"
    corpus = sorted((ROOT / "tests" / "corpus").glob("*.yml"), key=lambda p: -p.stat().st_size)
    for path in corpus[: max(0, files - len(reference.BUGGY))]:
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return len(list(folder.glob("*.yml")))


def timed(repo: Path, linters: bool) -> tuple[float, int]:
    start = time.perf_counter()
    rows = evaluate(gather_repo(repo, linters=linters))
    return time.perf_counter() - start, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--repo", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = args.repo or Path(tmp)
        folder = repo / ".github" / "workflows"
        count = len(list(folder.glob("*.y*ml"))) if args.repo else workflow_set(repo, args.files)
        lines = sum(len(p.read_text().splitlines()) for p in folder.glob("*.y*ml"))
        for linters in (False, True):
            runs = [timed(repo, linters) for _ in range(args.rounds)]
            median = statistics.median(t for t, _ in runs)
            label = "with actionlint + zizmor" if linters else "freigabe's checks only"
            print(f"{count} files, {lines} lines, {runs[0][1]} rows — {label}: median {median:.3f} s")


if __name__ == "__main__":
    main()
