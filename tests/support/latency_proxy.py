"""A TCP proxy on loopback that adds a round-trip time, as a server 20 to 80 ms away would.

The kernel here has no netem, so each byte the proxy forwards is held back half the RTT in each
direction (order kept, bandwidth not limited: what a far server costs is the waiting). It also
counts round trips the way a stopwatch sees them: a turn is an answer that reaches the client a
whole round trip after the client last sent anything, i.e. the client sat waiting for it.
Requests sent together (pipelined) cost one turn, requests sent one after the other one each,
and a stream the client keeps sending (an upload and its window updates) none. Without added
latency there is no waiting to see: counts are meaningful for rtt_ms > 0 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Counters:
    turns: int = 0  # client→server then server→client: one round trip waited for
    bytes_up: int = 0
    bytes_down: int = 0
    connections: int = 0
    turn_times: list[float] = field(default_factory=list)  # wall clock (time.time()) of each turn
    _client_sent: bool = field(default=False, repr=False)
    _last_up: float = field(default=0.0, repr=False)

    def reset(self) -> None:
        self.turns = self.bytes_up = self.bytes_down = self.connections = 0
        self.turn_times = []
        self._client_sent = False


class LatencyProxy:
    """`with LatencyProxy(port, rtt_ms=50) as proxy:` then connect to `proxy.port`."""

    def __init__(self, target_port: int, rtt_ms: float, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.delay = rtt_ms / 2000
        self.counters = Counters()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="latency-proxy")
        self._ready = threading.Event()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LatencyProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        await asyncio.sleep(self.delay * 2)  # the TCP handshake to a far server
        up = asyncio.create_task(self._pump(client_r, server_w, upstream=True))
        down = asyncio.create_task(self._pump(server_r, client_w, upstream=False))
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, server_w):
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        """Read as fast as data comes; deliver each chunk `delay` after it arrived, in order."""
        queue: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def deliver() -> None:
            while True:
                while not queue:
                    if done:
                        return
                    arrived.clear()
                    await arrived.wait()
                due, chunk = queue.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                self._count(len(chunk), upstream)
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(65536)
                queue.append((time.monotonic() + self.delay, chunk))
                arrived.set()
                if not chunk:
                    break
            done = True
            arrived.set()
            await sender
        finally:
            sender.cancel()

    def _count(self, size: int, upstream: bool) -> None:
        c, now = self.counters, time.monotonic()
        if upstream:
            c.bytes_up += size
            c._client_sent = True
            c._last_up = now - self.delay  # when the client sent it (held back `delay` here)
        else:
            c.bytes_down += size
            if c._client_sent and now - c._last_up >= 1.8 * self.delay:
                c.turns += 1
                c.turn_times.append(time.time())
                c._client_sent = False
