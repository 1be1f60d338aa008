"""Transports: how freigabe reaches a target. `local` and `ssh://`, through one protocol."""

from freigabe.adapters.transport.base import CommandResult, Transport
from freigabe.adapters.transport.local import LocalTransport
from freigabe.config.models import SshConfig

__all__ = ["CommandResult", "LocalTransport", "Transport", "open_transport"]


def open_transport(target: str, ssh: SshConfig | None = None) -> Transport:
    from freigabe.errors import UsageError

    if target in ("local", "local://"):
        return LocalTransport()
    if target.startswith("ssh://"):
        from freigabe.adapters.transport.ssh import SshTransport

        return SshTransport(target, ssh)
    raise UsageError(f'target {target!r} is not understood; use "local" or "ssh://user@host:port"')
