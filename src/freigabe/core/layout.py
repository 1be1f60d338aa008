"""Where things live on a target. Pure: paths only."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime

RELEASE_NAME = re.compile(r"^\d{8}_\d{6}-[0-9A-Za-z]{1,40}$")


def release_name(when: datetime, sha: str) -> str:
    return f"{when.strftime('%Y%m%d_%H%M%S')}-{sha[:8]}"


def is_release_name(name: str) -> bool:
    return bool(RELEASE_NAME.match(name))


@dataclass(frozen=True)
class Layout:
    deploy_path: str

    def _join(self, *parts: str) -> str:
        return posixpath.join(self.deploy_path, *parts)

    @property
    def releases(self) -> str:
        return self._join("releases")

    @property
    def current(self) -> str:
        return self._join("current")

    @property
    def shared(self) -> str:
        return self._join("shared")

    @property
    def state(self) -> str:
        return self._join(".freigabe")

    @property
    def ledger(self) -> str:
        return self._join(".freigabe", "ledger.jsonl")

    @property
    def lock(self) -> str:
        return self._join(".freigabe", "deploy.lock")

    @property
    def bundles(self) -> str:
        return self._join(".freigabe", "bundles")

    @property
    def manifests(self) -> str:
        return self._join(".freigabe", "manifests")

    @property
    def marks(self) -> str:
        return self._join(".freigabe", "marks")

    def default_backups(self) -> str:
        return self._join("backups")

    def release(self, name: str) -> str:
        return self._join("releases", name)

    def partial(self, name: str) -> str:
        return self._join("releases", f".{name}.partial")

    def manifest(self, name: str) -> str:
        return self._join(".freigabe", "manifests", f"{name}.json")

    def sums(self, name: str) -> str:
        """`sha256sum -c` input for the release's files (drift check on the target)."""
        return self._join(".freigabe", "manifests", f"{name}.sha256")

    def mark(self, name: str) -> str:
        return self._join(".freigabe", "marks", f"{name}.json")

    def link_target(self, name: str) -> str:
        """What `current` points at: relative, so the tree can be moved or mounted elsewhere."""
        return posixpath.join("releases", name)

    def release_of(self, link: str | None) -> str | None:
        return release_of(link)


def release_of(link: str | None) -> str | None:
    """The release name a `current` link points at (relative or absolute form)."""
    if not link:
        return None
    return posixpath.basename(link.rstrip("/")) or None
