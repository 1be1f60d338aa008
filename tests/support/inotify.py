"""Watch a directory with the kernel's inotify (through libc): what happened to each name, in order.

A switch done by rename(2) shows as `moved_to current`; a switch that unlinks first shows
as `delete current` followed by `create current`, a moment in which nothing is served.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from pathlib import Path

IN_CREATE = 0x100
IN_DELETE = 0x200
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
_NAMES = {IN_CREATE: "create", IN_DELETE: "delete", IN_MOVED_FROM: "moved_from", IN_MOVED_TO: "moved_to"}
_HEADER = struct.Struct("iIII")


class DirectoryWatch:
    """Events on the entries of one directory, as `(event, name)` pairs, until `stop()`."""

    def __init__(self, folder: Path) -> None:
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
        if self._libc.inotify_add_watch(self._fd, str(folder).encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder} failed")
        self.events: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            raw = data[offset + _HEADER.size : offset + _HEADER.size + length]
            name = raw.split(b"\0", 1)[0].decode()
            for bit, label in _NAMES.items():
                if mask & bit:
                    self.events.append((label, name))
            offset += _HEADER.size + length

    def _pump(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if ready:
                self._read()

    def stop(self) -> list[tuple[str, str]]:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read()
        os.close(self._fd)
        return self.events

    def of(self, name: str) -> list[str]:
        return [event for event, entry in self.events if entry == name]
