"""`plan` reads the target beside the bundle check (usecases/background.py): the result is the one
the parts give one after the other, a target that cannot be read gives its own clear error, a
refused bundle is refused as it would be alone, and nothing keeps running afterwards."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from freigabe.adapters.bundle import scan_bundle, verify_local_bundle
from freigabe.adapters.target import open_target
from freigabe.core.findings import Finding
from freigabe.errors import BundleError, ExitCode, FreigabeError, TargetError, Unreachable
from freigabe.usecases.audit import gather_audit, judge_audit, run_audit
from freigabe.usecases.planning import make_deploy_plan

from .conftest import Project
from .support.sshd import free_port
from .test_bundle_policy import _foreign_bundle, _member

WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _rows(findings: list[Finding]) -> list[dict[str, Any]]:
    """The findings, without the free space (other processes write to the disk meanwhile)."""
    return [f.model_dump() | ({"ist": "…"} if f.key == "server.disk" else {}) for f in findings]


def _readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("plan ")]


def test_the_plan_equals_its_parts_one_after_the_other(live: Project) -> None:
    """Same steps, same findings, same decision as the bundle check, the target's reading and the
    audit run one after the other; the disk check judges the new release's size."""
    release = live.deploy_path() / "releases" / str(live.current())
    (release / "public" / "index.html").write_text("edited on the server")  # drift: changed
    (release / "public" / "debug.php").write_text("<?php phpinfo();")  # drift: added
    (live.app / "public").mkdir(parents=True, exist_ok=True)
    (live.app / "public" / "big.bin").write_bytes(os.urandom(3 * 2**20))  # the disk check needs ≥ 6 MiB
    bundle = live.build("v2").path
    loaded = live.loaded()
    planned = make_deploy_plan(loaded, "staging", bundle, now=WHEN)
    assert not _readers()

    info = verify_local_bundle(bundle)
    scan = scan_bundle(bundle)
    with open_target(loaded, "staging") as target:
        current = target.current()
    migrations = [f for f in planned.audit.findings if f.key.startswith("migration.")]  # the plan's pre-flight copy
    alone = run_audit(loaded, "staging", sha=info.sha, needs_bytes=info.size + scan.total_size, extra=migrations)
    assert _rows(planned.audit.findings) == _rows(alone.findings)
    assert planned.audit.decision == alone.decision
    assert planned.plan.previous_release == current and planned.plan.inputs.current_release == current
    assert planned.plan.bundle is not None and planned.plan.bundle.sha256 == info.sha256
    assert planned.plan.bundle.unpacked_size == scan.total_size
    drift = next(f for f in planned.audit.findings if f.key == "server.release-drift")
    assert drift.evidence == {"changed": ["public/index.html"], "added": ["public/debug.php"]}
    disk = next(f for f in planned.audit.findings if f.key == "server.disk")
    assert disk.soll.startswith(f"≥ {(info.size + scan.total_size) * 2 // 2**20} MiB free")
    assert (info.size + scan.total_size) * 2 >= 6 * 2**20

    again = make_deploy_plan(loaded, "staging", bundle, now=WHEN)
    assert again.plan.id == planned.plan.id  # the same inputs, the same plan


def test_the_disk_check_judges_the_size_given_after_the_reading(deployed: Project) -> None:
    """The target is read before the bundle's size is known: the size is judged afterwards."""
    loaded = deployed.loaded()
    gathered = gather_audit(loaded, "staging", ("server",))
    small = {f.key: f for f in judge_audit(loaded, gathered, needs_bytes=2**20).findings}["server.disk"]
    huge = {f.key: f for f in judge_audit(loaded, gathered, needs_bytes=2**60).findings}["server.disk"]
    assert small.status == "ok" and small.soll.startswith("≥ 2 MiB free")
    assert huge.status == "fail" and huge.impact == "P1" and huge.ist == small.ist


def _closed_port(project: Project) -> None:
    toml = project.root / "freigabe.toml"
    text = toml.read_text()
    port = text.split('target = "ssh://root@127.0.0.1:', 1)[1].split('"', 1)[0]
    toml.write_text(text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}"))


