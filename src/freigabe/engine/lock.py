"""One run per environment: a lock file created atomically on the target, kept alive by a heartbeat.

The lock names its owner (who, host, pid, run, start). While the run lives it rewrites a
heartbeat file beside the lock every few seconds, so anyone, on any machine, can tell a live
owner from a dead one: a local owner by its pid, a remote one by its heartbeat. A lock whose
owner is alive is never cleared (`freigabe unlock` refuses it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from freigabe.adapters.identity import actor
from freigabe.adapters.transport import Transport
from freigabe.adapters.transport.base import Begun, Claim, Looks
from freigabe.core.layout import Layout
from freigabe.errors import FreigabeError, LockHeld

BEAT = 5.0  # seconds between heartbeats
DEAD_AFTER = 30.0  # a heartbeat this old means the owner is gone


@dataclass(frozen=True)
class LockInfo:
    owner: str
    host: str
    pid: int
    run: str
    started: float
    release: str | None

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.started


@dataclass(frozen=True)
class Liveness:
    alive: bool | None  # None: cannot tell
    why: str


def liveness(info: LockInfo, heartbeat: float | None, now: float | None = None) -> Liveness:
    """Whether the lock's owner still runs: its pid on this host, else its heartbeat."""
    now = now or time.time()
    if info.host == socket.gethostname() and info.pid > 0:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return Liveness(False, f"process {info.pid} on {info.host} is no longer running")
        except PermissionError:
            return Liveness(True, f"process {info.pid} on {info.host} is running")
        return Liveness(True, f"process {info.pid} on {info.host} is running")
    if heartbeat is not None:
        age = now - heartbeat
        if age <= DEAD_AFTER:
            return Liveness(True, f"its heartbeat is {age:.0f} s old: the run on {info.host} is alive")
        return Liveness(False, f"its last heartbeat is {age:.0f} s old: the run on {info.host} stopped")
    return Liveness(None, f"it has no heartbeat and runs on {info.host}")


def stale_reason(info: LockInfo, heartbeat: float | None, stale_after: float) -> str | None:
    """Why this lock looks abandoned, or None if it may belong to a running deploy."""
    state = liveness(info, heartbeat)
    if state.alive is False:
        return state.why
    if state.alive is None and info.age() > stale_after:
        return f"it is older than {stale_after / 3600:g} h ({state.why})"
    return None


def heartbeat_path(layout: Layout) -> str:
    return layout.lock + ".heartbeat"


def read_lock(transport: Transport, layout: Layout) -> LockInfo | None:
    raw = transport.read_optional(layout.lock)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return LockInfo(**{k: data.get(k) for k in LockInfo.__dataclass_fields__})
    except (ValueError, TypeError):
        return LockInfo("unknown", "unknown", 0, "unknown", 0.0, None)


def read_heartbeat(transport: Transport, layout: Layout) -> float | None:
    try:
        raw = transport.read_optional(heartbeat_path(layout))
        return None if raw is None else float(raw.decode().split()[0])
    except (ValueError, IndexError, FreigabeError):
        return None


def describe(info: LockInfo) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.started))
    return f"held by {info.owner} (run {info.run}, pid {info.pid} on {info.host}) since {started}"


class Heartbeat:
    """Rewrites the heartbeat file every BEAT seconds on a daemon thread while the run holds the lock."""

    def __init__(self, transport: Transport, layout: Layout, run: str) -> None:
        self.transport, self.path, self.run = transport, heartbeat_path(layout), run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="freigabe-heartbeat")

    def beat(self) -> None:
        self.transport.write(self.path, f"{time.time():.3f} {self.run}\n".encode())

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(BEAT):
            with contextlib.suppress(Exception):  # a missed beat only makes the lock look older
                self.beat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=BEAT + 5)


@dataclass
class Held:
    info: LockInfo
    heartbeat: Heartbeat
    begun: Begun  # what the run saw as it took the lock
    content: bytes  # the lock file as written: released only while it still says this


def acquire(
    transport: Transport,
    layout: Layout,
    env: str,
    run: str,
    release: str | None,
    stale_after: float,
    ledger_from: int,
    claim: Claim | None = None,
) -> Held:
    """Take the lock and, in the same look, what a run needs first (see Transport.begin):
    `ledger_from` is the offset the local copy of the ledger has seen up to."""
    info = LockInfo(actor(), socket.gethostname(), os.getpid(), run, time.time(), release)
    content = json.dumps(info.to_json()).encode()
    looks = Looks(running_folder(layout), layout.current, layout.ledger, ledger_from, claim)
    begun = transport.begin(layout.lock, content, looks)
    if begun is not None:
        return Held(info, Heartbeat(transport, layout, run).start(), begun, content)
    held = read_lock(transport, layout)
    assert held is not None
    stale = stale_reason(held, read_heartbeat(transport, layout), stale_after)
    hint = (
        f"it looks abandoned ({stale}): clear it with `freigabe unlock {env}` and run again"
        if stale
        else f"wait for that run to finish, or if it crashed clear it with `freigabe unlock {env}`"
    )
    raise LockHeld(f"the deploy lock for {env} is {describe(held)}; {hint}")


def release(transport: Transport, layout: Layout, held: Held) -> None:
    """Stop the heartbeat, then remove the lock and the heartbeat file, only if the lock is still
    this run's (one look): a lock cleared and taken by another run meanwhile is left to it."""
    held.heartbeat.stop()
    transport.release(layout.lock, held.content, heartbeat_path(layout))


def running_folder(layout: Layout) -> str:
    """Where a run records the process groups of its commands (ended by the next run that locks)."""
    return f"{layout.state}/running"


def lock_state(transport: Transport, layout: Layout, stale_after: float) -> tuple[LockInfo | None, str | None]:
    """The lock (if any) and why it looks abandoned (None: it may belong to a running run)."""
    held = read_lock(transport, layout)
    if held is None:
        return None, None
    return held, stale_reason(held, read_heartbeat(transport, layout), stale_after)
