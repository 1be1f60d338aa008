"""The laravel preset on a real machine: the PHP-FPM service is found, not assumed; readiness
pays no fixed wait when the probe proves the new release answers, and fails fast on a 404."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from freigabe.adapters.php_fpm import detect_fpm_service
from freigabe.adapters.transport import LocalTransport
from freigabe.config import load_config
from freigabe.errors import ExitCode, UsageError
from freigabe.usecases.placeholders import resolved_config

from .conftest import Project
from .support.needs import need


def _laravel_config(tmp_path: Path, extra: str = "") -> Path:
    toml = tmp_path / "freigabe.toml"
    toml.write_text(
        f'preset = "laravel"\n[deploy]\n{extra}\n[environments.staging]\ndeploy_path = "{tmp_path}/srv"\n'
        'url = "http://127.0.0.1:1"\n'
    )
    return toml


def test_the_php_fpm_service_is_found_on_the_target(tmp_path: Path) -> None:
    need("php-fpm")
    found, how = detect_fpm_service(LocalTransport())
    assert found is not None and found.startswith("php8.") and found.endswith("-fpm"), how
    config = resolved_config(load_config(_laravel_config(tmp_path)), "staging", LocalTransport())
    assert config.deploy.reload == [["sudo", "-n", "service", found, "reload"]]
    named = resolved_config(
        load_config(_laravel_config(tmp_path, 'php_fpm_service = "php8.4-fpm"')), "staging", LocalTransport()
    )
    assert named.deploy.reload == [["sudo", "-n", "service", "php8.4-fpm", "reload"]]


def test_several_or_no_services(tmp_path: Path) -> None:
    init, run = tmp_path / "init.d", tmp_path / "run"
    init.mkdir()
    run.mkdir()
    t = LocalTransport()
    assert detect_fpm_service(t, (str(init),), str(run))[0] is None
    for name in ("php8.1-fpm", "php8.3-fpm", "nginx"):
        (init / name).write_text("")
    (run / "php8.3-fpm.pid").write_text("1")
    found, how = detect_fpm_service(t, (str(init),), str(run))
    assert found == "php8.3-fpm" and "running" in how
    (run / "php8.1-fpm.pid").write_text("2")
    found, how = detect_fpm_service(t, (str(init),), str(run))
    if found is None:
        assert "none is clearly the one" in how
    else:
        assert "matches the CLI's PHP version" in how


def test_no_service_found_says_how_to_name_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("freigabe.adapters.php_fpm.SEARCH", (str(tmp_path / "nothing-here"),))
    with pytest.raises(UsageError, match=r'set it once in freigabe.toml: \[deploy\] php_fpm_service = "php8.3-fpm"'):
        resolved_config(load_config(_laravel_config(tmp_path)), "staging", LocalTransport())


def _readiness(project: Project, **values: str) -> None:
    toml = project.root / "freigabe.toml"
    text = toml.read_text()
    for key, value in values.items():
        text = text.replace(
            "[environments.staging.readiness]\n", f'[environments.staging.readiness]\n{key} = "{value}"\n', 1
        )
    toml.write_text(text.replace('grace = "0s"\n', "", 1).replace('timeout = "2s"\ninterval', "interval", 1))


def test_the_grace_floor_is_not_paid_when_the_probe_proves_the_release(deployed: Project) -> None:
    _readiness(deployed, grace="15s", timeout="60s")
    good = deployed.build("v2")
    started = time.monotonic()
    assert deployed.deploy("staging", good.path).exit_code == 0
    assert time.monotonic() - started < 10
    bad = deployed.build("v3", respond={"/health": {"status": 500}})
    started = time.monotonic()
    result = deployed.deploy("staging", bad.path)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert time.monotonic() - started < 10  # the rollback to a known-good release is not slowed either


def test_a_probe_answering_404_fails_fast(deployed: Project) -> None:
    _readiness(deployed, timeout="60s")
    broken = deployed.build("v2", respond={"/REVISION": {"status": 404}})
    started = time.monotonic()
    result = deployed.deploy("staging", broken.path)
    took = time.monotonic() - started
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert "answers HTTP 404" in result.output
    assert took < 15, f"a 404 on the probe was retried for {took:.0f} s"
