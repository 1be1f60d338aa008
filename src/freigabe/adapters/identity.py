"""Who is acting: recorded with every approval, lock, waiver and attestation."""

from __future__ import annotations

import getpass
import os
import socket


def actor() -> str:
    """FREIGABE_ACTOR, else the GitHub actor, else user@host."""
    for name in ("FREIGABE_ACTOR", "GITHUB_ACTOR"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
