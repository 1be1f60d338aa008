"""A target whose login shell talks (a `.bashrc` that echoes, a warning on stderr, a motd without
a newline) before every command: freigabe reads results after its own marker only, so nothing
it measures — digests, listings, command output, the bundle's member list — takes in the noise."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from freigabe.adapters.transport.ssh import SshTransport
from freigabe.config.models import SshConfig

from .conftest import Project
from .support.sshd import Sshd, start_sshd
from .test_transport import _tar

NOISE = """#!/bin/sh
echo "Welcome to web-1 (managed by ops)"
echo "warning: setlocale: LC_ALL: cannot change locale" >&2
printf 'motd without a newline '
exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"
"""


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """Every session prints before its command runs, as a chatty rc file or motd script does."""
    folder = tmp_path_factory.mktemp("noisy")
    wrapper = folder / "chatty-login"
    wrapper.write_text(NOISE)
    wrapper.chmod(0o755)
    server = start_sshd(folder / "sshd", f"ForceCommand {wrapper}\n")
    yield server
    server.stop()


def test_the_login_shell_really_talks(noisy: Sshd) -> None:
    said = subprocess.run(
        [
            *("ssh", "-i", str(noisy.key_file), "-o", f"UserKnownHostsFile={noisy.known_hosts}", "-o", "BatchMode=yes"),
            *("-p", str(noisy.port), "root@127.0.0.1", "echo result"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert said.stdout.startswith("Welcome to web-1") and "motd without a newline result" in said.stdout
    assert "cannot change locale" in said.stderr


def test_results_read_through_the_noise(noisy: Sshd, tmp_path: Path) -> None:
    t = SshTransport(noisy.target, SshConfig(key_file=str(noisy.key_file), known_hosts=str(noisy.known_hosts)))
    try:
        t.write(str(tmp_path / "f"), b"payload")
        assert t.read(str(tmp_path / "f")) == b"payload"
        assert t.sha256(str(tmp_path / "f")) == hashlib.sha256(b"payload").hexdigest()
        assert t.listdir(str(tmp_path)) == ["f"]
        result = t.run(["sh", "-c", "echo one; echo two >&2"])
        assert result.output == "one\ntwo", result.output
        bundle = _tar(tmp_path / "b.tar.gz", [("./", None), ("./a.txt", b"a")])
        got = t.receive(str(bundle), str(tmp_path / "in" / "b.tar.gz"), str(tmp_path / "in" / ".r.partial"))
        assert got.problem == "" and got.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    finally:
        t.close()


def test_a_deploy_to_a_talkative_target(project: Project, noisy: Sshd) -> None:
    project.use_ssh(noisy)
    result = project.deploy("staging", project.build("v1").path)
    assert result.exit_code == 0, result.output
    assert "v1" in project.served_version()
    logs = "\n".join(p.read_text() for p in (project.root / ".freigabe" / "runs").rglob("*.log"))
    assert "Welcome to web-1" not in logs and "motd" not in logs and "Welcome" not in result.output
