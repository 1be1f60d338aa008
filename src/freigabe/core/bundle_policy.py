"""What may ship in a bundle: the exclusions nobody can drop, secrets, and member modes. Pure.

The exclude list a build uses is `PROTECTED` + the preset's `default_exclude` + the user's
`exclude`: user entries extend the list, and `PROTECTED` cannot be removed at all, so one
entry in `freigabe.toml` can never make a bundle ship `.git/` or `.env`.

Beyond names, every file is looked at for what makes it a secret (a private key, Composer
credentials, an npm token). A secret is refused unless `[build] allow_secrets` names that
exact path. Templates such as `.env.example` are not secrets and ship.

Modes follow Python's tarfile `data` filter (PEP 706) and are stricter where a bundle has
no business being unusual: setuid, setgid and sticky bits are refused (the filter clears
them), group/other write bits are cleared at extraction (as the filter does).
"""

from __future__ import annotations

import json
import posixpath
import stat

# Never in a bundle, whatever freigabe.toml says: history, local state, the environment file.
PROTECTED: tuple[str, ...] = (".git", ".freigabe", ".env", ".env.*")

# Files named like the environment file that are templates, not configuration: they ship.
ENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.dist", ".env.template"})

_KEY_NAMES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"})
_KEYSTORE_SUFFIXES = (".p12", ".pfx", ".jks", ".keystore")
_CREDENTIAL_FILES = frozenset({".git-credentials", ".netrc", "_netrc", ".pgpass", ".my.cnf"})
_COMPOSER_AUTH_KEYS = frozenset(
    {"http-basic", "github-oauth", "gitlab-oauth", "gitlab-token", "bearer", "bitbucket-oauth"}
)

HEAD_BYTES = 65536  # how much of each file is read to recognise a secret by its content


def effective_exclude(default_exclude: list[str], exclude: list[str], extra: list[str]) -> list[str]:
    """The list a build applies, in order, without duplicates."""
    out: list[str] = []
    for pattern in (*PROTECTED, *default_exclude, *exclude, *extra):
        pattern = pattern.rstrip("/")
        if pattern and pattern not in out:
            out.append(pattern)
    return out


def is_env_template(rel: str) -> bool:
    return posixpath.basename(rel) in ENV_TEMPLATES


def secret_reason(rel: str, head: bytes) -> str | None:
    """Why the member at `rel` (whose first bytes are `head`) is likely a secret, or None."""
    name = posixpath.basename(rel)
    if (name == ".env" or name.startswith(".env.")) and name not in ENV_TEMPLATES:
        return "an environment file (.env*) holds the app's keys and passwords"
    if name in _KEY_NAMES:
        return "an SSH private key"
    if name in _CREDENTIAL_FILES:
        return "a credentials file"
    if name.lower().endswith(_KEYSTORE_SUFFIXES):
        return "a key store"
    if b"PRIVATE KEY-----" in head and b"-----BEGIN " in head:
        return "it contains a private key (-----BEGIN … PRIVATE KEY-----)"
    if name == "auth.json" and _composer_auth(head):
        return "Composer credentials (auth.json with http-basic/github-oauth/… tokens)"
    if name == ".npmrc" and (b"_authToken" in head or b"_auth=" in head or b"_password" in head):
        return "an npm token (.npmrc with _authToken)"
    return None


def _composer_auth(head: bytes) -> bool:
    try:
        data = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and bool(_COMPOSER_AUTH_KEYS & set(data))


def mode_problem(mode: int) -> str | None:
    """A member mode freigabe refuses (setuid, setgid, sticky). Group/other write bits are
    not refused: extraction clears them (`--no-same-permissions` under umask 022)."""
    bits = [
        label
        for bit, label in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"))
        if mode & bit
    ]
    return f"has the {'/'.join(bits)} bit set (mode {mode:04o})" if bits else None
