"""The key that signs ledger entries: held where freigabe runs, never on a target.

`FREIGABE_LEDGER_KEY` (the base64 of a raw Ed25519 private key, e.g. a CI secret) when set;
otherwise `.freigabe/keys/ledger_ed25519` beside freigabe.toml, created on first use with
mode 0600. `freigabe ledger key` prints the public key to list in `[ledger] trusted_keys`.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from freigabe.core.ledger import Signer, key_id
from freigabe.errors import ConfigError

ENV = "FREIGABE_LEDGER_KEY"


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def local_signer(root: Path) -> Signer:
    if os.environ.get(ENV):
        try:
            return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(os.environ[ENV], validate=True)))
        except (ValueError, binascii.Error):
            raise ConfigError(
                f"{ENV} is not the base64 of a 32-byte Ed25519 private key; create one with "
                "`freigabe ledger key --new` and store what it prints as the secret"
            ) from None
    path = root / ".freigabe" / "keys" / "ledger_ed25519"
    if path.is_file():
        return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip())))
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(_raw(key)).decode() + "\n")
    return Signer(key)


def new_private_key() -> str:
    """A fresh private key as `FREIGABE_LEDGER_KEY` takes it."""
    return base64.b64encode(_raw(Ed25519PrivateKey.generate())).decode()


def trusted_ids(configured: list[str], signer: Signer) -> set[str]:
    """The keys whose entries a ledger may hold: the configured ones and this machine's."""
    return {key_id(k) for k in configured} | {signer.id}
