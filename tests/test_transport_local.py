"""The local transport's primitives, and the atomic switch under a concurrent reader."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from freigabe.adapters.transport import LocalTransport, open_transport
from freigabe.errors import TargetError, UsageError


def test_primitives(tmp_path: Path) -> None:
    t = LocalTransport()
    base = str(tmp_path)
    t.mkdir(f"{base}/a/b")
    t.write(f"{base}/a/b/f", b"hello")
    assert t.read(f"{base}/a/b/f") == b"hello"
    t.append(f"{base}/a/b/f", b"!")
    assert t.read(f"{base}/a/b/f") == b"hello!"
    assert t.listdir(f"{base}/a") == ["b"] and t.listdir(f"{base}/missing") == []
    assert t.is_dir(f"{base}/a") and not t.is_dir(f"{base}/a/b/f")
    t.symlink("a/b", f"{base}/l")
    assert t.readlink(f"{base}/l") == "a/b" and t.readlink(f"{base}/a") is None
    assert not t.is_dir(f"{base}/l")
    t.rename(f"{base}/a/b/f", f"{base}/g")
    assert t.sha256(f"{base}/g") == "ce06092fb948d9ffac7d1a376e404b26b7575bcc11ee05a4615fef4fec3a308b"
    t.remove_tree(f"{base}/a")
    assert not t.exists(f"{base}/a")
    assert t.disk_free(base) > 0


def test_run_streams_output_and_reports_exit(tmp_path: Path) -> None:
    lines: list[str] = []
    result = LocalTransport().run(["sh", "-c", "echo one; echo two >&2; exit 3"], on_line=lines.append)
    assert result.returncode == 3 and lines == ["one", "two"] and result.tail(1) == "two"
    missing = LocalTransport().run(["no-such-command-here"])
    assert missing.returncode == 127 and "command not found" in missing.output
    slow = LocalTransport().run(["sleep", "5"], timeout=0.3)
    assert slow.timed_out and not slow.ok and "timed out" in slow.output
    dump = tmp_path / "dump.sql"
    assert LocalTransport().run(["echo", "data"], stdout_path=str(dump)).ok
    assert dump.read_text() == "data\n"


def test_lock_is_exclusive(tmp_path: Path) -> None:
    t = LocalTransport()
    path = str(tmp_path / "lock")
    assert t.lock(path, b"one")
    assert not t.lock(path, b"two")
    assert t.read(path) == b"one"
    t.unlock(path)
    assert t.lock(path, b"three")


def test_replace_symlink_never_leaves_a_gap(tmp_path: Path) -> None:
    """A reader resolving `current` thousands of times while it is switched never misses it."""
    for name in ("r1", "r2"):
        (tmp_path / "releases" / name).mkdir(parents=True)
        (tmp_path / "releases" / name / "index").write_text(name)
    t = LocalTransport()
    link = str(tmp_path / "current")
    t.replace_symlink("releases/r1", link)
    stop = threading.Event()
    misses: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                (tmp_path / "current" / "index").read_text()
                reads[0] += 1
            except OSError as exc:
                misses.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    for index in range(3000):
        t.replace_symlink(f"releases/r{index % 2 + 1}", link)
    stop.set()
    thread.join()
    assert reads[0] > 100 and misses == []
    assert [p for p in os.listdir(tmp_path) if p.startswith(".current")] == []


def test_replace_symlink_refuses_a_real_directory(tmp_path: Path) -> None:
    (tmp_path / "current").mkdir()
    with pytest.raises(TargetError, match="real directory"):
        LocalTransport().replace_symlink("releases/x", str(tmp_path / "current"))


def test_errors_are_sentences(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"reading .* failed on the target"):
        LocalTransport().read(str(tmp_path / "nope"))


def test_open_transport() -> None:
    assert open_transport("local").name == "local"
    with pytest.raises(UsageError, match="not understood"):
        open_transport("ftp://x")
