"""After the whole suite: no test secret in anything freigabe wrote or printed.

Every test's files live under pytest's base temporary folder (xdist workers in `popen-gwN`
below it). What freigabe writes there: its state folders (`.freigabe/` in projects and on
targets: ledgers, step logs, plans, evidence), `reports/` (MD/HTML/JSON), and everything the
CLI printed (recorded by conftest into `cli-output-*.txt`). The secrets are the ones the
tests hand to freigabe as tokens, keys and passwords. A test that *means* to put a secret
into one of those places (to show that it is caught) writes it under a folder named
`planted/`, which the sweep skips.
"""

from __future__ import annotations

import os
from pathlib import Path

WRITTEN_BY_FREIGABE = (".freigabe", "reports")
PACKED = (".gz", ".tgz", ".zip", ".tar", ".part", ".part-new", ".sqlite", ".db", ".key")
LIMIT = 20 * 1024 * 1024


def _ours(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if "planted" in parts:
        return False
    return path.name.startswith("cli-output-") or any(p in WRITTEN_BY_FREIGABE for p in parts[:-1])


def leaks(root: Path, secrets: tuple[str, ...]) -> list[str]:
    """`path:line: secret` for every secret found in a file freigabe wrote under `root`."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or name.endswith(PACKED) or not _ours(path, root):
                continue
            try:
                if path.stat().st_size > LIMIT:
                    continue
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            for secret in secrets:
                if secret in text:
                    line = text[: text.index(secret)].count("\n") + 1
                    found.append(f"{path}:{line}: {secret[:6]}…")
    return found
