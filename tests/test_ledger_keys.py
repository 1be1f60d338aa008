"""Who may sign the ledger: this machine's key, a CI secret's key, and nobody else — and the
commands that make and show them."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from freigabe.errors import ExitCode

from .conftest import Project


def _public(raw: str) -> str:
    return next(line.split()[-1] for line in raw.splitlines() if line.startswith("public key:"))


def _trust(project: Project, *keys: str) -> None:
    toml = project.root / "freigabe.toml"
    toml.write_text(toml.read_text() + f"\n[ledger]\ntrusted_keys = {json.dumps(list(keys))}\n")


def test_ledger_key_prints_this_machines_public_key_and_whether_it_is_trusted(project: Project) -> None:
    first = project.cli("ledger", "key")
    assert first.exit_code == 0, first.output
    public = _public(first.raw)
    assert len(base64.b64decode(public)) == 32
    assert "add it to freigabe.toml: [ledger] trusted_keys" in first.output
    key_file = project.root / ".freigabe" / "keys" / "ledger_ed25519"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in first.raw  # the private half is never printed
    _trust(project, public)
    again = project.cli("ledger", "key")
    assert _public(again.raw) == public and "listed in [ledger] trusted_keys" in again.output


def test_a_new_key_goes_to_a_file_never_to_the_screen(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "ci.key"
    made = project.cli("ledger", "key", "--new", str(target))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().strip() not in made.raw
    assert _public(made.raw) != _public(project.cli("ledger", "key").raw)
    again = project.cli("ledger", "key", "--new", str(target))
    assert again.exit_code == ExitCode.CONFIG and f"{target} exists; name a new file" in again.output
    assert "Traceback" not in again.output


def test_a_ci_key_signs_and_the_machine_that_trusts_it_reads(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ci = tmp_path / "ci.key"
    ci_public = _public(project.cli("ledger", "key", "--new", str(ci)).raw)
    own_public = _public(project.cli("ledger", "key").raw)
    _trust(project, ci_public, own_public)
    monkeypatch.setenv("FREIGABE_LEDGER_KEY", ci.read_text().strip())
    assert project.deploy("staging", project.build("v1").path).exit_code == 0
    assert {e["key"] for e in project.ledger()} == {ci_public}
    monkeypatch.delenv("FREIGABE_LEDGER_KEY")
    assert project.cli("ledger", "verify", "staging").exit_code == 0
    before = len(project.ledger())
    assert project.deploy("staging", project.build("v2").path).exit_code == 0
    assert {e["key"] for e in project.ledger()[before:]} == {own_public}


def test_entries_of_a_key_nobody_listed_stop_the_next_deploy(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Project(tmp_path / "other-machine", project.runner)  # the same config, another checkout and key
    other.root.mkdir()
    shutil.copy(project.root / "freigabe.toml", other.root / "freigabe.toml")
    assert other.deploy("staging", project.build("v1").path).exit_code == 0
    live = project.current()
    result = project.cli("plan", "staging", "--bundle", str(project.build("v2").path))
    assert result.exit_code == ExitCode.LEDGER, result.output
    assert "a key freigabe.toml does not trust" in result.output and "Traceback" not in result.output
    assert project.current() == live
    other_public = _public(other.cli("ledger", "key").raw)
    _trust(project, other_public)
    assert project.deploy("staging", project.build("v2").path).exit_code == 0


def test_inside_github_actions_a_deploy_without_the_secret_is_one_sentence(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = project.build("v1")
    plan = project.plan_id("staging", bundle.path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("FREIGABE_LEDGER_KEY", raising=False)
    shutil.rmtree(project.root / ".freigabe" / "keys", ignore_errors=True)
    again = project.cli("plan", "staging", "--bundle", str(bundle.path))  # reading needs no key of its own
    assert again.exit_code == 0, again.output
    assert not (project.root / ".freigabe" / "keys").exists()
    result = project.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "inside GitHub Actions the ledger is signed with the key in FREIGABE_LEDGER_KEY" in result.output
    assert "Traceback" not in result.output
    assert not (project.deploy_path("staging") / ".freigabe" / "ledger.jsonl").exists()


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_a_trusted_key_that_is_not_a_key_is_a_config_error(project: Project, bad: str) -> None:
    _trust(project, bad)
    result = project.cli("status", "staging")
    assert result.exit_code == ExitCode.CONFIG
    assert "is not an Ed25519 public key" in result.output and "freigabe ledger key" in result.output


def test_a_damaged_key_file_is_named(project: Project) -> None:
    key_file = project.root / ".freigabe" / "keys" / "ledger_ed25519"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("garbage\n")
    os.chmod(key_file, 0o600)
    result = project.cli("ledger", "key")
    assert result.exit_code == ExitCode.CONFIG and f"{key_file} is not the base64" in result.output


def test_hosts_opening_their_sessions_at_once_share_one_new_key(tmp_path: Path) -> None:
    """A fleet's first deploy: every host's session asks for the key at the same moment."""
    import threading

    from freigabe.adapters.ledger_keys import local_signer

    ids: list[str] = []
    errors: list[Exception] = []

    def ask() -> None:
        try:
            ids.append(local_signer(tmp_path).id)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(ids) == 16 and len(set(ids)) == 1
