"""Rules about releases on a target: which to keep, which to roll back to. Pure."""

from __future__ import annotations

from freigabe.core.layout import is_release_name


def select_for_removal(
    releases: list[str],
    *,
    keep: int,
    protected: set[str | None],
) -> list[str]:
    """Releases past retention, oldest first.

    Order is by the release name's timestamp, never by directory mtime. `protected`
    (current, the previous good release, a running deploy's release) is never removed
    and counts towards `keep`.
    """
    named = sorted((r for r in releases if is_release_name(r)), reverse=True)
    keepers = [r for r in named if r in protected]
    for release in named:
        if len(keepers) >= keep:
            break
        if release not in keepers:
            keepers.append(release)
    return sorted(r for r in named if r not in keepers)


def previous_good(releases: list[str], marks: dict[str, str], current: str | None) -> str | None:
    """The newest release marked good that is not current (a manual rollback's default)."""
    for release in sorted(releases, reverse=True):
        if release != current and marks.get(release) == "good":
            return release
    return None


def is_leftover(name: str, owned: set[str]) -> bool:
    """A file or folder a crashed run left behind, by its name: a hidden partial release,
    a temporary link for the switch, a half-written upload or file. `owned`: names a live run
    still uses (its own partial release)."""
    if name in owned:
        return False
    if name.startswith(".") and (name.endswith(".partial") or ".partial." in name):
        return True  # releases/.<release>.partial and what receiving into it leaves beside it
    if name.startswith(".current.") or (name.startswith(".") and ".current." in name):
        return True  # <deploy_path>/.current.<hex>, the switch's temporary link
    return ".tmp-" in name or ".part-" in name  # write() and put() temporaries
