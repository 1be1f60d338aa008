"""What a test needs from the machine, checked by capability and named by Debian package.

The packages and their checks live in `tools/debian-packages.txt`, which `make tools` installs;
a test can only need a package listed there, so what the tests use is what a new machine gets.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

LIST = Path(__file__).resolve().parents[2] / "tools" / "debian-packages.txt"


@functools.cache
def packages() -> dict[str, str]:
    """Debian package → the shell check that proves its capability is present."""
    found = {}
    for line in LIST.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            package, check = line.split("\t", 1)
            found[package] = check
    return found


@functools.cache
def present(package: str) -> bool:
    check = packages().get(package)
    if check is None:
        raise AssertionError(f"a test needs Debian package {package}, which {LIST.name} does not list: add it there")
    return subprocess.run(["sh", "-c", check], capture_output=True, check=False).returncode == 0


def need(*wanted: str) -> None:
    """Fail (never skip) naming the packages to install when a capability is missing."""
    missing = [p for p in wanted if not present(p)]
    if missing:
        pytest.fail(
            f"missing on this machine: Debian package{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(checked: {'; '.join(packages()[p] for p in missing)}); install with `make tools`",
            pytrace=False,
        )