def _wrong_host_key(project: Project) -> None:
    known = Path(project.loaded().config.environments["staging"].ssh.known_hosts or "")
    host, kind, _ = known.read_text().split()
    other = project.root / "other_known_hosts"
    other.write_text(f"{host} {kind} AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    toml = project.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace(str(known), str(other)))


@pytest.mark.parametrize("breaks", [_closed_port, _wrong_host_key], ids=["unreachable", "host-key"])
def test_a_target_that_cannot_be_read_gives_the_error_it_gives_alone(live_ssh: Project, breaks: Any) -> None:
    bundle = live_ssh.build("v2").path
    breaks(live_ssh)
    loaded = live_ssh.loaded()
    with pytest.raises(TargetError) as alone:
        open_target(loaded, "staging")
    with pytest.raises(TargetError) as planned:
        make_deploy_plan(loaded, "staging", bundle)
    assert type(planned.value) is type(alone.value) and planned.value.message == alone.value.message
    assert isinstance(planned.value, Unreachable) == (breaks is _closed_port)
    assert not _readers()
    result = live_ssh.cli("plan", "staging", "--bundle", str(bundle))
    assert result.exit_code == alone.value.exit_code and alone.value.message.split(";")[0] in result.output
    assert "Traceback" not in result.output


def test_a_damaged_bundle_is_named_before_a_target_that_cannot_be_read(live_ssh: Project) -> None:
    bundle = live_ssh.build("v2").path
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    _closed_port(live_ssh)
    with pytest.raises(BundleError) as alone:
        verify_local_bundle(bundle)
    with pytest.raises(FreigabeError) as planned:
        make_deploy_plan(live_ssh.loaded(), "staging", bundle)
    assert isinstance(planned.value, BundleError) and planned.value.message == alone.value.message
    assert not _readers()


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (_member("public/.env", b"APP_KEY=x\n"), "public/.env, which looks like a secret"),
        (_member("bin/helper", b"#!/bin/sh\n", 0o4755), "bin/helper has the setuid bit set (mode 4755)"),
    ],
    ids=["secret", "setuid"],
)
def test_a_refused_bundle_is_refused_while_the_target_is_read(live: Project, member: Any, fragment: str) -> None:
    served = live.current()
    bad = _foreign_bundle(live.build("v2").path, [member])
    with pytest.raises(BundleError) as planned:
        make_deploy_plan(live.loaded(), "staging", bad)
    assert fragment in planned.value.message
    assert not _readers()  # the reading stopped and closed its connection
    result = live.cli("plan", "staging", "--bundle", str(bad))
    assert result.exit_code == ExitCode.BUNDLE and fragment in result.output
    assert live.current() == served


def test_the_drift_check_of_a_large_release_runs_on_the_target(live: Project) -> None:
    """50,000 checksum lines (more than an SSH channel's window) are compared there, not sent
    here; a changed, a deleted, an added file and one with a space in its name are found."""
    from freigabe.adapters.server_facts import _drift

    current = str(live.current())
    release = live.deploy_path() / "releases" / current
    sums = live.deploy_path() / ".freigabe" / "manifests" / f"{current}.sha256"
    lines = sums.read_text().splitlines(keepends=True)
    digest = hashlib.sha256(b"x\n").hexdigest()
    many = release / "vendor" / "package-with-a-rather-long-name-for-the-test"
    many.mkdir(parents=True)
    for i in range(50000):
        lines.append(f"{digest}  ./vendor/package-with-a-rather-long-name-for-the-test/file-{i:05d}.php\n")
    for i in range(0, 50000, 7):  # a seventh of them on disk, unchanged
        (many / f"file-{i:05d}.php").write_text("x\n")
    (release / "public" / "with space.txt").write_text("y\n")
    lines.append(f"{hashlib.sha256(b'y' + bytes([10])).hexdigest()}  ./public/with space.txt\n")
    sums.write_text("".join(sorted(lines)))
    assert len(sums.read_bytes()) > 4 * 2**20
    (release / "public" / "index.html").write_text("edited")
    (release / "public" / "added here.php").write_text("<?php")
    with open_target(live.loaded(), "staging") as target:
        found = _drift(target, current, "public/REVISION")
    assert found is not None
    deleted = [f"vendor/package-with-a-rather-long-name-for-the-test/file-{i:05d}.php" for i in range(1, 50000)]
    deleted = [p for p in deleted if int(p[-9:-4]) % 7]
    assert found["changed"] == sorted(["public/index.html", *deleted])
    assert found["added"] == ["public/added here.php"]


def test_the_scan_beside_the_digest_counts_only_for_a_verified_bundle(
    deployed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest is hashed while the members are scanned: a damaged bundle is refused for its
    digest, its scan is never kept, and a kept scan is reused only for the bundle it belongs to."""
    from freigabe.adapters import bundle as bundles

    path = deployed.build("v2").path
    good = path.read_bytes()
    expected = bundles.read_digest_file(path)
    kept = deployed.root / ".freigabe" / "scans" / f"{expected}.json"
    heard: list[str] = []
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        bundles.check_bundle(path, kept.parent, (), lambda info: heard.append(info.sha256))
    assert not kept.exists() and heard == []

    path.write_bytes(good)
    info, scan = bundles.check_bundle(path, kept.parent, (), lambda info: heard.append(info.sha256))
    assert kept.exists() and heard == [expected] == [info.sha256]
    assert scan == bundles.scan_bundle(path)

    def no_scan(_: object) -> None:
        raise AssertionError("the kept scan is used")

    monkeypatch.setattr(bundles, "scan_bundle", no_scan)
    assert bundles.check_bundle(path, kept.parent)[1] == scan
    path.write_bytes(bytes(damaged))  # a kept scan does not vouch for a bundle that no longer matches
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        make_deploy_plan(deployed.loaded(), "staging", path)
    assert not _readers()
