"""Nothing secret or foreign ships: protected exclusions, secret files, member modes, dirty builds."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from freigabe.adapters.bundle import scan_bundle
from freigabe.cli import app
from freigabe.config import load_config
from freigabe.core import bundle_policy as policy
from freigabe.errors import ExitCode
from freigabe.usecases.build import build

from .conftest import Project

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
COMPOSER_AUTH = json.dumps({"http-basic": {"repo.example.com": {"username": "u", "password": "p"}}})


def _laravel_tree(root: Path) -> None:
    files = {
        "artisan": "#!/usr/bin/env php\n",
        "composer.json": "{}",
        "public/index.php": "<?php",
        "public/build/manifest.json": "{}",
        "vendor/autoload.php": "<?php",
        "vendor/composer/ca-bundle/res/cacert.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "bootstrap/app.php": "<?php",
        "config/app.php": "<?php",
        "routes/web.php": "<?php",
        "app/Models/User.php": "<?php",
        "lang/en/auth.json": json.dumps({"failed": "These credentials do not match our records."}),
        ".env": "APP_KEY=base64:c2VjcmV0LWFwcC1rZXktMTIzNDU2Nzg5MA==\nDB_PASSWORD=hunter2\n",
        ".env.example": "APP_KEY=\n",
        ".env.production": "APP_KEY=base64:other\n",
        ".git/config": "[core]\n",
        "storage/logs/laravel.log": "log",
        "tests/Feature/ExampleTest.php": "<?php",
        "docs/readme.md": "docs",
        "reports/DEPLOY_STAGING_2026-01-01_1200.md": "# report",
        ".freigabe/ledger/staging.jsonl": "{}",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _laravel_project(root: Path, build_extra: str = "") -> Path:
    _laravel_tree(root)
    (root / "freigabe.toml").write_text(
        'preset = "laravel"\n[build]\ncommands = []\nchecks = []\nfinalize = []\n'
        + build_extra
        + '\n[environments.staging]\ndeploy_path = "/srv/app"\nurl = "http://127.0.0.1:1"\n'
    )
    return root / "freigabe.toml"


def test_one_exclude_entry_never_ships_env_git_storage_or_tests(tmp_path: Path) -> None:
    """A user entry extends the list; the protected names and the preset's list stay."""
    toml = _laravel_project(tmp_path, 'exclude = ["docs"]\n')
    result = build(load_config(toml), sha="a" * 40)
    names = set(tarfile.open(result.bundle.path).getnames())
    assert not {n for n in names if n.split("/")[0] in (".git", "storage", "tests", "docs", "reports", ".freigabe")}
    assert ".env" not in names and ".env.production" not in names
    assert ".env.example" in names  # a template, not configuration
    assert "vendor/composer/ca-bundle/res/cacert.pem" in names  # a public certificate is no secret
    assert "lang/en/auth.json" in names  # translations named auth.json are no credentials
    assert result.exclude[: len(policy.PROTECTED)] == list(policy.PROTECTED)
    assert {"docs", "storage", "tests", "dist", "reports", ".freigabe"} <= set(result.exclude)


def test_build_shows_the_effective_list_and_init_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text("vendor/\n.freigabe\n")
    runner = CliRunner()
    made = runner.invoke(app, ["init", "--preset", "laravel"])
    assert made.exit_code == 0, made.output
    text = (tmp_path / "freigabe.toml").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("# The effective list for this file:"))
    assert ".git, .freigabe, .env, .env.*" in line and "storage" in line and "dist" in line
    assert "never in a bundle: .git, .freigabe, .env, .env.*" in made.output
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert ignored.count(".freigabe") == 1 and "reports/" in ignored and "vendor/" in ignored
    assert "added reports/" in made.output
    again = runner.invoke(app, ["init", "--preset", "laravel", "--force"])
    assert again.exit_code == 0 and (tmp_path / ".gitignore").read_text().splitlines() == ignored

    toml = _laravel_project(tmp_path / "p")
    shown = runner.invoke(app, ["build", "--config", str(toml), "--sha", "b" * 40])
    assert shown.exit_code == 0, shown.output
    assert "excluded: .git, .freigabe, .env, .env.*, .github, node_modules, tests, storage" in shown.output


