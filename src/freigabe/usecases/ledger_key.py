"""`freigabe ledger key`: the public half of the key that signs this machine's (or a CI secret's) entries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freigabe.adapters.ledger_keys import local_signer, write_new_key
from freigabe.config import LoadedConfig


@dataclass(frozen=True)
class PublicKey:
    public: str  # base64, as [ledger] trusted_keys lists it
    id: str
    trusted: bool  # listed in [ledger] trusted_keys


def public_key(loaded: LoadedConfig, new_file: Path | None = None) -> PublicKey:
    signer = write_new_key(new_file) if new_file is not None else local_signer(loaded.root)
    return PublicKey(signer.public, signer.id, signer.public in loaded.config.ledger.trusted_keys)
