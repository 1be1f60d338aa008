"""The suite-wide secret sweep finds a secret where freigabe writes, and only there."""

from __future__ import annotations

import gzip
from pathlib import Path

from .support.secret_sweep import leaks


def test_the_sweep_finds_secrets_in_state_reports_and_printed_output(tmp_path: Path) -> None:
    secret = "sweep-secret-0123456789"
    (tmp_path / "p" / ".freigabe" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "p" / ".freigabe" / "runs" / "r1" / "step.log").write_text(f"one\ntwo {secret}\n")
    (tmp_path / "p" / "reports").mkdir()
    (tmp_path / "p" / "reports" / "plan.html").write_text(f"<p>{secret}</p>")
    (tmp_path / "cli-output-1.txt").write_text(f"Bearer {secret}")
    found = leaks(tmp_path, (secret,))
    assert sorted(f.split(": ")[0] for f in found) == sorted(
        [
            f"{tmp_path}/p/.freigabe/runs/r1/step.log:2",
            f"{tmp_path}/p/reports/plan.html:1",
            f"{tmp_path}/cli-output-1.txt:1",
        ]
    )
    assert all(secret not in f for f in found)  # the report names it by its first characters only


def test_the_sweep_leaves_inputs_planted_files_and_packed_bundles_alone(tmp_path: Path) -> None:
    secret = "sweep-secret-0123456789"
    (tmp_path / "srv" / "shared").mkdir(parents=True)
    (tmp_path / "srv" / "shared" / ".env").write_text(f"TOKEN={secret}\n")  # the target's own secret file
    (tmp_path / "srv" / ".freigabe" / "bundles").mkdir(parents=True)
    (tmp_path / "srv" / ".freigabe" / "bundles" / "b.tar.gz").write_bytes(gzip.compress(secret.encode()))
    (tmp_path / "t" / ".freigabe" / "planted").mkdir(parents=True)
    (tmp_path / "t" / ".freigabe" / "planted" / "forged.jsonl").write_text(secret)
    assert leaks(tmp_path, (secret,)) == []
