"""PHP-FPM's process_control_timeout in the server audit: a reload must let running requests finish.

Pure checks on configuration text first, then the real PHP-FPM of the test stack: the audit
finds the running master's configuration and judges it over SSH, both ways.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from freigabe.adapters.php_fpm import read_config, reloads_fpm, running_configs
from freigabe.adapters.transport import LocalTransport
from freigabe.audit.fpm import FpmConfig, check_reload_timeout, seconds, timeout_of
from freigabe.cli import app
from freigabe.core.redact import Redactor

from .support.sshd import Sshd
from .support.webstack import start_webstack, write_php_app


def _config(*files: tuple[str, str], unreadable: tuple[str, ...] = ()) -> FpmConfig:
    return FpmConfig(main=files[0][0] if files else "/etc/php/8.2/fpm/php-fpm.conf", files=files, unreadable=unreadable)


DEBIAN = """;;;;;;;;;;;;;;;;;;;;;
; Global Options ;
;;;;;;;;;;;;;;;;;;;;;
[global]
pid = /run/php/php8.2-fpm.pid
error_log = /var/log/php8.2-fpm.log
;process_control_timeout = 0
include=/etc/php/8.2/fpm/pool.d/*.conf
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("0s", 0),
        ("10s", 10),
        ("10", 10),
        ("1m", 60),
        ("2h", 7200),
        ("1d", 86400),
        ("ten", None),
        ("-5", None),
    ],
)
def test_durations_read_as_php_fpm_reads_them(value: str, expected: float | None) -> None:
    assert seconds(value) == expected


def test_the_debian_default_is_zero_and_a_p1_when_freigabe_reloads() -> None:
    (row,) = check_reload_timeout([_config(("/etc/php/8.2/fpm/php-fpm.conf", DEBIAN))], reloads_fpm=True)
    assert (row.status, row.impact) == ("fail", "P1")
    assert "not set, so it is 0" in row.ist and "502" in row.ist
    assert row.location == "/etc/php/8.2/fpm/php-fpm.conf"  # the commented-out line is no setting
    assert "process_control_timeout = 10s" in row.fix and "[global]" in row.fix


def test_a_set_timeout_is_ok_with_its_line_as_evidence() -> None:
    text = DEBIAN.replace(";process_control_timeout = 0", "process_control_timeout = 10s ; wait for requests")
    (row,) = check_reload_timeout([_config(("/etc/php/8.2/fpm/php-fpm.conf", text))], reloads_fpm=True)
    assert row.status == "ok" and row.ist == "process_control_timeout = 10s"
    assert row.location == "/etc/php/8.2/fpm/php-fpm.conf:7"
    assert row.evidence["excerpt"] == "process_control_timeout = 10s ; wait for requests"


def test_the_last_global_assignment_wins_across_included_files() -> None:
    main = DEBIAN.replace(";process_control_timeout = 0", "process_control_timeout = 10s")
    later = "[global]\nprocess_control_timeout = 0\n[www]\nlisten = /run/php/www.sock\n"
    config = _config(("/etc/php/8.2/fpm/php-fpm.conf", main), ("/etc/php/8.2/fpm/pool.d/zz.conf", later))
    setting = timeout_of(config)
    assert setting is not None and setting.location == "/etc/php/8.2/fpm/pool.d/zz.conf:2"
    (row,) = check_reload_timeout([config], reloads_fpm=True)
    assert row.status == "fail" and row.location == "/etc/php/8.2/fpm/pool.d/zz.conf:2"


def test_a_pool_setting_of_the_same_name_is_not_the_global_one() -> None:
    pool = "[www]\nprocess_control_timeout = 10s\n"  # PHP-FPM ignores it there: the master decides
    config = _config(("/etc/php/8.2/fpm/php-fpm.conf", DEBIAN), ("/etc/php/8.2/fpm/pool.d/www.conf", pool))
    assert timeout_of(config) is None


def test_an_unreadable_value_and_an_unreadable_file_say_so() -> None:
    text = DEBIAN.replace(";process_control_timeout = 0", "process_control_timeout = soon")
    (row,) = check_reload_timeout([_config(("/etc/php-fpm.conf", text))], reloads_fpm=True)
    assert row.status == "fail" and "not a duration" in row.ist
    (row,) = check_reload_timeout(
        [FpmConfig(main="/etc/php-fpm.conf", files=(), unreadable=("/etc/php-fpm.conf",))], reloads_fpm=True
    )
    assert row.status == "warn" and "could not be read" in row.ist and "php_fpm_config" in row.fix


def test_without_a_php_fpm_reload_the_finding_is_advice() -> None:
    (row,) = check_reload_timeout([_config(("/etc/php/8.2/fpm/php-fpm.conf", DEBIAN))], reloads_fpm=False)
    assert row.impact == "P2" and "no reload command" in row.ist
    assert check_reload_timeout([], reloads_fpm=True) == []  # no PHP-FPM on the target: nothing to judge


@pytest.mark.parametrize(
    ("reloads", "expected"),
    [
        ([["sudo", "-n", "service", "{php_fpm_service}", "reload"]], True),
        ([["sudo", "-n", "systemctl", "reload", "php8.3-fpm"]], True),
        ([["sh", "-c", "kill -USR2 $(cat /run/php/php-fpm.pid)"]], True),
        ([["sudo", "-n", "systemctl", "reload", "nginx"]], False),
        ([], False),
    ],
)
def test_which_reloads_reload_php_fpm(reloads: list[list[str]], expected: bool) -> None:
    assert reloads_fpm(reloads) is expected


def test_includes_are_followed_on_the_target_and_secrets_redacted(tmp_path: Path) -> None:
    pool = tmp_path / "pool.d"
    pool.mkdir()
    main = tmp_path / "php-fpm.conf"
    main.write_text(f"[global]\ninclude = {pool}/*.conf\n")
    (pool / "a.conf").write_text("[global]\nprocess_control_timeout = 20s\n")
    (pool / "b.conf").write_text("[www]\nenv[DB_PASSWORD] = s3cr3t-pool-value\n")
    (pool / "readme.txt").write_text("process_control_timeout = 0\n")  # not matched by the glob
    config = read_config(LocalTransport(), str(main), Redactor(["s3cr3t-pool-value"]))
    assert [p for p, _ in config.files] == [str(main), str(pool / "a.conf"), str(pool / "b.conf")]
    assert "s3cr3t-pool-value" not in "".join(t for _, t in config.files)
    setting = timeout_of(config)
    assert setting is not None and setting.seconds == 20


def _audit_config(deploy: Path, sshd: Sshd, url: str, reload: list[str], fpm_conf: str | None) -> str:
    listed = f"php_fpm_config = [{json.dumps(fpm_conf)}]" if fpm_conf else ""
    return f"""
preset = "generic"
[build]
source = "app"
[deploy]
reload = [{json.dumps(reload)}]
[environments.staging]
target = "{sshd.target}"
deploy_path = "{deploy}"
url = "{url}"
[environments.staging.ssh]
{sshd.toml()}
[environments.staging.server]
{listed}
"""


@pytest.mark.parametrize("control_timeout", ["0", "10s"])
def test_the_audit_judges_the_real_php_fpm_over_ssh(tmp_path: Path, sshd: Sshd, control_timeout: str) -> None:
    deploy = tmp_path / "srv"
    write_php_app(deploy / "releases" / "r1", "r1")
    os.symlink("releases/r1", deploy / "current")
    web = start_webstack(tmp_path / "web", deploy, control_timeout=control_timeout)
    try:
        conf = str(web.folder / "php-fpm.conf")
        assert conf in running_configs(LocalTransport())  # the master's title names its configuration
        (tmp_path / "freigabe.toml").write_text(
            _audit_config(deploy, sshd, web.url, web.reload_command(), conf if control_timeout == "0" else None)
        )
        result = CliRunner().invoke(
            app, ["audit", "server", "--env", "staging", "--json", "--config", str(tmp_path / "freigabe.toml")]
        )
        rows = [f for f in json.loads(result.output)["findings"] if f["id"] == "server.fpm-reload"]
        mine = [r for r in rows if r["subject"] == conf]
        assert len(mine) == 1, rows
        if control_timeout == "0":
            assert (mine[0]["status"], mine[0]["impact"]) == ("fail", "P1")
            assert mine[0]["location"] == f"{conf}:3" and "502" in mine[0]["ist"]
        else:
            assert mine[0]["status"] == "ok" and mine[0]["ist"] == "process_control_timeout = 10s"
    finally:
        web.stop()
