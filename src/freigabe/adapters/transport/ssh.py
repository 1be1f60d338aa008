"""A target over SSH (asyncssh): the same primitives as the local transport.

The target needs only a POSIX shell, coreutils, tar and sha256sum. Files go over SFTP
(uploads to a temporary name, then posix-rename); commands run through the remote shell
with their output streamed line by line. One connection per transport, reused for the
whole run, with keepalives. Host keys are checked against known_hosts: an unknown or
changed key is refused with its fingerprint, never accepted silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import asyncssh

from freigabe import failpoints
from freigabe.adapters.transport import remote_sh
from freigabe.adapters.transport.base import CommandResult, LineSink
from freigabe.config.models import SshConfig
from freigabe.errors import ConnectionLost, TargetError, UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class SshAddress:
    user: str | None
    host: str
    port: int

    @classmethod
    def parse(cls, target: str) -> SshAddress:
        parts = urlsplit(target)
        if parts.scheme != "ssh" or not parts.hostname:
            raise UsageError(f"target {target!r} is not an SSH address; write ssh://user@host:port")
        try:
            port = parts.port or 22
        except ValueError:
            raise UsageError(f"target {target!r} has an invalid port") from None
        return cls(parts.username, parts.hostname, port)

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"


def _known_hosts_entry(path: Path, address: SshAddress) -> bool:
    if not path.is_file():
        return False
    names = {address.host if address.port == 22 else f"[{address.host}]:{address.port}"}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip() and not line.startswith("#") and names & set(line.split(" ", 1)[0].split(",")):
            return True
    return False


class _Loop:
    """A private event loop on a daemon thread: the sync API calls into it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="freigabe-ssh")
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # interrupted or timed out: the coroutine (and its remote command) stops too
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class SshTransport:
    def __init__(self, target: str, config: SshConfig | None = None) -> None:
        self.address = SshAddress.parse(target)
        self.config = config or SshConfig()
        self.name = f"ssh://{self.address}"
        self._loop = _Loop()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._track: str | None = None  # where running commands' process groups are recorded
        try:
            self._loop.call(self._connect(), timeout=self.config.connect_timeout + 10)
        except BaseException:
            self._loop.stop()
            raise

    # ------------------------------------------------------------ connection

    def _options(self, address: SshAddress) -> dict[str, Any]:
        known = Path(os.path.expanduser(self.config.known_hosts))
        options: dict[str, Any] = {
            "port": address.port,
            "known_hosts": str(known) if known.is_file() else (),
            "connect_timeout": self.config.connect_timeout,
            "keepalive_interval": self.config.keepalive,
        }
        if address.user:
            options["username"] = address.user
        if self.config.key_file:
            options["client_keys"] = [os.path.expanduser(self.config.key_file)]
        return options

    async def _host_key_error(self, address: SshAddress) -> TargetError:
        known = Path(os.path.expanduser(self.config.known_hosts))
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(address.host, address.port), self.config.connect_timeout
            )
            fingerprint = key.get_fingerprint("sha256") if key else "unknown"
        except (OSError, asyncssh.Error):
            fingerprint = "unknown"
        if _known_hosts_entry(known, address):
            return TargetError(
                f"the host key of {address.host}:{address.port} CHANGED ({fingerprint}) and does not match "
                f"{known}; refusing to connect — if the server was really re-keyed, verify the fingerprint "
                "out of band and replace its line in known_hosts"
            )
        return TargetError(
            f"the host key of {address.host}:{address.port} ({fingerprint}) is not in {known}; refusing to "
            f"connect — verify the fingerprint, then add it: ssh-keyscan -p {address.port} {address.host} >> {known}"
        )

    async def _open(self, address: SshAddress, tunnel: Any = ()) -> asyncssh.SSHClientConnection:
        try:
            return await asyncssh.connect(address.host, tunnel=tunnel, **self._options(address))
        except asyncssh.HostKeyNotVerifiable:
            raise await self._host_key_error(address) from None
        except asyncssh.PermissionDenied:
            raise TargetError(
                f"{address} refused the login (permission denied); check the user and key_file in "
                "[environments.<env>.ssh] and the server's authorized_keys"
            ) from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
            message = f"cannot reach {address} over SSH ({reason}); check the host, port and network"
            raise TargetError(message) from None

    async def _connect(self) -> None:
        tunnel: Any = ()
        if self.config.jump:
            self._jump = await self._open(SshAddress.parse(self.config.jump))
            tunnel = self._jump
        self._conn = await self._open(self.address, tunnel)
        self._sftp = await self._conn.start_sftp_client()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self) -> None:
        """A new connection (and SFTP session) after the old one broke; the run goes on with it."""

        async def again() -> None:
            for conn in (self._conn, self._jump):
                if conn is not None:
                    conn.abort()
            self._conn = self._jump = None
            await self._connect()

        try:
            self._loop.call(again(), timeout=self.config.connect_timeout + 10)
        except TargetError:
            raise
        except Exception as exc:  # asyncssh and socket errors alike: the target is still away
            raise ConnectionLost(
                f"the SSH connection to {self.address} could not be re-opened ({type(exc).__name__})"
            ) from None

    def close(self) -> None:
        async def shutdown() -> None:
            for conn in (self._conn, self._jump):
                if conn is not None:
                    conn.close()
                    with contextlib.suppress(Exception):
                        await conn.wait_closed()

        with contextlib.suppress(Exception):
            self._loop.call(shutdown(), timeout=10)
        self._loop.stop()

    # ------------------------------------------------------------ helpers

    @property
    def sftp(self) -> asyncssh.SFTPClient:
        if self._sftp is None or self._conn is None:
            raise ConnectionLost(f"the SSH connection to {self.address} is closed")
        return self._sftp

    def _call(self, action: str, path: str, factory: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await factory()

        try:
            return self._loop.call(wrapped())
        except asyncssh.SFTPError as exc:
            if exc.code in (asyncssh.FX_NO_CONNECTION, asyncssh.FX_CONNECTION_LOST):
                raise ConnectionLost(
                    f"the SSH connection to {self.address} was lost while {action} {path}; check the network"
                ) from None
            if exc.code == asyncssh.FX_NO_SPACE_ON_FILESYSTEM or "space" in str(exc.reason).lower():
                raise TargetError(
                    f"disk full on {self.address.host} while {action} {path}; free space there and deploy again"
                ) from None
            if exc.code == asyncssh.FX_PERMISSION_DENIED:
                raise TargetError(
                    f"permission denied on {self.address.host} while {action} {path}; give the "
                    "deploy user write access there"
                ) from None
            raise TargetError(f"{action} {path} failed on {self.address.host}: {exc.reason}") from None
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(
                f"the SSH connection to {self.address} failed while {action} {path} "
                f"({type(exc).__name__}); check the network and deploy again"
            ) from None

    # ------------------------------------------------------------ commands

    def track_processes(self, folder: str | None) -> None:
        self._track = folder

    def end_orphans(self, folder: str) -> list[int]:
        result = self._exec(remote_sh.script_line(remote_sh.END_ORPHANS, folder), timeout=30)
        return [int(p) for line in result[1].splitlines() if line.startswith("ended:") for p in line[6:].split()]

    def _exec(
        self, command: str, timeout: float | None = None, on_line: LineSink | None = None, kill_file: str | None = None
    ) -> tuple[int, str, bool]:
        """Run one command line; (exit status, what it printed after the marker, timed out)."""
        lines: list[str] = []

        async def go() -> tuple[int, bool]:
            if self._conn is None:
                raise ConnectionLost(f"the SSH connection to {self.address} is closed")
            process = await self._conn.create_process(
                command, stderr=asyncssh.STDOUT, encoding="utf-8", errors="replace"
            )
            process.stdin.write_eof()
            started = False

            async def pump() -> None:
                nonlocal started
                async for raw in process.stdout:
                    if not raw:
                        continue
                    line = raw.rstrip("\n")
                    if not started:  # a login shell's chatter comes before the marker
                        started = line.endswith(remote_sh.MARKER)
                        continue
                    lines.append(line)
                    if on_line:
                        on_line(line)

            async def stop() -> None:
                if kill_file:
                    with contextlib.suppress(Exception):
                        await self._conn.run(remote_sh.script_line(remote_sh.KILL_GROUP, kill_file), timeout=15)  # type: ignore[union-attr]
                with contextlib.suppress(Exception):
                    process.close()

            try:
                await asyncio.wait_for(pump(), timeout)
                completed = await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                await stop()
                return -9, True
            except asyncio.CancelledError:
                await asyncio.shield(stop())
                raise
            return completed.exit_status if completed.exit_status is not None else 255, False

        try:
            code, timed_out = self._loop.call(go())
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"the SSH connection to {self.address} failed ({type(exc).__name__})") from None
        return code, "\n".join(lines), timed_out

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
        pgid_file = f"{self._track}/{secrets.token_hex(6)}.pgid" if self._track else None
        command = remote_sh.command_line(argv, cwd=cwd, stdout_path=stdout_path, pgid_file=pgid_file, env=env)
        try:
            code, output, timed_out = self._exec(command, timeout, on_line, kill_file=pgid_file)
        except ConnectionLost as exc:
            raise ConnectionLost(f"{exc.message} while running {argv[0]}") from None
        if timed_out:
            output += f"\n(timed out after {timeout:.0f} s and was stopped)"
        if code == 127 and not output:
            output = f"{argv[0]}: command not found on {self.address.host}"
        return CommandResult(list(argv), code, output, time.monotonic() - started, timed_out)

    # ------------------------------------------------------------ files

    def put(self, local_path: str, path: str) -> None:
        tmp = f"{path}.part-{secrets.token_hex(4)}"

        async def go() -> None:
            try:
                await self.sftp.put(local_path, tmp)
                await self.sftp.posix_rename(tmp, path)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.sftp.remove(tmp)
                raise

        self._call("uploading the bundle to", path, go)

    def read(self, path: str) -> bytes:
        async def go() -> bytes:
            async with self.sftp.open(path, "rb") as fh:
                data: bytes = await fh.read()
                return data

        return self._call("reading", path, go)

    def write(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp-{secrets.token_hex(4)}"

        async def go() -> None:
            async with self.sftp.open(tmp, "wb") as fh:
                await fh.write(data)
            await self.sftp.posix_rename(tmp, path)

        self._call("writing", path, go)

    def read_range(self, path: str, offset: int) -> bytes:
        async def go() -> bytes:
            async with self.sftp.open(path, "rb") as fh:
                await fh.seek(offset)
                data: bytes = await fh.read()
                return data

        return self._call("reading", path, go)

    def size(self, path: str) -> int | None:
        async def go() -> int | None:
            try:
                attrs = await self.sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            return int(attrs.size or 0)

        return self._call("checking", path, go)

    def append(self, path: str, data: bytes) -> None:
        """Appended in one request; if it fails (a full disk), the file is cut back to its size before."""

        async def go() -> None:
            try:
                before = int((await self.sftp.stat(path)).size or 0)
            except asyncssh.SFTPNoSuchFile:
                before = 0
            try:
                async with self.sftp.open(path, "ab") as fh:
                    await fh.write(data)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.sftp.truncate(path, before)
                raise

        self._call("appending to", path, go)

    def truncate(self, path: str, size: int) -> None:
        self._call("truncating", path, lambda: self.sftp.truncate(path, size))

    def exists(self, path: str) -> bool:
        return self._call("checking", path, lambda: self.sftp.lexists(path))

    def is_dir(self, path: str) -> bool:
        async def go() -> bool:
            return await self.sftp.isdir(path) and not await self.sftp.islink(path)

        return self._call("checking", path, go)

    def readlink(self, path: str) -> str | None:
        async def go() -> str | None:
            if not await self.sftp.islink(path):
                return None
            return str(await self.sftp.readlink(path))

        return self._call("reading the link", path, go)

    def listdir(self, path: str) -> list[str]:
        async def go() -> list[str]:
            if not await self.sftp.isdir(path):
                return []
            return sorted(str(n) for n in await self.sftp.listdir(path) if n not in (".", ".."))

        return self._call("listing", path, go)

    def mkdir(self, path: str) -> None:
        self._call("creating", path, lambda: self.sftp.makedirs(path, exist_ok=True))

    def remove(self, path: str) -> None:
        async def go() -> None:
            if await self.sftp.lexists(path):
                await self.sftp.remove(path)

        self._call("removing", path, go)

    def remove_tree(self, path: str) -> None:
        result = self.run(["rm", "-rf", "--", path], timeout=600)
        if not result.ok:
            raise TargetError(f"removing {path} failed on {self.address.host}: {result.tail(1)}")

    def rename(self, source: str, dest: str) -> None:
        self._call("renaming", f"{source} to {dest}", lambda: self.sftp.posix_rename(source, dest))

    def symlink(self, target: str, path: str) -> None:
        self._call("linking", path, lambda: self.sftp.symlink(target, path))

    def replace_symlink(self, target: str, path: str) -> None:
        """Atomic: a new link at a temporary name, posix-renamed over `path` (rename(2) on the server)."""
        if self.is_dir(path):
            raise TargetError(
                f"{path} is a real directory, not a symlink; move it into releases/ and let freigabe manage the link"
            )
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{secrets.token_hex(6)}")

        async def go() -> None:
            await self.sftp.symlink(target, tmp)
            failpoints.hit("switch.tmp-link")
            try:
                await self.sftp.posix_rename(tmp, path)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.sftp.remove(tmp)
                raise

        self._call("switching the link", path, go)

    def sha256(self, path: str) -> str:
        result = self.run(["sha256sum", "--", path], timeout=600)
        found = [line.split(" ", 1)[0] for line in result.output.splitlines() if re.match(r"[0-9a-f]{64} ", line)]
        digest = found[-1] if result.ok and found else ""
        if len(digest) != 64:
            raise TargetError(f"sha256sum of {path} failed on {self.address.host}: {result.tail(1)}")
        return digest

    def disk_free(self, path: str) -> int:
        async def go() -> int:
            stats = await self.sftp.statvfs(path)
            return int(stats.bavail * stats.frsize)

        return self._call("checking free space at", path, go)

    def lock(self, path: str, content: bytes) -> bool:
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL

        async def go() -> bool:
            try:
                async with self.sftp.open(path, flags, encoding=None) as fh:
                    await fh.write(content)
            except asyncssh.SFTPError as exc:
                if exc.code in (asyncssh.FX_FAILURE, asyncssh.FX_FILE_ALREADY_EXISTS) and await self.sftp.lexists(path):
                    return False
                raise
            return True

        return self._call("creating the lock", path, go)

    def unlock(self, path: str) -> None:
        self.remove(path)
