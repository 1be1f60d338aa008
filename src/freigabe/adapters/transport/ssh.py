"""A target over SSH (asyncssh): the same primitives as the local transport.

The target needs only a POSIX shell, coreutils, GNU tar and gzip. File operations go to one
long-lived remote `sh` (remote_shell.py), one round trip each; the bundle is streamed through
one command to a temporary name, then renamed; commands run in their own channel with their
output streamed line by line (remote_sh.py). One connection per transport, reused for the
whole run, with keepalives. Host keys are checked against known_hosts: an unknown or
changed key is refused with its fingerprint, never accepted silently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import os
import posixpath
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import asyncssh

from freigabe import failpoints
from freigabe.adapters.transport import receive, remote_sh
from freigabe.adapters.transport.base import Begun, CommandResult, LineSink, Looks, PathKind, Pending, no_release
from freigabe.adapters.transport.receive import Received
from freigabe.adapters.transport.remote_shell import NO_SHELL, PostedFailed, Reply, Request, Shell, ShellGone
from freigabe.config.models import SshConfig
from freigabe.errors import AppendConflict, ConnectionLost, NoRelease, StepFailed, TargetError, UsageError

T = TypeVar("T")

OP_TIMEOUT = 120.0  # seconds for one file operation to be answered
UPLOAD_CHUNK = 256 * 1024
# AES-GCM first, then asyncssh's own list (so a server without it still agrees on a cipher):
# asyncssh's chacha20-poly1305 builds a cipher per packet, 0.25-0.29 s of the client's CPU per
# 51 MiB uploaded against 0.13-0.16 s for AES-GCM, which runs on the CPU's AES instructions.
CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
# writes from this size travel gzip-compressed (level 1): a 20k-file release's manifest and
# checksum list, 4.4 MB, become 2.0 MB (plus base64), about two channel windows fewer to wait for
COMPRESS_FROM = 64 * 1024


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


def _names(reply: Reply) -> list[str]:
    return sorted(n.decode("utf-8", "surrogateescape") for n in reply.decoded().split(b"\0") if n)


class SshTransport:
    def __init__(self, target: str, config: SshConfig | None = None) -> None:
        self.address = SshAddress.parse(target)
        self.config = config or SshConfig()
        self.name = f"ssh://{self.address}"
        self._loop = _Loop()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._shell: Shell | None = None
        self._spare: asyncio.Task[asyncssh.SSHClientProcess[bytes]] | None = None  # a channel opened ahead
        self._made: set[str] = set()  # folders this connection created or found (mkdir -p once each)
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
            "encryption_algs": CIPHERS,
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
        self._spare = asyncio.create_task(self._open_spare())  # opens while the shell starts
        try:
            self._shell = await Shell.start(self._conn)
        except asyncssh.Error as exc:
            raise TargetError(f"{self.address} accepted the login but refused a command ({exc.reason})") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self) -> None:
        """A new connection after the old one broke; the run goes on with it."""

        async def again() -> None:
            if self._shell is not None:
                self._shell.close()
            if self._spare is not None:
                self._spare.cancel()
            self._shell, self._made, self._spare = None, set(), None
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
            if self._shell is not None:
                with contextlib.suppress(Exception):
                    await self._shell.settle(10)
                self._shell.close()
            if self._spare is not None:
                self._spare.cancel()
                with contextlib.suppress(BaseException):
                    (await self._spare).close()
            for conn in (self._conn, self._jump):
                if conn is not None:
                    conn.close()
                    with contextlib.suppress(Exception):
                        await conn.wait_closed()

        with contextlib.suppress(Exception):
            self._loop.call(shutdown(), timeout=10)
        self._loop.stop()

    # ------------------------------------------------------------ commands

    def track_processes(self, folder: str | None) -> None:
        self._track = folder

    def end_orphans(self, folder: str) -> list[int]:
        reply = self._op("ending what a killed run left in", folder, Request("orphans", (folder,)), timeout=60)
        return [int(p) for p in reply.payload.split()]

    async def _channel(self, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """A channel running `command`. Opening one costs two round trips (open, exec), so one is
        kept open ahead, waiting for its command on stdin (remote_sh.SPARE): taking it costs none,
        and the next is opened while the command runs."""
        if self._conn is None:
            raise ConnectionLost(f"the SSH connection to {self.address} is closed")
        spare, self._spare = self._spare, None
        process: asyncssh.SSHClientProcess[bytes] | None = None
        if spare is not None:
            with contextlib.suppress(Exception):
                process = await spare
            if process is not None and process.exit_status is not None:
                process = None  # it ended meanwhile: open a fresh one
        if process is None:
            process = await self._open_spare()
        process.stdin.write(remote_sh.spare_line(command))
        self._spare = asyncio.create_task(self._open_spare())
        return process

    async def _open_spare(self) -> asyncssh.SSHClientProcess[bytes]:
        assert self._conn is not None
        return await self._conn.create_process(remote_sh.SPARE, encoding=None, stderr=asyncssh.STDOUT)

    def _exec(
        self, command: str, timeout: float | None = None, on_line: LineSink | None = None, kill_file: str | None = None
    ) -> tuple[int, str, bool]:
        """Run one command line; (exit status, what it printed after the marker, timed out)."""
        lines: list[str] = []

        async def go() -> tuple[int, bool]:
            if self._conn is None:
                raise ConnectionLost(f"the SSH connection to {self.address} is closed")
            process = await self._channel(command)
            process.stdin.write_eof()
            started = False

            async def pump() -> None:
                nonlocal started
                async for raw in process.stdout:
                    if not raw:
                        continue
                    line = raw.decode("utf-8", "replace").rstrip("\n")
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
        self.settle()  # the command runs in a channel of its own: the changes made before it come first
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

    def _op(self, action: str, path: str, request: Request, timeout: float = OP_TIMEOUT) -> Reply:
        """One operation in the remote shell, waited for: one round trip (changes made before it
        travel in the same one)."""

        async def go() -> Reply:
            return await self._shell_now().call(request, timeout)

        reply = self._shell_call(action, path, go, timeout)
        if not reply.ok:
            raise self._failure(action, path, reply)
        return reply

    def _post(self, action: str, path: str, request: Request) -> asyncio.Future[Reply]:
        """A change sent without waiting for its answer (see `settle`)."""
        request = Request(request.op, request.args, request.data, action)

        async def go() -> asyncio.Future[Reply]:
            return self._shell_now().post(request)

        return self._shell_call(action, path, go, OP_TIMEOUT)

    def settle(self) -> None:
        async def go() -> None:
            if self._shell is not None:
                await self._shell.settle(OP_TIMEOUT)

        self._shell_call("finishing the changes on", self.address.host, go, OP_TIMEOUT)

    def _shell_call(self, action: str, path: str, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        try:
            return self._loop.call(factory())
        except PostedFailed as exc:
            if exc.request.op == "absent" and exc.reply.payload == "exists":  # expect_missing's guard
                raise StepFailed(exc.request.action) from None
            where = exc.request.args[0] if exc.request.args else ""
            raise self._failure(exc.request.action or exc.request.op, where, exc.reply) from None
        except ShellGone as exc:
            if str(exc) == NO_SHELL:
                raise TargetError(
                    f"{self.address} accepted the login but no POSIX /bin/sh answered there; freigabe needs "
                    "a POSIX sh and coreutils on the target (a restricted shell or ForceCommand may block it)"
                ) from None
            raise ConnectionLost(
                f"the SSH connection to {self.address} was lost while {action} {path} "
                f"({type(exc).__name__}); check the network"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(
                f"the SSH connection to {self.address} was lost while {action} {path} "
                f"({type(exc).__name__}); check the network"
            ) from None
        except TimeoutError:
            raise ConnectionLost(
                f"{self.address} did not answer within {timeout:.0f} s while {action} {path}; check the network"
            ) from None

    def _failure(self, action: str, path: str, reply: Reply) -> TargetError:
        said = reply.payload
        if "No space left" in said:
            return TargetError(
                f"disk full on {self.address.host} while {action} {path}; free space there and deploy again"
            )
        if "Permission denied" in said or "Read-only file system" in said:
            return TargetError(
                f"permission denied on {self.address.host} while {action} {path}; "
                "give the deploy user write access there"
            )
        return TargetError(f"{action} {path} failed on {self.address.host}: {said or reply.status}")
        return TargetError(f"{action} {path} failed on {self.address.host}: {said or reply.status}")

    def _shell_now(self) -> Shell:
        if self._shell is None:
            raise ShellGone("the connection is closed")
        return self._shell

    def _stream(self, local_path: str, command: str, action: str, path: str) -> tuple[int, str]:
        """Run one command with a local file as its stdin, streamed: no per-chunk round trips."""
        self.settle()

        async def go() -> tuple[int, str]:
            if self._conn is None:
                raise ConnectionLost(f"the SSH connection to {self.address} is closed")
            process = await self._channel(command)
            output = asyncio.create_task(process.stdout.read())
            try:
                with open(local_path, "rb") as fh:
                    while chunk := fh.read(UPLOAD_CHUNK):
                        process.stdin.write(chunk)
                        await process.stdin.drain()
                process.stdin.write_eof()
            except (BrokenPipeError, ConnectionResetError, asyncssh.BreakReceived):
                pass  # the command stopped reading (it failed): its status and words say why
            done = await process.wait()
            said = (await output).decode("utf-8", "replace").split(remote_sh.MARKER, 1)[-1].strip()
            return done.exit_status if done.exit_status is not None else 255, said

        try:
            return self._loop.call(go())
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(
                f"the SSH connection to {self.address} failed while {action} {path} "
                f"({type(exc).__name__}); check the network and deploy again"
            ) from None

    def receive(self, local_path: str, bundle_path: str, folder: str) -> Received:
        command = remote_sh.script_line(receive.SCRIPT, bundle_path, folder)
        code, said = self._stream(local_path, command, "uploading the bundle to", bundle_path)
        return Received.parse(said, code)

    def read(self, path: str) -> bytes:
        return self._op("reading", path, Request("read", (path, "0"))).decoded()

    def read_tail(self, path: str, offset: int) -> tuple[int, bytes] | None:
        reply = self._op("reading", path, Request("tail", (path, str(offset))))
        if reply.payload == "-":
            return None
        size, _, data = reply.payload.partition(" ")
        return int(size), base64.b64decode(data)

    def write(self, path: str, data: bytes) -> None:
        if len(data) >= COMPRESS_FROM:
            self._post("writing", path, Request("write", (path, "gz"), gzip.compress(data, 1, mtime=0)))
        else:
            self._post("writing", path, Request("write", (path,), data))

    def size(self, path: str) -> int | None:
        payload = self._op("checking", path, Request("size", (path,))).payload
        return None if payload == "-" else int(payload)

    def append(self, path: str, data: bytes, expect_size: int | None = None) -> Pending:
        """All or nothing: on failure (a full disk) the shell cuts the file back to its size before."""
        expect = "-" if expect_size is None else str(expect_size)
        future = self._post("appending to", path, Request("append", (path, expect), data))

        def result() -> int:
            if not future.done():
                self.settle()  # raises the first failure, this append's included
            if future.exception() is not None:
                raise ConnectionLost(f"the SSH connection to {self.address} was lost while appending to {path}")
            reply = future.result()
            if reply.ok:
                return int(reply.payload)
            if reply.payload.startswith("size "):
                actual = int(reply.payload.split()[1])
                raise AppendConflict(f"{path} has {actual} bytes, not the {expect_size} expected", actual)
            if reply.status == "SKIP":
                raise TargetError(f"appending to {path} was skipped: an earlier change on {self.address.host} failed")
            raise self._failure("appending to", path, reply)

        return Pending(result, future.done)

    def truncate(self, path: str, size: int) -> None:
        self._post("truncating", path, Request("truncate", (path, str(size))))

    def exists(self, path: str) -> bool:
        return self._op("checking", path, Request("exists", (path,))).payload == "1"

    def is_dir(self, path: str) -> bool:
        return self._op("checking", path, Request("isdir", (path,))).payload == "1"

    def readlink(self, path: str) -> str | None:
        reply = self._op("reading the link", path, Request("readlink", (path,)))
        return None if reply.payload == "-" else reply.decoded().decode("utf-8", "surrogateescape")

    def listdir(self, path: str) -> list[str]:
        return _names(self._op("listing", path, Request("list", (path,))))

    def listdirs(self, paths: Sequence[str]) -> dict[str, list[str]]:
        async def go() -> list[Reply]:
            return await self._shell_now().call_many([Request("list", (p,)) for p in paths], OP_TIMEOUT)

        replies = self._shell_call("listing", ", ".join(paths), go, OP_TIMEOUT)
        for path, reply in zip(paths, replies, strict=True):
            if not reply.ok:
                raise self._failure("listing", path, reply)
        return {p: _names(r) for p, r in zip(paths, replies, strict=True)}

    def mkdir(self, path: str) -> None:
        if path in self._made:
            return
        self._post("creating", path, Request("mkdir", (path,)))
        self._made.add(path)

    def remove(self, path: str) -> None:
        self._post("removing", path, Request("remove", (path,)))

    def remove_tree(self, path: str) -> None:
        self._made = {p for p in self._made if p != path and not p.startswith(path.rstrip("/") + "/")}
        self._post("removing", path, Request("rmtree", (path,)))

    def rename(self, source: str, dest: str) -> None:
        self._made = {p for p in self._made if p != source and not p.startswith(source.rstrip("/") + "/")}
        self._post("renaming", source, Request("rename", (source, dest)))

    def symlink(self, target: str, path: str) -> None:
        self._post("linking", path, Request("symlink", (target, path)))

    def replace_symlink(self, target: str, path: str) -> str | None:
        """Atomic: a new link at a temporary name, renamed over `path` (rename(2) on the server) and
        read back, in one round trip (the link is sent ahead without waiting)."""
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{secrets.token_hex(6)}")
        pointed = posixpath.join(posixpath.dirname(path), target)
        self._post("switching the link", path, Request("symlink", (target, tmp)))
        failpoints.hit("switch.tmp-link")
        try:
            reply = self._op("switching the link", path, Request("switch", (tmp, path, pointed)))
        except TargetError as exc:
            if "is a real directory" in exc.message:
                raise TargetError(
                    f"{path} is a real directory, not a symlink; move it into releases/ and let freigabe "
                    "manage the link"
                ) from None
            if exc.message.endswith(f"{pointed} is not a directory"):  # fg_switch's own check
                raise NoRelease(no_release(target, pointed)) from None
            raise
        return reply.decoded().decode("utf-8", "surrogateescape").rstrip("\n") or None

    def kinds(self, paths: Sequence[str]) -> dict[str, PathKind]:
        async def go() -> list[Reply]:
            return await self._shell_now().call_many([Request("kind", (p,)) for p in paths], OP_TIMEOUT)

        replies = self._shell_call("checking", ", ".join(paths), go, OP_TIMEOUT)
        found = {}
        for path, reply in zip(paths, replies, strict=True):
            if not reply.ok:
                raise self._failure("checking", path, reply)
            kind, _, link = reply.payload.partition(" ")
            target = base64.b64decode(link).decode("utf-8", "surrogateescape").rstrip("\n") if kind == "link" else None
            found[path] = PathKind(kind, target)
        return found

    def read_optional(self, path: str) -> bytes | None:
        reply = self._op("reading", path, Request("cat", (path,)))
        return None if reply.payload == "-" else reply.decoded()

    def sha256(self, path: str) -> str:
        digest = self._op("hashing", path, Request("sha256", (path,)), timeout=600).payload
        if len(digest) != 64:
            raise TargetError(f"sha256sum of {path} failed on {self.address.host}: {digest}")
        return digest

    def disk_free(self, path: str) -> int:
        available, block = self._op("checking free space at", path, Request("df", (path,))).payload.split()
        return int(available) * int(block)

    def lock(self, path: str, content: bytes) -> bool:
        return self._op("creating the lock", path, Request("lock", (path,), content)).payload == "1"

    def expect_missing(self, path: str, problem: str) -> None:
        self._post(problem, path, Request("absent", (path,)))

    def begin(self, lock: str, content: bytes, looks: Looks) -> Begun | None:
        """Lock, end a gone run's processes, make the folder, read `current` and the ledger's tail:
        one request, one round trip (remote_shell.py `fg_begin`; it removes the lock again if a look fails)."""
        claim = looks.claim
        args = [lock, looks.ledger, str(looks.offset), looks.current, looks.running]
        if claim is not None:
            args += [claim.path, claim.content, claim.release or "-"]
        reply = self._op("creating the lock", lock, Request("begin", tuple(args), content), timeout=60)
        taken, ended, link, size, claimed, data = [*reply.payload.split(" ", 5), "", "", "", "", ""][:6]
        if taken != "1":
            return None
        return Begun(
            ended=[] if ended == "-" else [int(p) for p in ended.split(",")],
            current=None if link == "-" else base64.b64decode(link).decode("utf-8", "surrogateescape"),
            ledger=None if size == "-" else (int(size), base64.b64decode(data)),
            claimed=None if claimed == "-" else claimed == "1",
        )

    def release(self, lock: str, content: bytes, heartbeat: str) -> bool:
        return self._op("removing the lock", lock, Request("release", (lock, heartbeat), content)).payload == "1"

    def unlock(self, path: str) -> None:
        self.remove(path)
