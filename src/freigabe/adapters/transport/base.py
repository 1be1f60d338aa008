"""The transport protocol: the handful of primitives every target offers."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from freigabe.adapters.transport.receive import Received
from freigabe.core.layout import release_of


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int
    output: str  # stdout and stderr interleaved, as a person would have seen them
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 8) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


LineSink = Callable[[str], None]


@dataclass(frozen=True)
class PathKind:
    """What is at a path (not following a final symlink): "file", "dir", "link", "other" or "none"."""

    kind: str
    link: str | None = None  # where a symlink points


@dataclass(frozen=True)
class Claim:
    """A file `begin` creates (never over one) while it holds the lock, only if `current` then
    serves `release` (None: no release): a plan's approval spent, in the same look."""

    path: str
    content: str
    release: str | None


@dataclass(frozen=True)
class Looks:
    """Where `begin` looks once it holds the lock: the folder of recorded process groups (ended,
    then made), the `current` link, the ledger from `offset` on; and what it may claim."""

    running: str
    current: str
    ledger: str
    offset: int
    claim: Claim | None = None


@dataclass(frozen=True)
class Begun:
    """What a run sees at the moment it takes the lock, under it: the process groups of a gone run
    it ended, where `current` points, and the ledger's (size, bytes from the offset asked for),
    None if there is none. One round trip over SSH."""

    ended: list[int]
    current: str | None
    ledger: tuple[int, bytes] | None
    claimed: bool | None = None  # the claim made (False: its file was there), None: not tried


def begin_in_turns(t: Transport, lock: str, content: bytes, looks: Looks) -> Begun | None:
    """`begin` made of the single operations, one after the other (for a target without a turn to save)."""
    if not t.lock(lock, content):
        return None
    try:
        ended = t.end_orphans(looks.running)
        t.mkdir(looks.running)
        link, claim, claimed = t.readlink(looks.current), looks.claim, None
        if claim is not None and release_of(link) == claim.release:
            t.mkdir(posixpath.dirname(claim.path))
            claimed = t.lock(claim.path, claim.content.encode())
        return Begun(ended, link, t.read_tail(looks.ledger, looks.offset), claimed)
    except BaseException:
        t.unlock(lock)  # all or nothing: a run that cannot look does not hold the lock
        raise


def no_release(target: str, pointed: str) -> str:
    return f"{target} is not a complete release on the target ({pointed} is not a directory)"


class Pending:
    """An append's result (the file's size before it), known once the target has answered.

    A transport may send changes without waiting for each answer (SSH does: one round trip per
    `settle` instead of one per change); `result()` waits if it must and raises what failed."""

    def __init__(self, get: Callable[[], int], done: Callable[[], bool] = lambda: True) -> None:
        self._get, self._done = get, done

    def done(self) -> bool:
        """Answered already: `result()` will not wait."""
        return self._done()

    def result(self) -> int:
        return self._get()


class Transport(Protocol):
    """Everything the executor may do to a target. Paths are absolute on the target.

    Changes (mkdir, write, append, remove, rename, symlink, truncate, remove_tree) may still be
    on their way when the call returns; they are done in the order they were made, every read
    sees the changes made before it, and `settle()` waits until all are done, raising the first
    failure (after which later changes were skipped). The executor settles after every step.
    """

    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdout_path: str | None = None,
        on_line: LineSink | None = None,
    ) -> CommandResult: ...

    def receive(self, local_path: str, bundle_path: str, folder: str) -> Received:
        """Stream a bundle once: hashed on the target, kept as `bundle_path` + receive.PART, unpacked into
        the hidden `folder` (see receive.py). Renaming either into view is the caller's, after
        checking the digest and the member names."""

    def read(self, path: str) -> bytes: ...
    def read_tail(self, path: str, offset: int) -> tuple[int, bytes] | None:
        """(the file's size, its bytes from `offset` on), or None if there is no file: one look."""

    def size(self, path: str) -> int | None: ...
    def write(self, path: str, data: bytes) -> None: ...
    def append(self, path: str, data: bytes, expect_size: int | None = None) -> Pending:
        """All or nothing: every byte appended, or the file left as it was and TargetError raised.
        With `expect_size`, only if the file has that size (else AppendConflict)."""

    def settle(self) -> None:
        """Wait until every change made so far is done; TargetError for the first that failed."""

    def expect_missing(self, path: str, problem: str) -> None:
        """Guard the changes made after it: if anything is at `path`, they are not made and
        StepFailed(`problem`) is raised, at once or by the next settle (no round trip of its own)."""

    def truncate(self, path: str, size: int) -> None: ...
    def exists(self, path: str) -> bool: ...
    def kinds(self, paths: Sequence[str]) -> dict[str, PathKind]:
        """What is at each path, all looked at together (one round trip over SSH)."""

    def read_optional(self, path: str) -> bytes | None:
        """The file's content, or None if there is no file."""

    def is_dir(self, path: str) -> bool: ...
    def readlink(self, path: str) -> str | None: ...
    def listdir(self, path: str) -> list[str]: ...
    def listdirs(self, paths: Sequence[str]) -> dict[str, list[str]]:
        """Several folders listed at once (one round trip over SSH)."""

    def mkdir(self, path: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def remove_tree(self, path: str) -> None: ...
    def rename(self, source: str, dest: str) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def replace_symlink(self, target: str, path: str) -> str | None:
        """Atomic: a new link renamed over `path` (rename(2)); returns what `path` points at after.
        Only to a directory (a release): else NoRelease, and `path` is left as it was."""

    def sha256(self, path: str) -> str: ...
    def disk_free(self, path: str) -> int: ...
    def lock(self, path: str, content: bytes) -> bool: ...
    def begin(self, lock: str, content: bytes, looks: Looks) -> Begun | None:
        """Take the run's lock (created with `content`, never over an existing one: None then) and,
        holding it, end a gone run's processes and look (see Begun): all or nothing."""

    def release(self, lock: str, content: bytes, heartbeat: str) -> bool:
        """Remove `lock` and `heartbeat` if the lock still holds `content` (this run's); False if not."""

    def unlock(self, path: str) -> None: ...
    def track_processes(self, folder: str | None) -> None:
        """Record each command's process group under `folder` while it runs (None: stop recording)."""

    def end_orphans(self, folder: str) -> list[int]:
        """End the process groups recorded under `folder` by runs that are gone; the ones ended."""

    def reconnect(self) -> None:
        """Open the connection again after it was lost (TargetError if the target stays away)."""

    def close(self) -> None: ...
