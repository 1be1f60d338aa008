"""The key that signs ledger entries: held where freigabe runs, never on a target.

`FREIGABE_LEDGER_KEY` (the base64 of a raw Ed25519 private key, e.g. a CI secret) when set;
otherwise `.freigabe/keys/ledger_ed25519` beside freigabe.toml, created on first use with
mode 0600. `freigabe ledger key` prints the public key to list in `[ledger] trusted_keys`.

Inside GitHub Actions a key made on first use would die with the job's workspace and leave
entries no later run trusts, so there the key must come from the secret. Reading a ledger
needs no key of one's own: `reading_trust` never creates or demands one.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from freigabe.core.ledger import Signer, key_id
from freigabe.errors import ConfigError

ENV = "FREIGABE_LEDGER_KEY"
_FIRST_USE = threading.Lock()


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _path(root: Path) -> Path:
    return root / ".freigabe" / "keys" / "ledger_ed25519"


def _from_env() -> Signer:
    try:
        return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(os.environ[ENV], validate=True)))
    except (ValueError, binascii.Error):
        raise ConfigError(
            f"{ENV} is not the base64 of a 32-byte Ed25519 private key; create one with "
            "`freigabe ledger key --new FILE` and store the file's content as the secret"
        ) from None


def _from_file(path: Path) -> Signer:
    try:
        return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip(), validate=True)))
    except (ValueError, binascii.Error):
        raise ConfigError(
            f"{path} is not the base64 of a 32-byte Ed25519 private key; move it away and "
            "`freigabe ledger key` makes a new one (list its public key in [ledger] trusted_keys)"
        ) from None


def local_signer(root: Path) -> Signer:
    """The key this run signs with, made on first use outside CI."""
    if os.environ.get(ENV):
        return _from_env()
    path = _path(root)
    with _FIRST_USE:  # a fleet's hosts open their sessions at once: one key, made once and read whole
        if path.is_file():
            return _from_file(path)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            raise ConfigError(
                f"inside GitHub Actions the ledger is signed with the key in {ENV}, and it is not set; "
                "create one with `freigabe ledger key --new FILE`, store the file as the repository "
                f"secret {ENV}, pass it in the step's env, and list its public key in [ledger] trusted_keys"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_new_key(path)


def write_new_key(path: Path) -> Signer:
    """A fresh private key written to `path` (mode 0600, never over a file) as `FREIGABE_LEDGER_KEY` takes it."""
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; name a new file for the key") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror}); name a file in a folder you can write") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(_raw(key)).decode() + "\n")
    return Signer(key)


def trusted_ids(configured: list[str], signer: Signer) -> set[str]:
    """The keys whose entries a ledger may hold: the configured ones and this machine's."""
    return {key_id(k) for k in configured} | {signer.id}


def reading_trust(root: Path, configured: list[str]) -> set[str]:
    """The trusted keys for a read: the configured ones and this machine's if it has one."""
    own = _from_env() if os.environ.get(ENV) else _from_file(_path(root)) if _path(root).is_file() else None
    return {key_id(k) for k in configured} | ({own.id} if own else set())
