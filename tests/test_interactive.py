"""Typing the approval phrase at a real terminal (a pseudo-terminal), as a person would."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from .conftest import Project


def _session(project: Project, bundle: str, answer: str) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "freigabe",
            "deploy",
            "staging",
            "--bundle",
            bundle,
            "--config",
            str(project.root / "freigabe.toml"),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "200"},
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"> " in seen.split(b"to approve plan")[-1]:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    return proc.returncode, text


def test_typed_phrase_deploys(deployed: Project) -> None:
    bundle = deployed.build("v2")
    code, screen = _session(deployed, str(bundle.path), "STAGING-TEST FREIGEGEBEN")
    assert code == 0, screen
    assert "Type STAGING-TEST FREIGEGEBEN to approve plan" in screen
    assert "v2" in deployed.served_version()


def test_typed_abbrechen_changes_nothing(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    code, screen = _session(deployed, str(bundle.path), "ABBRECHEN")
    assert code == 7, screen
    assert "was cancelled" in screen
    assert deployed.current() == live and "v1" in deployed.served_version()
