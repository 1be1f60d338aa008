"""SIGINT, SIGTERM and SIGHUP during a run: turned into `Interrupted`, never into a silent death.

While a run holds the target, `InterruptGuard` replaces the handlers of the three signals a
person or a CI runner sends (Ctrl-C, a cancelled job, a closed terminal). The first signal
raises `Interrupted` in the main thread, where the executor decides what it means: before
the switch the run stops cleanly, after it the previous release is restored and verified.
A signal that arrives inside a critical section (the switch and its ledger entry, a ledger
append, the lock) is held back until the section ends, so none of them is ever half done.

Outside a guard nothing changes: `critical()` is a no-op and the default handlers apply.

A fleet's hosts run in worker threads, which a signal never reaches. There the orchestrator
holds a critical section in the main thread for the whole run, takes a held-back signal with
`take_pending()` while it waits, and lets each host's executor act on it at its next step.
"""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal asked the run to stop. Not an `Exception`: no generic handler may swallow it."""

    def __init__(self, signum: int, count: int = 1) -> None:
        self.signal = signal.Signals(signum).name
        self.count = count
        super().__init__(f"interrupted by {self.signal}")


class InterruptGuard:
    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._depth = 0
        self._pending: int | None = None
        self._lock = threading.Lock()
        self._relayed = False
        self.received: list[str] = []

    def __enter__(self) -> InterruptGuard:
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        _active = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._relayed:  # handed on by a worker thread that ended the last critical section
            self._relayed = False
        else:
            self.received.append(signal.Signals(signum).name)
        with self._lock:
            if self._depth > 0:
                self._pending = signum
                return
        raise Interrupted(signum, len(self.received))

    @contextmanager
    def critical(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                signum = self._pending if self._depth == 0 else None
                if signum is not None:
                    self._pending = None
            if signum is not None:
                if threading.current_thread() is threading.main_thread():
                    raise Interrupted(signum, len(self.received))
                self._relayed = True
                _thread.interrupt_main(signal.Signals(signum))  # the main thread meets it as if it arrived now

    def take_pending(self) -> int | None:
        """A signal held back by a critical section, taken (it will not be raised later)."""
        with self._lock:
            signum, self._pending = self._pending, None
        return signum


_active: InterruptGuard | None = None


def take_pending() -> int | None:
    """The signal held back while the main thread waits in a critical section (a fleet's run)."""
    return _active.take_pending() if _active is not None else None


@contextmanager
def critical() -> Iterator[None]:
    """Hold back an interrupting signal until the block is done (no-op outside a guard)."""
    if _active is None:
        yield
        return
    with _active.critical():
        yield
