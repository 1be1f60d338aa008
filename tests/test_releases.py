"""Retention and rollback choice: by release name and marks, never by mtime."""

from __future__ import annotations

from freigabe.core.releases import previous_good, select_for_removal

R = [f"2026010{i}_000000-aaaaaaa{i}" for i in range(1, 8)]


def test_keeps_newest_and_protected() -> None:
    doomed = select_for_removal(R, keep=3, protected={R[6], R[1]})
    assert doomed == [R[0], R[2], R[3], R[4]]  # R[1] protected, R[5] and R[6] newest


def test_never_removes_protected_even_past_keep() -> None:
    assert select_for_removal(R[:3], keep=2, protected={R[0], R[1], R[2]}) == []


def test_ignores_foreign_names() -> None:
    assert select_for_removal([*R[:2], ".partial", "notes.txt"], keep=1, protected={None}) == [R[0]]


def test_previous_good_skips_bad_and_current() -> None:
    marks = {R[6]: "good", R[5]: "bad", R[4]: "good"}
    assert previous_good(R, marks, current=R[6]) == R[4]
    assert previous_good(R, {R[6]: "good"}, current=R[6]) is None
