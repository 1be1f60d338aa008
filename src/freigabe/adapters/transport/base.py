"""The transport protocol: the handful of primitives every target offers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


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


class Transport(Protocol):
    """Everything the executor may do to a target. Paths are absolute on the target."""

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

    def put(self, local_path: str, path: str) -> None: ...
    def read(self, path: str) -> bytes: ...
    def read_range(self, path: str, offset: int) -> bytes: ...
    def size(self, path: str) -> int | None: ...
    def write(self, path: str, data: bytes) -> None: ...
    def append(self, path: str, data: bytes) -> None:
        """All or nothing: every byte appended, or the file left as it was and TargetError raised."""

    def truncate(self, path: str, size: int) -> None: ...
    def exists(self, path: str) -> bool: ...
    def is_dir(self, path: str) -> bool: ...
    def readlink(self, path: str) -> str | None: ...
    def listdir(self, path: str) -> list[str]: ...
    def mkdir(self, path: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def remove_tree(self, path: str) -> None: ...
    def rename(self, source: str, dest: str) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def replace_symlink(self, target: str, path: str) -> None: ...
    def sha256(self, path: str) -> str: ...
    def disk_free(self, path: str) -> int: ...
    def lock(self, path: str, content: bytes) -> bool: ...
    def unlock(self, path: str) -> None: ...
    def track_processes(self, folder: str | None) -> None:
        """Record each command's process group under `folder` while it runs (None: stop recording)."""

    def end_orphans(self, folder: str) -> list[int]:
        """End the process groups recorded under `folder` by runs that are gone; the ones ended."""

    def reconnect(self) -> None:
        """Open the connection again after it was lost (TargetError if the target stays away)."""

    def close(self) -> None: ...
