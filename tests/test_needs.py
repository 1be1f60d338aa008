"""A missing program fails the test naming the Debian package; tests only need what `make tools` installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import needs


@pytest.fixture
def package_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    listing = tmp_path / "debian-packages.txt"
    listing.write_text("# comment\nthere\ttrue\nabsent\tphp -m 2>/dev/null | grep -qix no_such_extension\n")
    monkeypatch.setattr(needs, "LIST", listing)
    needs.packages.cache_clear()
    needs.present.cache_clear()
    yield listing
    needs.packages.cache_clear()
    needs.present.cache_clear()


def test_a_missing_capability_fails_naming_the_package(package_list: Path) -> None:
    needs.need("there")
    with pytest.raises(pytest.fail.Exception, match=r"Debian package absent .*make tools"):
        needs.need("there", "absent")


def test_a_package_the_list_does_not_install_cannot_be_needed(package_list: Path) -> None:
    with pytest.raises(AssertionError, match="does not list: add it there"):
        needs.need("php-imaginary")


def test_the_installer_reads_the_same_list() -> None:
    root = Path(__file__).resolve().parent.parent
    script = (root / "tools" / "install-debian-packages.sh").read_text()
    assert "debian-packages.txt" in script and "DPkg::Lock::Timeout" in script
    assert "tools/install-debian-packages.sh" in (root / "Makefile").read_text()
    listed = needs.packages()
    assert {"php-mysql", "php-fpm", "nginx", "openssh-server", "mariadb-server", "chromium", "wrk"} <= set(listed)
    assert "pdo_mysql" in listed["php-mysql"]  # the capability, not only a binary on PATH
