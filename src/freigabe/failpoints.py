"""Named failure points: where the tests make a deploy crash, pause or meet a hostile change.

Production code calls `hit("name")` at step boundaries and inside the operations whose
crash safety matters (extraction, the switch, the ledger append, the rollback). Unarmed,
a hit is one dictionary lookup and one environment lookup. Tests arm points in two ways:

* in-process: `arm("step.after:bundle.upload", callback)` (the callback may change the
  target, raise, or record that the point was reached), `disarm_all()` afterwards;
* across processes: `FREIGABE_FAILPOINTS="name=action,name@3=action"` (`@3`: the third time the
  point is reached) with the actions
  `kill` (SIGKILL to this process: a crash that no handler sees), `sigterm`, `sigint`,
  `sighup` (the signal to this process), `raise` (an unexpected exception, as a bug
  would throw) and `pause` (create `$FREIGABE_FAILPOINT_DIR/<name>.paused` and wait until
  the test deletes it).

The same approach as gofail or fail-rs: the points are part of the code, so the crash
tests exercise exactly the code that runs in production.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

ENV = "FREIGABE_FAILPOINTS"
DIR_ENV = "FREIGABE_FAILPOINT_DIR"

_armed: dict[str, Callable[[], None]] = {}


class FailpointError(RuntimeError):
    """What `raise` throws: an exception freigabe does not expect, like a bug would."""


def arm(name: str, action: Callable[[], None]) -> None:
    _armed[name] = action


def disarm_all() -> None:
    _armed.clear()


_hits: dict[str, int] = {}


def _from_env(name: str) -> str | None:
    """The action armed for this hit of `name`: `name=action` on every hit, `name@N=action` on the N-th."""
    spec = os.environ.get(ENV)
    if not spec:
        return None
    _hits[name] = _hits.get(name, 0) + 1
    for item in spec.split(","):
        key, _, action = item.strip().partition("=")
        point, _, nth = key.partition("@")
        if point == name and (not nth or int(nth) == _hits[name]):
            return action or "raise"
    return None


def _pause(name: str) -> None:
    folder = Path(os.environ.get(DIR_ENV) or ".")
    marker = folder / f"{name.replace('/', '_')}.paused"
    marker.write_text(str(os.getpid()))
    while marker.exists():
        time.sleep(0.02)


_SIGNALS = {"kill": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sighup": signal.SIGHUP}


def hit(name: str) -> None:
    """Called where a failure can be injected; does nothing unless the point is armed."""
    action = _armed.get(name)
    if action is not None:
        action()
        return
    spec = _from_env(name)
    if spec is None:
        return
    if spec in _SIGNALS:
        os.kill(os.getpid(), _SIGNALS[spec])
        return
    if spec == "pause":
        _pause(name)
        return
    raise FailpointError(f"failpoint {name} fired")
