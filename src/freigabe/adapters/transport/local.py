"""A target on this machine: the deploy path is a local directory."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Self, TypeVar

from freigabe import failpoints
from freigabe.adapters.transport import receive
from freigabe.adapters.transport.base import (
    Begun,
    CommandResult,
    LineSink,
    Looks,
    PathKind,
    Pending,
    begin_in_turns,
    no_release,
)
from freigabe.adapters.transport.receive import Received
from freigabe.errors import AppendConflict, NoRelease, StepFailed, TargetError

T = TypeVar("T")
CHUNK = 1 << 20


def _describe(exc: OSError, action: str, path: str) -> TargetError:
    if exc.errno == errno.ENOSPC:
        return TargetError(f"disk full on the target while {action} {path}; free space there and deploy again")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return TargetError(f"permission denied while {action} {path}; give the deploy user write access there")
    reason = exc.strerror or str(exc)
    return TargetError(f"{action} {path} failed on the target: {reason}")


@contextlib.contextmanager
def _oserrors(action: str, path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _describe(exc, action, path) from exc


def _guard(action: str, path: str, fn: Callable[[], T]) -> T:
    with _oserrors(action, path):
        return fn()


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a command and everything it started (it runs in its own session): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _kind(path: str) -> PathKind:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return PathKind("none")
    if stat.S_ISLNK(mode):
        return PathKind("link", os.readlink(path))
    return PathKind("dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other")


class LocalTransport:
    name = "local"

    def __init__(self) -> None:
        self._track: str | None = None  # where running commands' process groups are recorded

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdout_path: str | None = None,
        on_line: LineSink | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        full_env = {**os.environ, **(env or {})}
        sink = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=sink if sink else subprocess.PIPE,
                stderr=subprocess.PIPE if sink else subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            if sink:
                sink.close()
            return CommandResult(list(argv), 127, f"{argv[0]}: command not found", time.monotonic() - started)
        except OSError as exc:
            if sink:
                sink.close()
            return CommandResult(list(argv), 126, f"{argv[0]}: {exc.strerror}", 0.0)
        pgid_file = self._record_group(proc.pid)
        lines: list[str] = []
        stream = proc.stderr if sink else proc.stdout
        assert stream is not None

        def pump() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                lines.append(line)
                if on_line:
                    on_line(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _end_group(proc)
        except BaseException:
            _end_group(proc)  # interrupted: the command's whole process group ends with the run
            raise
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)  # stragglers the command left in its group end with it
        if pgid_file:
            with contextlib.suppress(OSError):
                os.unlink(pgid_file)
        reader.join(timeout=5)
        stream.close()
        if sink:
            sink.close()
        output = "\n".join(lines)
        if timed_out:
            output += f"\n(timed out after {timeout:.0f} s and was stopped)"
        return CommandResult(list(argv), proc.returncode, output, time.monotonic() - started, timed_out)

    def receive(self, local_path: str, bundle_path: str, folder: str) -> Received:
        with open(local_path, "rb") as source:
            proc = subprocess.Popen(
                ["sh", "-c", receive.SCRIPT, "freigabe", bundle_path, folder],
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                output, _ = proc.communicate(timeout=3600)
            except BaseException:
                _end_group(proc)
                raise
        return Received.parse(output.decode("utf-8", "replace"), proc.returncode)

    def track_processes(self, folder: str | None) -> None:
        self._track = folder

    def _record_group(self, pgid: int) -> str | None:
        track = self._track
        if not track:
            return None
        path = os.path.join(track, f"{secrets.token_hex(6)}.pgid")
        with contextlib.suppress(OSError):
            os.makedirs(track, exist_ok=True)
            with open(path, "w") as fh:
                fh.write(f"{pgid}\n")
            return path
        return None

    def end_orphans(self, folder: str) -> list[int]:
        """End the process groups a killed run left (recorded under `folder`)."""
        ended = []
        for name in self.listdir(folder):
            path = os.path.join(folder, name)
            try:
                pgid = int(open(path).read().strip())  # noqa: SIM115
            except (OSError, ValueError):
                continue
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            try:
                os.killpg(pgid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                continue
            ended.append(pgid)
        if ended:
            time.sleep(1)
            for pgid in ended:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
        return ended

    def read(self, path: str) -> bytes:
        with _oserrors("reading", path), open(path, "rb") as fh:
            return fh.read()

    def write(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp-{secrets.token_hex(4)}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _describe(exc, "writing", path) from exc

    def read_tail(self, path: str, offset: int) -> tuple[int, bytes] | None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 — closed below, after the missing case
        except FileNotFoundError:
            return None
        with _oserrors("reading", path), fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(offset)
            return size, fh.read()

    def size(self, path: str) -> int | None:
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return None

    def append(self, path: str, data: bytes, expect_size: int | None = None) -> Pending:
        """One write(2) on an O_APPEND descriptor; a short write (a full disk) is undone."""
        with _oserrors("appending to", path):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(fd).st_size
            if expect_size is not None and before != expect_size:
                raise AppendConflict(f"{path} has {before} bytes, not the {expect_size} expected", before)
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, before)
                raise _describe(exc, "appending to", path) from exc
        finally:
            os.close(fd)
        return Pending(lambda: before)

    def settle(self) -> None:
        """Every change here is done when its call returns."""

    def truncate(self, path: str, size: int) -> None:
        _guard("truncating", path, lambda: os.truncate(path, size))

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path) and not os.path.islink(path)

    def readlink(self, path: str) -> str | None:
        if not os.path.islink(path):
            return None
        return _guard("reading the link", path, lambda: os.readlink(path))

    def listdir(self, path: str) -> list[str]:
        if not os.path.isdir(path):
            return []
        return sorted(_guard("listing", path, lambda: os.listdir(path)))

    def kinds(self, paths: Sequence[str]) -> dict[str, PathKind]:
        return {p: _kind(p) for p in paths}

    def read_optional(self, path: str) -> bytes | None:
        return self.read(path) if os.path.isfile(path) else None

    def listdirs(self, paths: Sequence[str]) -> dict[str, list[str]]:
        return {p: self.listdir(p) for p in paths}

    def mkdir(self, path: str) -> None:
        _guard("creating", path, lambda: os.makedirs(path, exist_ok=True))

    def remove(self, path: str) -> None:
        with _oserrors("removing", path), contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def remove_tree(self, path: str) -> None:
        if os.path.islink(path) or os.path.isfile(path):
            self.remove(path)
        elif os.path.isdir(path):
            _guard("removing", path, lambda: shutil.rmtree(path))

    def rename(self, source: str, dest: str) -> None:
        _guard("renaming", f"{source} to {dest}", lambda: os.rename(source, dest))

    def symlink(self, target: str, path: str) -> None:
        _guard("linking", path, lambda: os.symlink(target, path))

    def replace_symlink(self, target: str, path: str) -> str | None:
        """Atomic: a new link at a temporary name, renamed over `path` (rename(2))."""
        if os.path.isdir(path) and not os.path.islink(path):
            raise TargetError(
                f"{path} is a real directory, not a symlink; move it into releases/ and let freigabe manage the link"
            )
        pointed = os.path.join(os.path.dirname(path), target)
        if not os.path.isdir(pointed) or os.path.islink(pointed):
            raise NoRelease(no_release(target, pointed))
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{secrets.token_hex(6)}")
        try:
            os.symlink(target, tmp)
            failpoints.hit("switch.tmp-link")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _describe(exc, "switching the link", path) from exc
        return self.readlink(path)

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        with _oserrors("reading", path), open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def disk_free(self, path: str) -> int:
        stats = _guard("checking free space at", path, lambda: os.statvfs(path))
        return stats.f_bavail * stats.f_frsize

    def lock(self, path: str, content: bytes) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _describe(exc, "creating the lock", path) from exc
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def expect_missing(self, path: str, problem: str) -> None:
        if os.path.lexists(path):
            raise StepFailed(problem)

    def begin(self, lock: str, content: bytes, looks: Looks) -> Begun | None:
        return begin_in_turns(self, lock, content, looks)

    def release(self, lock: str, content: bytes, heartbeat: str) -> bool:
        if self.read_optional(lock) != content:
            return False
        self.remove(heartbeat)
        self.unlock(lock)
        return True

    def unlock(self, path: str) -> None:
        self.remove(path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self) -> None:
        return None  # nothing to lose

    def close(self) -> None:
        return None
