"""The audit on real deploy workflows: the reviewer's verdicts hold, and no correct workflow gets a P0."""

from __future__ import annotations

import re

import pytest

from .corpus import Case, audit, cases, status_of

CASES = cases()


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.repo for c in CASES}) >= 25


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file.stem)
def test_case_is_cited(case: Case) -> None:
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", case.repo), case.repo
    assert re.fullmatch(r"[0-9a-f]{40}", case.commit), case.commit
    assert case.path.startswith(".github/workflows/"), case.path
    assert case.reviewer.split()[0] in ("correct", "buggy"), case.reviewer
    assert case.expect, "a case states at least one verdict"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file.stem)
def test_reviewer_verdicts(case: Case) -> None:
    rows = audit(case)
    for key, (want, why) in case.expect.items():
        wanted = case.tool.get(key, (want, why))[0]  # a documented known FP/FN is pinned as what the tool says
        assert status_of(rows, key) == wanted, f"{case.file.name} {key}: {why} — got {rows.get(key)}"
    unlisted = [k for k, f in rows.items() if f.status != "ok" and k not in case.expect]
    assert not unlisted, f"{case.file.name}: rows without a verdict: {unlisted}"


@pytest.mark.parametrize("case", [c for c in CASES if c.correct], ids=lambda c: c.file.stem)
def test_no_p0_on_a_correct_workflow(case: Case) -> None:
    p0 = [k for k, f in audit(case).items() if f.status == "fail" and f.impact == "P0"]
    assert not p0, f"{case.file.name}: {p0}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file.stem)
def test_every_row_cites_its_evidence(case: Case) -> None:
    for key, f in audit(case).items():
        if f.id == "workflow.duplicate-name" and f.status == "ok":
            continue  # a statement about all files, no single place
        assert f.location and f.location.startswith(".github/workflows/"), (key, f.location)
        assert "excerpt" in f.evidence and "line" in f.evidence, (key, f.evidence)
