"""One test suite for every transport: local and a real OpenSSH server on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from freigabe.adapters.bundle import scan_bundle
from freigabe.adapters.transport import LocalTransport, Transport, open_transport
from freigabe.adapters.transport.base import Begun, Claim, Looks
from freigabe.adapters.transport.receive import PART, member_digest
from freigabe.adapters.transport.ssh import SshTransport
from freigabe.config.models import SshConfig
from freigabe.errors import NoRelease, StepFailed, TargetError, UsageError

from .support.sshd import Sshd, start_sshd


@pytest.fixture(params=["local", "ssh"])
def t(request: pytest.FixtureRequest) -> Iterator[Transport]:
    if request.param == "local":
        yield LocalTransport()
        return
    server: Sshd = request.getfixturevalue("sshd")
    transport = SshTransport(
        server.target, SshConfig(key_file=str(server.key_file), known_hosts=str(server.known_hosts))
    )
    yield transport
    transport.close()


def test_primitives(t: Transport, tmp_path: Path) -> None:
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


def test_run_streams_output_and_reports_exit(t: Transport, tmp_path: Path) -> None:
    lines: list[str] = []
    result = t.run(["sh", "-c", "echo one; echo two >&2; exit 3"], on_line=lines.append)
    assert result.returncode == 3 and lines == ["one", "two"] and result.tail(1) == "two"
    missing = t.run(["no-such-command-here"])
    assert missing.returncode == 127 and "command not found" in missing.output
    slow = t.run(["sleep", "5"], timeout=0.3)
    assert slow.timed_out and not slow.ok and "timed out" in slow.output
    dump = tmp_path / "dump.sql"
    assert t.run(["echo", "data"], stdout_path=str(dump)).ok
    assert t.run(["pwd"], cwd=str(tmp_path)).output.strip() == str(tmp_path)
    assert t.run(["sh", "-c", "echo $FREIGABE_X"], env={"FREIGABE_X": "a b"}).output.strip() == "a b"
    assert dump.read_text() == "data\n"


def test_lock_is_exclusive(t: Transport, tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    assert t.lock(path, b"one")
    assert not t.lock(path, b"two")
    assert t.read(path) == b"one"
    t.unlock(path)
    assert t.lock(path, b"three")


def test_replace_symlink_never_leaves_a_gap(t: Transport, tmp_path: Path) -> None:
    """A reader resolving `current` thousands of times while it is switched never misses it."""
    for name in ("r1", "r2"):
        (tmp_path / "releases" / name).mkdir(parents=True)
        (tmp_path / "releases" / name / "index").write_text(name)
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
    for index in range(3000 if isinstance(t, LocalTransport) else 300):
        t.replace_symlink(f"releases/r{index % 2 + 1}", link)
    stop.set()
    thread.join()
    assert reads[0] > 100 and misses == []
    assert [p for p in os.listdir(tmp_path) if p.startswith(".current")] == []


def test_replace_symlink_refuses_a_real_directory(t: Transport, tmp_path: Path) -> None:
    (tmp_path / "current").mkdir()
    with pytest.raises(TargetError, match="real directory"):
        t.replace_symlink("releases/x", str(tmp_path / "current"))


def test_replace_symlink_only_to_a_release_folder(t: Transport, tmp_path: Path) -> None:
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    (tmp_path / "releases" / "f").write_text("a file")
    current = str(tmp_path / "current")
    assert t.replace_symlink("releases/r1", current) == "releases/r1"
    for pointed in ("releases/missing", "releases/f", "/nonexistent/abs"):
        with pytest.raises(NoRelease, match=r"not a complete release on the target \(.* is not a directory\)"):
            t.replace_symlink(pointed, current)
        assert os.readlink(current) == "releases/r1"
    assert [p for p in os.listdir(tmp_path) if p.startswith(".current")] == []


def _looks(base: Path, offset: int = 0, claim: Claim | None = None) -> Looks:
    return Looks(str(base / "running"), str(base / "current"), str(base / "ledger.jsonl"), offset, claim)


def test_begin_locks_then_ends_orphans_and_looks_in_one_go(t: Transport, tmp_path: Path) -> None:
    lock = str(tmp_path / "deploy.lock")
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/r1")
    (tmp_path / "ledger.jsonl").write_bytes(b"first\nsecond\n")
    (tmp_path / "running").mkdir()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a gone run's command
    (tmp_path / "running" / "x.pgid").write_text(f"{orphan.pid}\n")
    marker = tmp_path / "plans" / "p.ran"
    claim = Claim(str(marker), '{"plan": "p"}', "r1")
    assert t.begin(lock, b"mine", _looks(tmp_path, 6, claim)) == Begun(
        [orphan.pid], "releases/r1", (13, b"second\n"), True
    )
    assert orphan.wait(timeout=10) != 0 and os.listdir(tmp_path / "running") == []
    assert marker.read_text() == '{"plan": "p"}' and (tmp_path / "deploy.lock").read_bytes() == b"mine"
    # held: None, and nothing else is done (no orphan ended, no claim made)
    (tmp_path / "running" / "y.pgid").write_text("999999\n")
    marker.unlink()
    assert t.begin(lock, b"other", _looks(tmp_path, 0, claim)) is None
    assert (tmp_path / "running" / "y.pgid").exists() and not marker.exists()
    assert (tmp_path / "deploy.lock").read_bytes() == b"mine"


def test_begin_claims_only_while_the_planned_release_serves(t: Transport, tmp_path: Path) -> None:
    lock, marker = str(tmp_path / "deploy.lock"), tmp_path / "plans" / "p.ran"
    (tmp_path / "releases" / "r2").mkdir(parents=True)
    # no ledger, no `current`: a first deploy's plan (it saw no release) claims
    begun = t.begin(lock, b"a", _looks(tmp_path, 0, Claim(str(marker), "one", None)))
    assert begun == Begun([], None, None, True) and marker.read_text() == "one"
    t.unlock(lock)
    # the plan spent already: False, the marker left as it was
    begun = t.begin(lock, b"a", _looks(tmp_path, 0, Claim(str(marker), "two", None)))
    assert begun is not None and begun.claimed is False and marker.read_text() == "one"
    t.unlock(lock)
    # `current` (absolute form) serves another release than the plan saw: not tried
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "r2")
    other = tmp_path / "plans" / "q.ran"
    begun = t.begin(lock, b"a", _looks(tmp_path, 0, Claim(str(other), "x", "r1")))
    assert begun is not None and begun.claimed is None and not other.exists()
    t.unlock(lock)
    begun = t.begin(lock, b"a", _looks(tmp_path, 0, Claim(str(other), "x", "r2")))
    assert begun is not None and begun.claimed is True and other.read_text() == "x"


def test_begin_that_cannot_look_does_not_keep_the_lock(t: Transport, tmp_path: Path) -> None:
    (tmp_path / "running").write_text("a file where the folder goes")
    with pytest.raises(TargetError):
        t.begin(str(tmp_path / "deploy.lock"), b"mine", _looks(tmp_path))
    assert not (tmp_path / "deploy.lock").exists()


def test_release_removes_only_this_runs_lock(t: Transport, tmp_path: Path) -> None:
    lock, beat = tmp_path / "deploy.lock", tmp_path / "deploy.lock.heartbeat"
    lock.write_bytes(b'{"run": "other"}')
    beat.write_text("1 other")
    assert not t.release(str(lock), b'{"run": "mine"}', str(beat))
    assert lock.exists() and beat.exists()
    assert t.release(str(lock), b'{"run": "other"}', str(beat))
    assert not lock.exists() and not beat.exists()
    assert not t.release(str(lock), b'{"run": "other"}', str(beat))  # gone already: nothing to do


def test_expect_missing_guards_the_changes_after_it(t: Transport, tmp_path: Path) -> None:
    t.expect_missing(str(tmp_path / "new"), "new is there already")
    t.write(str(tmp_path / "made"), b"1")
    t.settle()
    assert (tmp_path / "made").read_bytes() == b"1"
    (tmp_path / "taken").mkdir()
    (tmp_path / "dangling").symlink_to("nowhere")
    for there in ("taken", "dangling"):
        with pytest.raises(StepFailed, match=f"^{there} is there already$"):
            t.expect_missing(str(tmp_path / there), f"{there} is there already")
            t.write(str(tmp_path / f"after-{there}"), b"2")
            t.settle()
        assert not (tmp_path / f"after-{there}").exists()
    t.write(str(tmp_path / "later"), b"3")  # the transport goes on after the refusal
    t.settle()
    assert (tmp_path / "later").read_bytes() == b"3"


def test_answers_longer_than_the_channels_window_arrive_whole(t: Transport, tmp_path: Path) -> None:
    """A reply is one line; over SSH a line past the channel's window (about 2 MiB) comes in pieces."""
    data = os.urandom(5 * 2**20)  # 6.7 MiB as base64, on one line
    (tmp_path / "big").write_bytes(data)
    assert t.read(str(tmp_path / "big")) == data
    assert t.read_optional(str(tmp_path / "big")) == data
    assert t.read_tail(str(tmp_path / "big"), 1000) == (len(data), data[1000:])
    names = [f"{i:05d}-" + "n" * 80 for i in range(30000)]  # a listing of 2.6 MB
    (tmp_path / "many").mkdir()
    for name in names:
        (tmp_path / "many" / name).touch()
    assert sorted(t.listdir(str(tmp_path / "many"))) == names
    assert t.exists(str(tmp_path / "big"))  # and the next answer is still read right


