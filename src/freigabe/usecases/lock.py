"""One deploy per environment: a lock file created atomically on the target."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from freigabe.adapters.transport import Transport
from freigabe.core.layout import Layout
from freigabe.errors import LockHeld
from freigabe.usecases.records import actor


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

    def stale_reason(self, stale_after: float) -> str | None:
        """Why this lock looks abandoned, or None if it may belong to a running deploy."""
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return f"process {self.pid} on {self.host} is no longer running"
            except PermissionError:
                pass
        if self.age() > stale_after:
            return f"it is older than {stale_after / 3600:g} h"
        return None


def read_lock(transport: Transport, layout: Layout) -> LockInfo | None:
    if not transport.exists(layout.lock):
        return None
    try:
        data = json.loads(transport.read(layout.lock))
        return LockInfo(**{k: data.get(k) for k in LockInfo.__dataclass_fields__})
    except (ValueError, TypeError):
        return LockInfo("unknown", "unknown", 0, "unknown", 0.0, None)


def describe(info: LockInfo) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.started))
    return f"held by {info.owner} (run {info.run}, pid {info.pid} on {info.host}) since {started}"


def acquire(
    transport: Transport, layout: Layout, env: str, run: str, release: str | None, stale_after: float
) -> LockInfo:
    info = LockInfo(actor(), socket.gethostname(), os.getpid(), run, time.time(), release)
    transport.mkdir(layout.state)
    if transport.lock(layout.lock, json.dumps(info.to_json()).encode()):
        return info
    held = read_lock(transport, layout)
    assert held is not None
    stale = held.stale_reason(stale_after)
    hint = (
        f"it looks abandoned ({stale}): clear it with `freigabe unlock {env}` and run again"
        if stale
        else f"wait for that deploy to finish, or if it crashed clear it with `freigabe unlock {env}`"
    )
    raise LockHeld(f"the deploy lock for {env} is {describe(held)}; {hint}")


def release(transport: Transport, layout: Layout, info: LockInfo) -> None:
    held = read_lock(transport, layout)
    if held is not None and held.run == info.run:
        transport.unlock(layout.lock)
