"""The decision is a pure function of findings and the policy."""

from __future__ import annotations

from typing import Any

from freigabe.config.models import DecisionPolicy
from freigabe.core.decision import decide
from freigabe.core.findings import Finding, finding


def f(impact: Any, status: Any, key: str = "x", **kw: Any) -> Finding:
    return finding(
        key,
        "repo",
        key,
        soll="s",
        ist="i",
        impact=impact,
        ok=status == "ok",
        status=None if status in ("ok", "fail") else status,
        **kw,
    )


def test_p0_fail_is_no_go_everywhere() -> None:
    assert decide([f("P0", "fail")], "staging").verdict == "NO-GO"
    assert decide([f("P0", "fail")], "production").verdict == "NO-GO"


def test_p1_fail_blocks_production_only() -> None:
    assert decide([f("P1", "fail")], "staging").verdict == "CONDITIONAL GO"
    assert decide([f("P1", "fail")], "production").verdict == "NO-GO"


def test_pending_counts_as_fail_for_production() -> None:
    assert decide([f("P1", "pending")], "staging").verdict == "CONDITIONAL GO"
    assert decide([f("P1", "pending")], "production").verdict == "NO-GO"


def test_attested_pending_is_a_condition_not_a_block() -> None:
    attested = f("P1", "pending").model_copy(update={"attested": {"by": "anna", "note": "checked", "at": "t"}})
    decision = decide([attested], "production")
    assert decision.verdict == "CONDITIONAL GO"
    assert "attested, not verified" in decision.reasons[0]


def test_warnings_and_ok_never_block() -> None:
    assert decide([f("P0", "warn"), f("P0", "ok")], "production").verdict == "GO"


def test_policy_is_configurable() -> None:
    strict = DecisionPolicy(no_go=["P0", "P1", "P2"])
    assert decide([f("P2", "fail")], "staging", strict).verdict == "NO-GO"
    qa = DecisionPolicy(production_environments=["production", "eu-prod"])
    assert decide([f("P1", "fail")], "eu-prod", qa).verdict == "NO-GO"


def test_token_mismatch_blocks_every_deploy() -> None:
    """Reference plan, abort criteria: 'Token Hash mismatch → ABBRUCH' (although rated P1)."""
    mismatch = finding("server.token-digest", "server", "token", soll="s", ist="differ", impact="P1", ok=False)
    assert decide([mismatch], "staging").verdict == "NO-GO"
