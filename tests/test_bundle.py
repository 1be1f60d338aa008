"""Bundles: reproducible, sha256sum-compatible, and every unsafe member refused."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from freigabe.adapters.bundle import (
    create_bundle,
    prune_bundles,
    read_digest_file,
    scan_bundle,
    verify_local_bundle,
    write_digest_file,
)
from freigabe.errors import BundleError


def _tree(root: Path) -> Path:
    (root / "public").mkdir(parents=True)
    (root / "public" / "index.php").write_text("<?php echo 'hi';")
    (root / "artisan").write_text("#!/usr/bin/env php\n")
    os.chmod(root / "artisan", 0o755)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.js").write_text("x")
    (root / "public" / "storage").symlink_to("../storage/app/public")
    (root / "storage" / "app" / "public").mkdir(parents=True)
    return root


def test_same_tree_same_digest_whatever_the_mtimes(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    one = create_bundle(src, tmp_path / "a", "abc", ["node_modules"])
    os.utime(src / "artisan", (1, 1))
    (src / "public" / "index.php").touch()
    two = create_bundle(src, tmp_path / "b", "abc", ["node_modules"])
    assert one.sha256 == two.sha256
    names = tarfile.open(one.path).getnames()
    assert names == sorted(names) and "node_modules" not in names
    member = tarfile.open(one.path).getmember("artisan")
    assert (member.mode, member.uid, member.uname) == (0o755, 0, "")


def test_digest_file_works_with_sha256sum(tmp_path: Path) -> None:
    info = create_bundle(_tree(tmp_path / "src"), tmp_path / "out", "abc", [])
    check = subprocess.run(
        ["sha256sum", "-c", info.path.name + ".sha256"], cwd=info.path.parent, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert read_digest_file(info.path) == info.sha256
    assert verify_local_bundle(info.path).sha == "abc"


def test_link_out_of_the_tree_is_refused_at_build(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    (src / "evil").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="outside the app"):
        create_bundle(src, tmp_path / "out", "abc", [])
    assert not list((tmp_path / "out").glob("deployment-bundle-*"))


def _bundle(tmp_path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    path = tmp_path / "deployment-bundle-bad.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([_member("/etc/cron.d/x")], "absolute path"),
        ([_member("../outside.php")], "'..'"),
        ([_member("public/../../x")], "'..'"),
        ([_member("link", tarfile.SYMTYPE, "/etc")], "outside the release"),
        ([_member("public/link", tarfile.SYMTYPE, "../../etc")], "outside the release"),
        ([_member("hard", tarfile.LNKTYPE, "/etc/shadow")], "absolute path"),
        ([_member("hard", tarfile.LNKTYPE, "missing.php")], "not a file of the release"),
        ([_member("dev", tarfile.CHRTYPE)], "device"),
        ([_member("blk", tarfile.BLKTYPE)], "device"),
        ([_member("fifo", tarfile.FIFOTYPE)], "FIFO"),
        ([_member("bad\nname")], "control characters"),
    ],
)
def test_unsafe_members_are_refused(tmp_path: Path, members: list[tarfile.TarInfo], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        scan_bundle(_bundle(tmp_path, members))


def test_safe_links_and_hardlinks_pass_and_make_a_manifest(tmp_path: Path) -> None:
    path = _bundle(
        tmp_path,
        [
            _member("public", tarfile.DIRTYPE),
            _member("public/a.txt"),
            _member("public/b.txt", tarfile.LNKTYPE, "public/a.txt"),
            _member("public/c", tarfile.SYMTYPE, "a.txt"),
        ],
    )
    scan = scan_bundle(path)
    assert [e.path for e in scan.files] == ["public/a.txt", "public/b.txt"]
    assert scan.files[0].sha256 == scan.files[1].sha256
    assert scan.links == {"public/c": "a.txt"}
    assert scan.has("public/c") and scan.has_dir("public")


def test_not_gzip_and_truncated(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(b"PK\x03\x04 not a tarball")
    with pytest.raises(BundleError, match="not a gzip file"):
        scan_bundle(plain)
    good = create_bundle(_tree(tmp_path / "src"), tmp_path / "out", "abc", []).path
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(BundleError, match="truncated or corrupt"):
        scan_bundle(cut)


def test_digest_mismatch_and_renamed_pair(tmp_path: Path) -> None:
    info = create_bundle(_tree(tmp_path / "src"), tmp_path / "out", "abc", [])
    with open(info.path, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        verify_local_bundle(info.path)
    renamed = info.path.with_name("deployment-bundle-other.tar.gz")
    info.path.rename(renamed)
    (info.path.parent / (info.path.name + ".sha256")).rename(renamed.with_name(renamed.name + ".sha256"))
    with pytest.raises(BundleError, match="renamed apart"):
        verify_local_bundle(renamed)
    missing = tmp_path / "deployment-bundle-x.tar.gz"
    missing.write_bytes(b"")
    with pytest.raises(BundleError, match=r"\.sha256 is missing"):
        verify_local_bundle(missing)


def test_prune_keeps_newest_and_young_bundles(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    for index in range(6):
        path = tmp_path / f"deployment-bundle-{index}.tar.gz"
        path.write_bytes(b"x")
        write_digest_file(path, "0" * 64)
        age_days = 40 if index < 4 else 1
        os.utime(path, (now - age_days * 86400 + index, now - age_days * 86400 + index))
    removed = prune_bundles(tmp_path, keep=3, retention_days=30, now=now)
    assert sorted(p.name for p in removed) == [
        "deployment-bundle-0.tar.gz",
        "deployment-bundle-1.tar.gz",
        "deployment-bundle-2.tar.gz",
    ]
    assert not (tmp_path / "deployment-bundle-0.tar.gz.sha256").exists()
    assert (tmp_path / "deployment-bundle-3.tar.gz").exists()
