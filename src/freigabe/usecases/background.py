"""Reading that runs beside the caller's own work: `plan` reads the target (its release, its
configuration, the server audit with the drift check hashing every live file) while it verifies
and scans the bundle here. Both wait on different things (the network and the target; the local
disk and hashing), so the plan takes about as long as the slower of the two, not their sum.

    with Background(read_target, "plan: target") as beside:
        ...                         # the caller's own part; an error here stops the reading
        facts = beside.result()     # the reading's result, or its error raised here

The reading is read-only. `work` receives a `checkpoint` to call between its steps: once the
caller's part failed it raises `Stopped`, so nothing more is read. When the caller's part fails
with an error, the block waits for the step in flight to end (the reading closes what it opened)
and the caller's error is what is raised; a signal (Ctrl-C) does not wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """The caller's own part failed: the reading beside it stopped at its next checkpoint."""


class Background(Generic[T]):
    def __init__(self, work: Callable[[Callable[[], None]], T], name: str) -> None:
        self._stop = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)

    def _run(self, work: Callable[[Callable[[], None]], T]) -> None:
        try:
            self._result = work(self.checkpoint)
        except BaseException as exc:
            self._error = exc

    def checkpoint(self) -> None:
        if self._stop.is_set():
            raise Stopped("stopped: the caller's own part failed")

    def result(self) -> T:
        """Wait for the reading; its error (a target that cannot be reached, ...) is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set when work returned

    def __enter__(self) -> Background[T]:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self._thread.join()
            return
        self._stop.set()
        if isinstance(exc, Exception):
            self._thread.join()  # the step in flight ends, the reading closes its connection
