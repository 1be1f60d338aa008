"""The ledger on a target, written through the transport, witnessed by the local copy.

A run reads only what the target's ledger gained since the local copy last saw it (the
witness remembers the offset of its last entry), verifies those entries' hashes, links and
signatures, and then appends its own entries in batches: one append per step, each append all
or nothing, each entry signed with a key the target does not hold. A line cut short by a crash
is removed by the next run that holds the lock, and that removal is itself recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freigabe import failpoints
from freigabe.adapters.transport import Transport
from freigabe.adapters.transport.base import Pending
from freigabe.core import ledger
from freigabe.core.events import DECISION_EVENTS, EVENTS, Event
from freigabe.core.layout import Layout
from freigabe.core.ledger import Signer
from freigabe.core.redact import Redactor
from freigabe.core.runs import covers
from freigabe.engine.witness import Head, Witness
from freigabe.errors import AppendConflict, LedgerError
from freigabe.interrupts import critical

Repair = Callable[[int, bytes], None]  # (size of the complete part, the torn bytes)
Looked = tuple[int, tuple[int, bytes] | None]  # (offset, read_tail's answer from it)


def _lines_with_offsets(data: bytes, base: int) -> list[tuple[int, bytes]]:
    out, offset = [], base
    for line in data.splitlines(keepends=True):
        out.append((offset, line))
        offset += len(line)
    return out


def sync(
    t: Transport,
    layout: Layout,
    witness: Witness,
    trusted: set[str] | None,
    repair: Repair | None = None,
    looked: Looked | None = None,
) -> dict[str, Any] | None:
    """Bring the witness up to the target's ledger and return the target's last entry (`looked`:
    the tail already read, with the offset it was read from, as the lock was taken).

    Raises LedgerError (exit 10) when the target lost entries the witness holds, when an entry
    the witness saw was changed, or when what the target gained does not verify."""
    path = layout.ledger
    head = witness.head()
    base = head.offset if head is not None else 0
    # one look: the size and what the target gained since the head
    tail = looked[1] if looked is not None and looked[0] == base else t.read_tail(path, base)
    if tail is None:
        if head is not None or witness.last() is not None:
            raise LedgerError(
                f"the ledger at {path} is gone, but the local copy ({witness.path}) holds its entries: "
                "someone removed it on the target; nothing was changed — find out who, and restore it from "
                "the local copy"
            )
        return None
    size, gained = tail
    if head is not None and size < head.size:
        raise LedgerError(
            f"the ledger at {path} has {size} bytes, but the local copy saw entry seq {head.seq} end at byte "
            f"{head.size}: entries were removed from the end of the target's ledger; nothing was changed — "
            "compare with `freigabe ledger verify`"
        )
    complete, torn = ledger.complete_prefix(gained)
    lines = _lines_with_offsets(complete, base)
    entries, problems = ledger.parse_lines(complete.decode("utf-8", "replace"))
    after: dict[str, Any] | None = None
    known = 0  # entries at the start of `entries` that the witness already holds
    if head is not None:
        first_ok = (
            not problems and entries and entries[0].get("hash") == head.hash and entries[0].get("seq") == head.seq
        )
        if not first_ok:
            raise LedgerError(
                f"the ledger at {path} no longer holds entry seq {head.seq} where the local copy saw it: it "
                "was edited or rewritten on the target; nothing was changed — compare with `freigabe ledger verify`"
            )
        after, known = entries[0], 1
    elif problems:
        raise LedgerError(
            f"the ledger at {path} is damaged ({problems[0]}); run `freigabe ledger verify` to see every problem"
        )
    elif witness.exists():  # a local copy from before heads were kept: it must be a prefix
        mine = witness.entries()
        differ = ledger.compare_copies(entries, mine)
        if differ:
            raise LedgerError(f"the ledger at {path} and the local copy disagree ({differ[0]}); nothing was changed")
        known = len(mine)
        after = mine[-1] if mine else None
    new = entries[known:]
    batch = entries if head is None and not known else new
    report = ledger.verify_chain(batch, trusted, after=after, newest_signs_for_all=True)
    if not report.ok:
        report = ledger.verify_chain(batch, trusted, after=after)  # to name the first entry at fault
        raise LedgerError(
            f"the ledger at {path} does not verify ({report.problems[0]}); nothing was changed — "
            "investigate with `freigabe ledger verify` before deploying"
        )
    if torn and repair is not None:
        repair(base + len(complete), torn)
    last = entries[-1] if entries else after
    if last is not None and lines:
        offset = lines[len(entries) - 1][0] if entries else base
        witness.extend(new, Head(int(last["seq"]), str(last["hash"]), offset, base + len(complete)))
    return last


class Recorder:
    """Appends signed, hash-chained entries to the target's ledger, one batch per step."""

    def __init__(
        self,
        transport: Transport,
        layout: Layout,
        root: Path,
        env: str,
        run: str,
        redactor: Redactor,
        signer: Signer,
        trusted: set[str] | None = None,
        witness: str | None = None,
        looked: Looked | None = None,
    ) -> None:
        self.transport = transport
        self.layout = layout
        self.env = env
        self.run = run
        self.redactor = redactor
        self.signer = signer
        self.witness = Witness(root, witness or env)  # in a fleet, one local copy per host
        self.entries: list[dict[str, Any]] = []  # this run's entries, written
        self._buffer: list[dict[str, Any]] = []
        self._torn: tuple[int, bytes] | None = None
        self._end = 0  # the ledger's size after this run's last append (set below)
        self._inflight: list[tuple[Pending, list[dict[str, Any]], int, bytes]] = []
        transport.mkdir(layout.state)  # once per run, not per append
        self.head = sync(transport, layout, self.witness, trusted, repair=self._note_torn, looked=looked)
        seen = self.witness.head()  # where this run's first append expects the ledger to end (a torn
        self._end = seen.size if seen is not None else 0  # line is cut back to there); none: no ledger yet
        if self._torn is not None:
            self._repair(*self._torn)

    # ---------------------------------------------------------------- repairs

    def _note_torn(self, complete: int, torn: bytes) -> None:
        self._torn = (complete, torn)

    def _repair(self, complete: int, torn: bytes) -> None:
        """Cut a line an interrupted append left half written, and record that it was cut."""
        self.transport.truncate(self.layout.ledger, complete)
        self.record_now(
            "ledger.repaired",
            removed_bytes=len(torn),
            removed_sha256=hashlib.sha256(torn).hexdigest(),
            reason="a line cut short by an interrupted append (crash, full disk) was removed",
        )

    # ---------------------------------------------------------------- writing

    def record(self, event: Event, **data: Any) -> dict[str, Any]:
        """An entry for the next flush (the executor flushes once per step)."""
        if event not in EVENTS:
            raise ValueError(f"{event!r} is not a ledger event (see core/events.py)")
        sent = self._inflight[-1][1][-1] if self._inflight else self.head
        prev = self._buffer[-1] if self._buffer else sent
        entry = ledger.make_entry(
            prev, env=self.env, run=self.run, event=event, data=self.redactor.data(data), signer=self.signer
        )
        self._buffer.append(entry)
        return entry

    def record_now(self, event: Event, **data: Any) -> dict[str, Any]:
        entry = self.record(event, **data)
        self.flush()
        return entry

    def flush(self, wait: bool = True) -> None:
        """Append the pending entries in one write: all of them, or none (and the error says so).

        The append expects the ledger at the size this run last left it (compare-and-append), so
        an entry written by anyone else stops the run. With `wait=False` it travels with the next
        operation on the target (`confirm` after the executor's settle takes the answer); entries
        reach the local copy only once the target has them."""
        if not self._buffer:
            return
        pending, self._buffer = self._buffer, []
        data = "".join(ledger.serialize(e) for e in pending).encode()
        with critical():
            failpoints.hit("ledger.append.before")
            try:
                handle = self.transport.append(self.layout.ledger, data, expect_size=self._end)
            except BaseException:
                self._buffer = pending + self._buffer  # not written: kept for the next flush
                raise
            self._inflight.append((handle, pending, self._end, data))
            self._end += len(data)
            if wait:
                self.confirm()

    def confirm(self, block: bool = True) -> None:
        """Take the target's answers to the appends sent so far; without `block`, only those
        already answered (after the executor's settle: all but the ones sent since). The answered
        batches reach the local copy in one write."""
        taken: list[tuple[list[dict[str, Any]], int, bytes]] = []
        try:
            while self._inflight:
                handle, pending, before, data = self._inflight[0]
                if not block and not handle.done():
                    return
                try:
                    handle.result()
                except AppendConflict as exc:
                    self._requeue()
                    raise LedgerError(
                        f"the ledger at {self.layout.ledger} changed during this run ({exc.actual} bytes, this "
                        f"run wrote up to {before}): someone wrote to it without the lock; nothing more is "
                        "appended — run `freigabe ledger verify`"
                    ) from None
                except BaseException:
                    self._requeue()
                    raise
                self._inflight.pop(0)
                taken.append((pending, before, data))
        finally:
            if taken:
                self._written([e for pending, _, _ in taken for e in pending], taken[-1][1], taken[-1][2])
                for _ in taken:
                    failpoints.hit("ledger.append.after")

    def _written(self, entries: list[dict[str, Any]], before: int, data: bytes) -> None:
        """The target holds `entries`, the last of them in `data` appended at `before`: the local
        copy takes them (one write) and the recorder's head moves."""
        last = _lines_with_offsets(data, before)[-1][0]
        self.witness.extend(entries, Head(int(entries[-1]["seq"]), str(entries[-1]["hash"]), last, before + len(data)))
        self.head = entries[-1]
        self.entries += entries

    def resync(self) -> None:
        """After a lost connection: an append whose answer was lost may still have landed. What the
        target's ledger holds past this run's last confirmed end is compared with what this run
        sent, entry by entry; the entries found there are taken as written (never appended twice),
        the rest wait for the next flush. Bytes that are not this run's are left for that flush's
        compare-and-append to refuse."""
        self._requeue()
        if not self._buffer:
            return
        found = self.transport.read_tail(self.layout.ledger, self._end)
        if found is None:
            return
        tail, landed = found[1], 0
        for entry in self._buffer:
            line = ledger.serialize(entry).encode()
            if not tail.startswith(line):
                break
            self._written([entry], self._end, line)
            self._end += len(line)
            tail = tail[len(line) :]
            landed += 1
        self._buffer = self._buffer[landed:]

    def _requeue(self) -> None:
        """The appends not confirmed were not written: their entries go back first in the buffer."""
        unwritten = [e for _, pending, _, _ in self._inflight for e in pending]
        self._end = self._inflight[0][2] if self._inflight else self._end
        self._inflight = []
        self._buffer = unwritten + self._buffer


def read_recent(
    transport: Transport, layout: Layout, root: Path, env: str, trusted: set[str] | None, current: str | None, runs: int
) -> list[dict[str, Any]]:
    """The newest entries `status` and the audit read: the witness brought up to the target, then
    read from its end — not the whole history (see core.runs.covers)."""
    witness = Witness(root, env)
    sync(transport, layout, witness, trusted)
    return witness.tail(lambda entries: covers(entries, current, runs))


def decisions(root: Path, env: str) -> list[dict[str, Any]]:
    """Every attestation and waiver the local copy holds (after a sync), found without parsing the rest."""
    return Witness(root, env).with_events(set(DECISION_EVENTS))


def read_entries(
    transport: Transport, layout: Layout, root: Path, env: str, trusted: set[str] | None
) -> list[dict[str, Any]]:
    """Every entry of an environment's (or a fleet host's: `env` is then `<env>/<host>`) ledger,
    read-only: the witness, brought up to the target (only what the target gained is read)."""
    witness = Witness(root, env)
    sync(transport, layout, witness, trusted)
    return witness.entries()
