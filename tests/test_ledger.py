"""The ledger's hash chain: edits, removals, reorderings and truncation are detected."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from freigabe.core import ledger
from freigabe.core.ledger import Signer

SIGNER = Signer(Ed25519PrivateKey.generate())


def _chain(n: int = 5, signer: Signer = SIGNER) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for index in range(n):
        entries.append(
            ledger.make_entry(
                entries[-1] if entries else None,
                env="staging",
                run="r1",
                event="step.finished",
                data={"i": index, "outcome": "ok"},
                signer=signer,
            )
        )
    return entries


def test_intact_chain_verifies() -> None:
    report = ledger.verify_chain(_chain())
    assert report.ok and report.entries == 5


def test_edit_is_detected() -> None:
    entries = _chain()
    entries[2]["data"]["outcome"] = "failed"
    problems = ledger.verify_chain(entries).problems
    assert any("entry 3 (seq 3) was edited" in p for p in problems)


def test_edit_with_recomputed_hash_breaks_the_signature_and_the_next_link() -> None:
    entries = _chain()
    entries[2]["data"]["outcome"] = "failed"
    entries[2]["hash"] = ledger.entry_hash(entries[2])
    problems = ledger.verify_chain(entries).problems
    assert any("entry 3 (seq 3) has no valid signature" in p for p in problems)
    assert any("entry 4 (seq 4) does not follow" in p for p in problems)


def test_only_trusted_keys_may_sign() -> None:
    mine, stranger = SIGNER, Signer(Ed25519PrivateKey.generate())
    assert ledger.verify_chain(_chain(), trusted={mine.id}).ok
    forged = _chain(3)
    forged.append(ledger.make_entry(forged[-1], env="staging", run="x", event="run.finished", data={}, signer=stranger))
    problems = ledger.verify_chain(forged, trusted={mine.id}).problems
    assert problems == [
        f"entry 4 (seq 4) is signed by {stranger.id}, a key freigabe.toml does not trust ([ledger] trusted_keys)"
    ]
    assert ledger.verify_chain(forged, trusted={mine.id, stranger.id}).ok


def test_a_torn_last_line_is_split_off() -> None:
    text = "".join(ledger.serialize(e) for e in _chain(2)).encode()
    complete, torn = ledger.complete_prefix(text + b'{"seq":3,"ts"')
    assert complete == text and torn == b'{"seq":3,"ts"'
    assert ledger.complete_prefix(text) == (text, b"")


def test_removal_and_reordering_are_detected() -> None:
    entries = _chain()
    removed = entries[:2] + entries[3:]
    assert any("expected seq 3" in p for p in ledger.verify_chain(removed).problems)
    swapped = copy.deepcopy(entries)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert not ledger.verify_chain(swapped).ok


def test_truncation_is_caught_against_the_local_copy() -> None:
    entries = _chain()
    assert ledger.compare_copies(entries, entries) == []
    assert "removed from the end" in ledger.compare_copies(entries[:3], entries)[0]
    other = _chain()
    assert "differs" in ledger.compare_copies(other, entries)[0]
    assert ledger.compare_copies(entries, entries[:3]) == []  # the local copy may lag behind


def test_parse_reports_garbage_lines() -> None:
    text = "".join(ledger.serialize(e) for e in _chain(2)) + "not json\n[1]\n"
    entries, problems = ledger.parse_lines(text)
    assert len(entries) == 2 and problems == ["line 3 is not JSON", "line 4 is not a ledger entry"]


def test_the_newest_signature_vouches_for_the_chain_below_it() -> None:
    """Reading a long history checks every hash and link but one signature (the newest's)."""
    mine, stranger = SIGNER, Signer(Ed25519PrivateKey.generate())

    def fast(chain: list[dict[str, Any]]) -> ledger.ChainReport:
        return ledger.verify_chain(chain, {mine.id}, newest_signs_for_all=True)

    entries = _chain(6)
    entries[2]["sig"] = entries[3]["sig"]  # a damaged signature under an intact hash: vouched for
    assert fast(entries).ok
    assert any("entry 3 (seq 3) has no valid signature" in p for p in ledger.verify_chain(entries).problems)
    edited = _chain(6)
    edited[2]["data"]["outcome"] = "failed"  # content edited: the hash no longer matches
    assert any("entry 3 (seq 3) was edited" in p for p in fast(edited).problems)
    rewritten = _chain(6)  # rewritten from entry 3 on, hashes recomputed, signed by someone else
    rewritten[2]["data"]["outcome"] = "failed"
    for index in range(2, 6):
        prev = rewritten[index - 1]
        rewritten[index] = ledger.make_entry(
            prev, env="staging", run="r1", event="step.finished", data=rewritten[index]["data"], signer=stranger
        )
    problems = fast(rewritten).problems
    assert problems == [
        f"entry 6 (seq 6) is signed by {stranger.id}, a key freigabe.toml does not trust ([ledger] trusted_keys)"
    ]
