"""A finding that does not apply is waived with a reason: recorded, shown in every report, not
counted, and re-opened when its file changes."""

from __future__ import annotations

import json
from typing import Any

from freigabe.errors import ExitCode

from .conftest import Project
from .fixtures import workflows as W

KEY = "workflow.jq-null-guard:deploy-staging.yml"
WHY = "the old CI deploy workflow: freigabe replaces it, and it is disabled in GitHub"


def _plan(project: Project, out: str) -> Any:
    bundle = next((project.root / "dist").glob("*.tar.gz"))
    result = project.cli("plan", "staging", "--bundle", str(bundle), "--out", str(project.root / out))
    assert result.exit_code == 0, result.output
    return json.loads(next((project.root / out).glob("*.json")).read_text())


def test_a_waived_finding_is_shown_everywhere_not_counted_and_reopened_when_the_file_changes(
    deployed: Project,
) -> None:
    W.write(deployed.root, W.BUGGY)
    deployed.build("v2")
    before = _plan(deployed, "r1")
    assert KEY in before["decision"]["blocking"]

    short = deployed.cli("waive", KEY, "--env", "staging", "--reason", "nah")
    assert short.exit_code == ExitCode.CONFIG and "needs --reason" in short.output
    unknown = deployed.cli("waive", "workflow.nothing:x.yml", "--env", "staging", "--reason", WHY)
    assert unknown.exit_code == ExitCode.CONFIG and "is not a finding" in unknown.output

    done = deployed.cli("waive", KEY, "--env", "staging", "--reason", WHY)
    assert done.exit_code == 0, done.output
    assert "waived (P0)" in done.output and "tester" in done.output
    waived = [e for e in deployed.ledger() if e["event"] == "finding.waived"]
    assert waived and waived[-1]["data"]["reason"] == WHY and waived[-1]["data"]["basis"]["kind"] == "file"

    after = _plan(deployed, "r2")
    decision = after["decision"]
    assert KEY not in decision["blocking"] and KEY in decision["waived"]
    assert any("waived by tester" in r and WHY in r for r in decision["reasons"])
    row = next(f for f in after["findings"] if f["key"] == KEY)
    assert row["status"] == "fail" and row["waived"]["by"] == "tester"  # never hidden, never "ok"
    md = next((deployed.root / "r2").glob("*.md")).read_text()
    html = next((deployed.root / "r2").glob("*.html")).read_text()
    assert "WAIVED by tester" in md and WHY in md
    assert 'class="waived">WAIVED by tester' in html and WHY in html
    terminal = deployed.cli("audit", "--env", "staging")
    assert "waived by tester" in terminal.output

    # the workflow changes: the waiver no longer applies
    path = deployed.root / ".github" / "workflows" / "deploy-staging.yml"
    path.write_text(path.read_text() + "\n# edited\n")
    reopened = _plan(deployed, "r3")
    assert KEY in reopened["decision"]["blocking"]
    row = next(f for f in reopened["findings"] if f["key"] == KEY)
    assert row["waived"] is None and "the file changed since" in row["evidence"]["waiver_lapsed"]

    # waived again, then withdrawn
    assert deployed.cli("waive", KEY, "--env", "staging", "--reason", WHY).exit_code == 0
    assert KEY in _plan(deployed, "r4")["decision"]["waived"]
    assert deployed.cli("waive", KEY, "--env", "staging", "--revoke").exit_code == 0
    assert KEY in _plan(deployed, "r5")["decision"]["blocking"]