@pytest.mark.parametrize(
    ("rel", "content", "why"),
    [
        ("config/jwt/private.pem", PRIVATE_KEY, "private key"),
        ("deploy/id_ed25519", "anything", "SSH private key"),
        ("auth.json", COMPOSER_AUTH, "Composer credentials"),
        (".npmrc", "//registry.npmjs.org/:_authToken=npm_abc\n", "npm token"),
        ("config/.env.staging", "DB_PASSWORD=x", "environment file"),
        ("certs/client.p12", "binary", "key store"),
    ],
)
def test_a_likely_secret_is_refused_unless_its_exact_path_is_allowed(
    tmp_path: Path, rel: str, content: str, why: str
) -> None:
    toml = _laravel_project(tmp_path)
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(content)
    result = CliRunner().invoke(app, ["build", "--config", str(toml), "--sha", "c" * 40])
    assert result.exit_code == ExitCode.BUNDLE, result.output
    assert rel in result.output and why in result.output and "allow_secrets" in result.output
    assert not list((tmp_path / "dist").glob("*.tar.gz")), "no bundle may be written"
    toml.write_text(toml.read_text().replace("[build]\n", f'[build]\nallow_secrets = ["{rel}"]\n'))
    allowed = CliRunner().invoke(app, ["build", "--config", str(toml), "--sha", "c" * 40])
    assert allowed.exit_code == 0, allowed.output
    assert rel in tarfile.open(next((tmp_path / "dist").glob("*.tar.gz"))).getnames()


def _foreign_bundle(good: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    bad = good.with_name("deployment-bundle-foreign.tar.gz")
    with tarfile.open(good) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        for info, data in extra:
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    subprocess.run(f"sha256sum {bad.name} > {bad.name}.sha256", shell=True, cwd=bad.parent, check=True)
    return bad


def _member(
    name: str, data: bytes | None = None, mode: int = 0o644, kind: bytes = tarfile.REGTYPE
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = kind, mode, 4242, 4242
    if data is not None:
        info.size = len(data)
    return info, data


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (_member("public/.env", b"APP_KEY=x\n"), "public/.env, which looks like a secret"),
        (_member("storage/oauth-private.key", PRIVATE_KEY.encode()), "contains a private key"),
        (_member("bin/helper", b"#!/bin/sh\n", 0o4755), "bin/helper has the setuid bit set (mode 4755)"),
        (_member("public/uploads", None, 0o1777, tarfile.DIRTYPE), "public/uploads has the sticky bit set"),
    ],
)
def test_a_foreign_bundle_with_a_secret_or_special_bits_is_refused_at_plan(
    deployed: Project, member: tuple[tarfile.TarInfo, bytes | None], fragment: str
) -> None:
    live = deployed.current()
    bad = _foreign_bundle(deployed.build("v2").path, [member])
    for command in (["plan", "staging", "--bundle", str(bad)], ["deploy", "staging", "--bundle", str(bad)]):
        result = deployed.cli(*command)
        assert result.exit_code == ExitCode.BUNDLE, result.output
        assert fragment in result.output
    assert deployed.current() == live


def test_extraction_takes_neither_owner_nor_group_or_other_write(deployed: Project) -> None:
    """Compared with tarfile's `data` filter: owner ignored, group/other write cleared."""
    bundle = _foreign_bundle(
        deployed.build("v2").path,
        [_member("public/shared-notes.txt", b"notes\n", 0o666), _member("public/cache", None, 0o777, tarfile.DIRTYPE)],
    )
    scan = scan_bundle(bundle)
    assert not scan.bad_modes and not scan.secrets
    result = deployed.deploy("staging", bundle)
    assert result.exit_code == 0, result.output
    release = deployed.deploy_path() / "releases" / (deployed.current() or "")
    for rel, expected in (("public/shared-notes.txt", 0o644), ("public/cache", 0o755)):
        st = (release / rel).lstat()
        assert stat.S_IMODE(st.st_mode) == expected, (rel, oct(st.st_mode))
        assert st.st_uid == os.getuid()


def test_dirty_builds_never_share_a_name_and_a_replaced_bundle_is_announced(tmp_path: Path) -> None:
    toml = _laravel_project(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    (tmp_path / ".gitignore").write_text("dist/\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    clean = build(load_config(toml))
    assert clean.bundle.sha == head and not clean.warnings
    (tmp_path / "routes/web.php").write_text("<?php // change one")
    one = build(load_config(toml))
    (tmp_path / "routes/web.php").write_text("<?php // change two")
    two = build(load_config(toml))
    assert one.bundle.name != two.bundle.name and one.bundle.path.exists() and two.bundle.path.exists()
    assert one.bundle.sha.startswith(head[:12]) and "-dirty-" in one.bundle.sha
    assert "uncommitted changes (routes/web.php)" in one.warnings[0]
    (tmp_path / "routes/api.php").write_text("<?php // untracked, and shipped")
    subprocess.run([*git, "checkout", "-q", "routes/web.php"], check=True)
    untracked = build(load_config(toml))
    assert "-dirty-" in untracked.bundle.sha and "routes/api.php" in untracked.warnings[0]
    # the same name with other bytes (an explicit --sha): said loudly, never silently
    first = build(load_config(toml), sha="d" * 40)
    (tmp_path / "routes/api.php").write_text("<?php // other bytes")
    second = build(load_config(toml), sha="d" * 40)
    assert first.bundle.sha256 != second.bundle.sha256
    assert any("replaced deployment-bundle-" in w and "stale" in w for w in second.warnings)
