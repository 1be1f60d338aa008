"""After a lost connection the recorder resyncs: an append that landed although its answer was
lost is taken as written, never appended twice and never mistaken for someone else's write."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from freigabe.adapters.transport import LocalTransport
from freigabe.adapters.transport.base import Pending
from freigabe.core import ledger
from freigabe.core.layout import Layout
from freigabe.core.ledger import Signer
from freigabe.core.redact import Redactor
from freigabe.engine.recorder import Recorder
from freigabe.errors import AppendConflict, ConnectionLost, LedgerError


class AnswerLost(LocalTransport):
    """Appends land on the target; the answer of the next one is lost with the connection."""

    lose_next = False

    def append(self, path: str, data: bytes, expect_size: int | None = None) -> Pending:
        landed = super().append(path, data, expect_size)
        if not self.lose_next:
            return landed
        self.lose_next = False
        landed.result()

        def lost() -> int:
            raise ConnectionLost("the connection was lost")

        return Pending(lost)


def _recorder(tmp_path: Path, t: LocalTransport) -> Recorder:
    layout = Layout(str(tmp_path / "srv"))
    t.mkdir(layout.state)
    signer = Signer(Ed25519PrivateKey.generate())
    return Recorder(t, layout, tmp_path / "local", "staging", "run-1", Redactor(), signer, {signer.id})


def _lines(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "srv" / ".freigabe" / "ledger.jsonl").read_text()
    return [e for e in ledger.parse_lines(text)[0]]


def test_an_append_that_landed_without_its_answer_is_taken_as_written(tmp_path: Path) -> None:
    t = AnswerLost()
    rec = _recorder(tmp_path, t)
    rec.record("run.started", release="r1")
    rec.flush()
    t.lose_next = True
    rec.record("step.started", step="switch")
    rec.flush(wait=False)
    with pytest.raises(ConnectionLost):
        rec.confirm()
    rec.resync()  # after the reconnect
    rec.record("step.finished", step="switch", outcome="ok")
    rec.flush()
    events = [e["event"] for e in _lines(tmp_path)]
    assert events == ["run.started", "step.started", "step.finished"]  # once each, in order
    assert ledger.verify_chain(_lines(tmp_path)).ok


def test_bytes_that_are_not_this_runs_still_stop_it(tmp_path: Path) -> None:
    t = AnswerLost()
    rec = _recorder(tmp_path, t)
    rec.record("run.started", release="r1")
    rec.flush()
    path = tmp_path / "srv" / ".freigabe" / "ledger.jsonl"
    with path.open("a") as out:
        out.write('{"someone": "else"}\n')
    rec.resync()
    rec.record("step.started", step="switch")
    with pytest.raises((AppendConflict, LedgerError)):  # refused, whichever way the transport says it
        rec.flush()
    assert [e.get("event") for e in _lines(tmp_path)] == ["run.started", None]  # nothing after the foreign line