def test_large_writes_arrive_whole_or_not_at_all(t: Transport, tmp_path: Path) -> None:
    """Over SSH a write from 64 KiB travels compressed; what arrives is what was written."""
    lines = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() + b"  ./f%d\n" % i for i in range(20000))
    noise = os.urandom(300_000)  # does not compress
    t.write(str(tmp_path / "sums"), lines)
    t.write(str(tmp_path / "noise"), noise)
    t.write(str(tmp_path / "small"), b"small")
    assert t.read(str(tmp_path / "sums")) == lines
    assert t.read(str(tmp_path / "noise")) == noise
    assert t.read(str(tmp_path / "small")) == b"small"
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(TargetError, match=r"writing .*file/inside"):
        t.write(str(tmp_path / "file" / "inside"), lines)
        t.settle()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "noise", "small", "sums"], "no temporary left"


def test_errors_are_sentences(t: Transport, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"reading .* failed on"):
        t.read(str(tmp_path / "nope"))


def _tar(path: Path, members: list[tuple[str, bytes | str | None]]) -> Path:
    """A .tar.gz written member by member as given (bytes: a file, str: a symlink to it, None: a
    folder), so hostile archives our own builder would never make can be tried."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return path


def test_receive_hashes_keeps_and_unpacks_in_one_stream(t: Transport, tmp_path: Path) -> None:
    names = ["./", "./dir ä/", "./dir ä/f\\x.txt", "./public/", "./public/index.html", "./public/link"]
    bundle = _tar(
        tmp_path / "b.tar.gz",
        [
            ("./", None),
            ("./dir ä/", None),
            ("./dir ä/f\\x.txt", os.urandom(300_000)),
            ("./public/", None),
            ("./public/index.html", b"<h1>v1</h1>"),
            ("./public/link", "index.html"),
        ],
    )
    remote, folder = tmp_path / "bundles" / "b.tar.gz", tmp_path / "releases" / ".r1.partial"
    got = t.receive(str(bundle), str(remote), str(folder))
    assert got.problem == "", got
    assert got.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert (tmp_path / "bundles" / f"b.tar.gz{PART}").read_bytes() == bundle.read_bytes()
    assert not remote.exists(), "the bundle keeps its temporary name until it is verified"
    assert (folder / "public" / "index.html").read_text() == "<h1>v1</h1>"
    assert os.readlink(folder / "public" / "link") == "index.html"
    scan = scan_bundle(bundle)
    assert got.members_digest == member_digest([e.path for e in scan.files] + scan.dirs + list(scan.links))
    assert len(names) - 1 == len(scan.files) + len(scan.dirs) + len(scan.links)
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == [".r1.partial"], "no helper files left"


@pytest.mark.parametrize(
    ("members", "inside", "problem"),
    [
        ([("../escaped.txt", b"x")], None, "Member name contains '..'"),
        ([("/tmp/absolute-escape.txt", b"x")], "tmp/absolute-escape.txt", ""),
        ([("out", "/tmp"), ("out/through-a-link.txt", b"x")], None, "Not a directory"),
    ],
    ids=["dot-dot", "absolute", "through-a-link"],
)
def test_receive_never_writes_outside_the_hidden_folder(
    t: Transport, tmp_path: Path, members: list[tuple[str, bytes | str | None]], inside: str | None, problem: str
) -> None:
    """Bundles our scan refuses at plan time; here the target's tar meets them unchecked (the
    bytes are unpacked before their digest is compared): nothing may land outside the folder."""
    bundle = _tar(tmp_path / "evil.tar.gz", members)
    folder = tmp_path / "deploy" / "releases" / ".r.partial"
    got = t.receive(str(bundle), str(tmp_path / "deploy" / "b.tar.gz"), str(folder))
    assert (got.problem == "") if not problem else (problem in got.problem), got
    outside = [p for p in (tmp_path / "deploy").rglob("*") if folder not in p.parents and p != folder]
    assert sorted(p.name for p in outside) == ["b.tar.gz.part-new", "releases"]
    assert not Path("/tmp/absolute-escape.txt").exists() and not Path("/tmp/through-a-link.txt").exists()
    if inside:
        assert (folder / inside).is_file()


def test_receive_of_a_damaged_stream_says_so(t: Transport, tmp_path: Path) -> None:
    good = _tar(tmp_path / "b.tar.gz", [("./a.txt", os.urandom(200_000))])
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    got = t.receive(str(damaged), str(tmp_path / "out" / "b.tar.gz"), str(tmp_path / "out" / ".r.partial"))
    assert got.problem.startswith("tar exit") and got.sha256 != hashlib.sha256(good.read_bytes()).hexdigest()


def test_a_failed_change_stops_the_later_ones_and_is_named(t: Transport, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    impossible = str(tmp_path / "file" / "inside")
    with pytest.raises(TargetError, match=r"writing .*file/inside"):
        t.write(impossible, b"x")  # over SSH sent without waiting: known at the next wait
        t.write(str(tmp_path / "later"), b"y")
        t.settle()
    assert not (tmp_path / "later").exists(), "a change after a failed one is not made"
    t.write(str(tmp_path / "after"), b"z")  # the transport goes on
    assert t.read(str(tmp_path / "after")) == b"z"


def test_open_transport() -> None:
    assert open_transport("local").name == "local"
    with pytest.raises(UsageError, match="not understood"):
        open_transport("ftp://x")


def _ssh(server: Sshd, **overrides: str) -> SshTransport:
    target = overrides.pop("target", server.target)
    settings: dict[str, str] = {"key_file": str(server.key_file), "known_hosts": str(server.known_hosts)}
    return SshTransport(target, SshConfig.model_validate({**settings, **overrides}))


def test_ssh_unknown_host_key_is_refused_with_its_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TargetError, match=r"is not in .*known_hosts; refusing to connect") as caught:
        _ssh(sshd, known_hosts=str(empty))
    assert "SHA256:" in caught.value.message and "ssh-keyscan" in caught.value.message


def test_ssh_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    changed = tmp_path / "known_hosts"
    changed.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    with pytest.raises(TargetError, match="CHANGED") as caught:
        _ssh(sshd, known_hosts=str(changed))
    assert "SHA256:" in caught.value.message


def test_ssh_login_refused_and_unreachable(sshd: Sshd, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    with pytest.raises(TargetError, match="refused the login"):
        _ssh(sshd, key_file=str(tmp_path / "stranger"))
    from .support.sshd import free_port

    with pytest.raises(TargetError, match="cannot reach"):
        _ssh(sshd, target=f"ssh://root@127.0.0.1:{free_port()}")


def test_ssh_prefers_aes_gcm_and_still_agrees_with_a_server_without_it(sshd: Sshd, tmp_path: Path) -> None:
    transport = _ssh(sshd)
    try:
        assert transport._conn is not None
        assert transport._conn.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    finally:
        transport.close()
    only_chacha = start_sshd(tmp_path / "sshd", extra="Ciphers chacha20-poly1305@openssh.com\n")
    try:
        transport = _ssh(only_chacha)
        try:
            assert transport._conn is not None
            assert transport._conn.get_extra_info("send_cipher") == "chacha20-poly1305@openssh.com"
            assert transport.read_optional(str(tmp_path / "none")) is None
        finally:
            transport.close()
    finally:
        only_chacha.stop()


def test_ssh_through_a_jump_host(sshd: Sshd, tmp_path: Path) -> None:
    transport = _ssh(sshd, jump=sshd.target)
    try:
        assert transport.run(["echo", "via jump"]).output == "via jump"
    finally:
        transport.close()
