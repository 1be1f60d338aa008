"""One long-lived POSIX `sh` on the target that does freigabe's file operations: one round trip each.

Over SFTP a single operation costs several round trips (`makedirs` stats and creates every
component from `/`, an append is stat + open + write + close, a listing is stat + opendir +
readdir + close), so a deploy 50 ms away waited for hundreds of them. Here the operations are
small shell functions (below), defined once when the connection opens; each request is one
line (or a here-document with the data, base64) written to the shell's stdin and answered by
one reply line:

    \x1e<id> OK [payload]      payload: base64 where it may hold any byte
    \x1e<id> ERR <message>     what the failing command said, on one line
    \x1e<id> SKIP              an earlier posted (unawaited) request failed: nothing was done

Requests run in the order they were written, so a request may be *posted* without waiting
(ledger appends, the heartbeat): the next awaited reply tells whether it was done, and once
one fails every later one is skipped until the client has seen the failure (`fg_reset`).
Every command the functions run reads /dev/null, never the request stream. The target needs
only a POSIX sh, coreutils (stat, mv -T, ln, base64, sha256sum, truncate, rm, mkdir) and
gzip (which GNU tar needs for the bundle anyway).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shlex
from dataclasses import dataclass

import asyncssh

REPLY = b"\x1e"

LIBRARY = r"""
fg_failed=
fg_reply() { printf '\036%s %s\n' "$fg_id" "$*"; }
fg_ok() { fg_reply OK "$@"; }
fg_err() { fg_reply ERR "$(printf '%s' "$*" | tr '\n' ' ')"; return 1; }
fg_call() { fg_id=$1; shift; if [ -n "$fg_failed" ]; then cat >/dev/null; fg_reply SKIP; return 1; fi; "$@"; }
fg_post() { fg_call "$@" || fg_failed=1; }
fg_reset() { fg_failed=; fg_id=$1; fg_ok; }
fg_b64() { base64 -w0 </dev/stdin; }
fg_absent() { if [ -e "$1" ] || [ -L "$1" ]; then fg_reply ERR exists; return 1; else fg_ok; fi; }
fg_exists() { if [ -e "$1" ] || [ -L "$1" ]; then fg_ok 1; else fg_ok 0; fi; }
fg_isdir() { if [ -d "$1" ] && [ ! -L "$1" ]; then fg_ok 1; else fg_ok 0; fi; }
fg_kind() {
  if [ -L "$1" ]; then fg_ok link "$(readlink -- "$1" | fg_b64)"
  elif [ -d "$1" ]; then fg_ok dir
  elif [ -f "$1" ]; then fg_ok file
  elif [ -e "$1" ]; then fg_ok other
  else fg_ok none; fi
}
fg_cat() { if [ -f "$1" ]; then s=$(fg_b64 < "$1") && fg_ok "$s" || fg_err "reading $1 failed"; else fg_ok -; fi; }
fg_switch() {
  if [ -d "$2" ] && [ ! -L "$2" ]; then rm -f -- "$1"; fg_err "$2 is a real directory"; return 1; fi
  if [ ! -d "$3" ] || [ -L "$3" ]; then rm -f -- "$1"; fg_err "$3 is not a directory"; return 1; fi
  if s=$(mv -fT -- "$1" "$2" 2>&1); then fg_ok "$(readlink -- "$2" | fg_b64)"; else rm -f -- "$1"; fg_err "$s"; fi
}
fg_size() {
  if [ ! -e "$1" ]; then fg_ok -; return; fi
  s=$(stat -c %s -- "$1" 2>&1) && fg_ok "$s" || fg_err "$s"
}
fg_readlink() {
  if [ ! -L "$1" ]; then fg_ok -; return; fi
  s=$(readlink -- "$1" 2>&1) && fg_ok "$(printf '%s' "$s" | fg_b64)" || fg_err "$s"
}
fg_read() {
  if [ ! -f "$1" ]; then fg_err "$1: No such file"; return 1; fi
  s=$(tail -c "+$(( $2 + 1 ))" -- "$1" | fg_b64) && fg_ok "$s" || fg_err "reading $1 failed"
}
fg_tail() {
  if [ ! -f "$1" ]; then fg_ok -; return; fi
  z=$(stat -c %s -- "$1") && s=$(tail -c "+$(( $2 + 1 ))" -- "$1" | fg_b64) && fg_ok "$z $s" ||
    fg_err "reading $1 failed"
}
fg_list() {
  if [ ! -d "$1" ]; then fg_ok ""; return; fi
  fg_ok "$(for f in "$1"/* "$1"/.*; do
    n=${f##*/}
    case $n in .|..) continue ;; esac
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$n"; fi
  done | fg_b64)"
}
fg_mkdir() { s=$(mkdir -p -- "$1" 2>&1) && fg_ok || fg_err "$s"; }
fg_unpack() { if [ "$1" = gz ]; then base64 -d | gzip -dc; else base64 -d; fi; }
fg_write() {
  t="$1.tmp-$$"
  if s=$( (fg_unpack "$2" > "$t") 2>&1) && s=$(mv -fT -- "$t" "$1" 2>&1); then fg_ok
  else rm -f -- "$t"; fg_err "${s:-writing $1 failed}"; fi
}
fg_append() {
  if [ -e "$1" ]; then b=$(stat -c %s -- "$1") || { cat >/dev/null; fg_err "cannot stat $1"; return 1; }; else b=0; fi
  if [ "$2" != - ] && [ "$2" != "$b" ]; then cat >/dev/null; fg_reply ERR "size $b"; return 1; fi
  if s=$(base64 -d >> "$1" 2>&1) && s=$(sync -- "$1" 2>&1); then fg_ok "$b"
  else truncate -s "$b" -- "$1" 2>/dev/null; fg_err "$s"; fi
}
fg_truncate() { s=$(truncate -s "$2" -- "$1" 2>&1) && fg_ok || fg_err "$s"; }
fg_rmtree() { s=$(rm -rf -- "$1" 2>&1) && fg_ok || fg_err "$s"; }
fg_remove() { s=$(rm -f -- "$1" 2>&1) && fg_ok || fg_err "$s"; }
fg_rename() { s=$(mv -fT -- "$1" "$2" 2>&1) && fg_ok || fg_err "$s"; }
fg_symlink() { s=$(ln -s -- "$1" "$2" 2>&1) && fg_ok || fg_err "$s"; }
fg_df() { s=$(stat -f -c '%a %S' -- "$1" 2>&1) && fg_ok "$s" || fg_err "$s"; }
fg_sha256() { s=$(sha256sum -- "$1" 2>&1) && fg_ok "${s%% *}" || fg_err "$s"; }
fg_end_groups() {
  e=
  for f in "$1"/*.pgid; do
    [ -e "$f" ] || continue
    p=$(cat -- "$f"); rm -f -- "$f"
    if kill -0 -"$p" 2>/dev/null; then kill -TERM -"$p" 2>/dev/null; e="$e $p"; fi
  done
  if [ -n "$e" ]; then sleep 1; for p in $e; do kill -KILL -"$p" 2>/dev/null; done; fi
  echo $e
}
fg_orphans() { fg_ok $(fg_end_groups "$1"); }
fg_lock() {
  if s=$( (set -C; base64 -d > "$1") 2>&1); then fg_ok 1
  elif [ -e "$1" ]; then fg_ok 0
  else fg_err "$s"; fi
}
fg_begin() {
  if s=$( (set -C; base64 -d > "$1") 2>&1); then :
  elif [ -e "$1" ]; then fg_ok 0; return
  else fg_err "$s"; return 1; fi
  e=$(fg_end_groups "$5" | tr ' ' ,); s=$(mkdir -p -- "$5" 2>&1) || { rm -f -- "$1"; fg_err "$s"; return 1; }
  r=-; c=-; k=-
  if [ -L "$4" ]; then r=$(readlink -- "$4"); c=$(printf '%s' "$r" | fg_b64); r=${r%/}; r=${r##*/}; fi
  if [ -n "$6" ] && [ "$r" = "$8" ]; then
    if s=$(mkdir -p -- "${6%/*}" 2>&1) && (set -C; printf '%s' "$7" > "$6") 2>/dev/null; then k=1
    elif [ -e "$6" ]; then k=0
    else rm -f -- "$1"; fg_err "${s:-creating $6 failed}"; return 1; fi
  fi
  if [ -f "$2" ]; then
    z=$(stat -c %s -- "$2") && t=$(tail -c "+$(( $3 + 1 ))" -- "$2" | fg_b64) || {
      rm -f -- "$1"; fg_err "reading $2 failed"; return 1; }
  else z=- t=; fi
  fg_ok 1 "${e:--}" "$c" "$z" "$k" "$t"
}
fg_release() {
  if [ -f "$1" ] && [ "$(base64 -d | sha256sum)" = "$(sha256sum < "$1")" ]; then
    s=$(rm -f -- "$2" "$1" 2>&1) && fg_ok 1 || fg_err "$s"
  else cat >/dev/null; fg_ok 0; fi
}
"""


@dataclass(frozen=True)
class Request:
    """One operation: the function, its arguments, and data for its stdin (here-document)."""

    op: str
    args: tuple[str, ...] = ()
    data: bytes | None = None
    action: str = ""  # for messages: "writing", "creating", ...

    def script(self, request_id: int, posted: bool = False) -> bytes:
        call = shlex.join(["fg_post" if posted else "fg_call", str(request_id), f"fg_{self.op}", *self.args])
        if self.data is None:
            return f"{call} </dev/null\n".encode()
        encoded = base64.encodebytes(self.data).decode()  # lines of 76 characters
        return f"{call} <<'FG_DATA'\n{encoded}FG_DATA\n".encode()


def reset_script(request_id: int) -> bytes:
    return f"fg_reset {request_id}\n".encode()


@dataclass(frozen=True)
class Reply:
    status: str  # OK, ERR or SKIP
    payload: str

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    def decoded(self) -> bytes:
        return base64.b64decode(self.payload) if self.payload else b""


def parse_reply(line: bytes) -> tuple[int, Reply] | None:
    """(request id, reply) from a reply line; None for any other line (a login shell's chatter)."""
    if not line.startswith(REPLY):
        return None
    head, _, rest = line[1:].rstrip(b"\n").decode("utf-8", "replace").partition(" ")
    status, _, payload = rest.partition(" ")
    if not head.isdigit() or status not in ("OK", "ERR", "SKIP"):
        return None
    return int(head), Reply(status, payload)


START = "exec /bin/sh -s"  # after the login shell's rc files: a plain sh reading requests from stdin
READY = "\x1eFREIGABE-SHELL-READY\x1e"


NO_SHELL = "no working /bin/sh answered"


class ShellGone(Exception):
    """The shell's channel closed (the connection broke): nothing more will be answered."""


class Shell:
    """The client side. Requests are written in order and answered in order; `call` waits for its
    reply, `post` does not (its failure is raised by the next `call` or by `settle`)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self._process = process
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._posted: list[tuple[Request, asyncio.Future[Reply]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.noise: list[str] = []  # lines that were no reply: rc-file chatter, the shell's own errors
        self.ready = False  # the shell has defined its functions and answered

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection) -> Shell:
        """The shell's functions are sent and the first request may follow at once: nothing waits
        for the shell to say it is ready (one round trip saved per connection)."""
        process = await conn.create_process(START, encoding=None, stderr=asyncssh.DEVNULL)
        shell = cls(process)
        process.stdin.write(LIBRARY.encode() + f"printf '%s\\n' '{READY}'\n".encode())
        shell._reader = asyncio.create_task(shell._read())
        return shell

    async def _read(self) -> None:
        piece = b""  # a line longer than the channel's window arrives in pieces (readline gives each)
        try:
            while True:
                try:
                    chunk = await self._process.stdout.readline()
                except (asyncssh.Error, OSError):
                    break  # the connection broke: every request still waiting fails below
                if not chunk:
                    break
                if not chunk.endswith(b"\n"):
                    piece += chunk
                    continue
                line, piece = piece + chunk, b""
                if not self.ready and line.rstrip(b"\n").endswith(READY.encode()):
                    self.ready = True
                    continue
                parsed = parse_reply(line)
                if parsed is None:
                    self.noise = [*self.noise[-20:], line.decode("utf-8", "replace").rstrip("\n")]
                    continue
                future = self._waiting.pop(parsed[0], None)
                if future is not None and not future.done():
                    future.set_result(parsed[1])
        finally:
            why = "the shell's channel closed" if self.ready else NO_SHELL
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ShellGone(why))
            self._waiting.clear()

    def _send(self, request: Request, posted: bool) -> asyncio.Future[Reply]:
        if self._reader is None or self._reader.done():
            raise ShellGone("the shell's channel is closed")
        self._next += 1
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        self._process.stdin.write(request.script(self._next, posted))
        return future

    async def call(self, request: Request, timeout: float) -> Reply:
        reply = await asyncio.wait_for(self._send(request, posted=False), timeout)
        await self._check_posted()
        return reply

    async def call_many(self, requests: list[Request], timeout: float) -> list[Reply]:
        """Several requests sent together, their replies awaited together: one round trip."""
        futures = [self._send(r, posted=False) for r in requests]
        replies = await asyncio.wait_for(asyncio.gather(*futures), timeout)
        await self._check_posted()
        return list(replies)

    def post(self, request: Request) -> asyncio.Future[Reply]:
        future = self._send(request, posted=True)
        self._posted.append((request, future))
        return future

    async def settle(self, timeout: float) -> None:
        """Wait for every posted request; raise the first one's failure."""
        if self._posted:
            await asyncio.wait_for(asyncio.gather(*(f for _, f in self._posted), return_exceptions=True), timeout)
        await self._check_posted()

    async def _check_posted(self) -> None:
        failed: tuple[Request, Reply] | None = None
        still = []
        for request, future in self._posted:
            if not future.done():
                still.append((request, future))
            elif future.exception() is not None:
                self._posted = []
                raise future.exception()  # type: ignore[misc]
            elif not future.result().ok and failed is None:
                failed = (request, future.result())
        self._posted = still
        if failed is not None:
            self._posted = []
            self._next += 1
            reset: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiting[self._next] = reset
            self._process.stdin.write(reset_script(self._next))
            raise PostedFailed(failed[0], failed[1])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._process.stdin.write_eof()
        with contextlib.suppress(Exception):
            self._process.close()


class PostedFailed(Exception):
    def __init__(self, request: Request, reply: Reply) -> None:
        super().__init__(reply.payload)
        self.request, self.reply = request, reply
