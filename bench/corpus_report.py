"""The corpus in numbers: findings, true and false positives and false negatives per check id.

python bench/corpus_report.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus import audit, cases, tally


def main() -> None:
    all_cases = cases()
    counts = tally(all_cases)
    print(f"{len(all_cases)} excerpts from {len({c.repo for c in all_cases})} repositories")
    print(f"{'check':40s} {'findings':>8s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'TN':>4s}")
    for check, c in sorted(counts.items()):
        print(
            f"{check:40s} {c['findings']:8d} {c['true positive']:4d} {c['false positive']:4d} "
            f"{c['false negative']:4d} {c['true negative']:4d}"
        )
    p0 = [
        (c.file.name, k)
        for c in all_cases
        if c.correct
        for k, f in audit(c).items()
        if f.impact == "P0" and f.status == "fail"
    ]
    print(f"P0 on workflows the reviewer calls correct: {len(p0)}")


if __name__ == "__main__":
    main()
