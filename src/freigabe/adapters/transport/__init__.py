"""Transports: how freigabe reaches a target. `local` now, `ssh` through the same protocol."""

from freigabe.adapters.transport.base import CommandResult, Transport
from freigabe.adapters.transport.local import LocalTransport

__all__ = ["CommandResult", "LocalTransport", "Transport", "open_transport"]


def open_transport(target: str) -> Transport:
    from freigabe.errors import UsageError

    if target in ("local", "local://"):
        return LocalTransport()
    if target.startswith("ssh://"):
        raise UsageError(
            f"target {target!r}: SSH targets are not supported in this version yet; "
            'use target = "local" on the server itself'
        )
    raise UsageError(f'target {target!r} is not understood; use "local" or "ssh://user@host:port"')
