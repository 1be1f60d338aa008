"""Fixtures: a project with the sample app, local targets, real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from freigabe import failpoints
from freigabe.adapters.bundle import BundleInfo
from freigabe.adapters.demo_webserver import ReleaseHandler, ReleaseServer
from freigabe.cli import app
from freigabe.config import LoadedConfig, load_config
from freigabe.demo import app as demo_app
from freigabe.usecases.build import build

from .support.mariadb import MariaDB, start_mariadb
from .support.secret_sweep import leaks
from .support.sshd import Sshd, start_sshd

TOKEN = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0-secret"
# Every secret the tests hand to freigabe; none may appear in anything it writes or prints
# (checked over the whole run by `pytest_sessionfinish` below).
SUITE_SECRETS = (
    TOKEN,
    "ghp_e2eDriverToken0123456789abcdef",
    "ghp_testtoken123456",
    "ghp_fixtoken123456",
    "base64:c2VjcmV0LWFwcC1rZXktMTIzNDU2Nzg5MA==",
    "hunter2",
)


@pytest.fixture(scope="session", autouse=True)
def _record_cli_output(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Everything the CLI prints in this run goes to a file the secret sweep reads."""
    record = tmp_path_factory.getbasetemp() / f"cli-output-{os.getpid()}.txt"
    invoke = CliRunner.invoke

    def recording(self: CliRunner, *args: Any, **kwargs: Any) -> Any:
        result = invoke(self, *args, **kwargs)
        with record.open("a", encoding="utf-8") as out:
            out.write(result.output)
        return result

    CliRunner.invoke = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        CliRunner.invoke = invoke  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite-wide grep for secrets (on the controller, over every worker's files)."""
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    found = leaks(factory.getbasetemp(), SUITE_SECRETS)
    if found:
        print("\nsecrets in what freigabe wrote or printed:\n  " + "\n  ".join(found[:40]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class ScriptedHandler(ReleaseHandler):
    """The demo server, plus per-release misbehaviour read from `public/_respond.json`:
    `{"/health": {"status": 500}}` or `{"/health": {"delay": 3}}` — so a *release* decides
    how it answers, as a real broken app would."""

    def do_GET(self) -> None:
        current = self.server.deploy_path / "current"
        script = current / "public" / "_respond.json"
        path = self.path.split("?")[0]
        if script.is_file():
            rules = json.loads(script.read_text())
            rule = rules.get(path)
            if rule:
                time.sleep(rule.get("delay", 0))
                if "status" in rule or "body" in rule:
                    body = rule.get("body", "scripted\n").encode()
                    self._send(
                        rule.get("status", 200),
                        body,
                        "application/json",
                        release=os.path.basename(os.path.realpath(current)),
                    )
                    return
        super().do_GET()


class ScriptedServer(ReleaseServer):
    def __init__(self, deploy_path: Path) -> None:
        super().__init__(deploy_path, protected=("/health",))
        self.RequestHandlerClass = ScriptedHandler


@dataclass(frozen=True)
class CliResult:
    """A finished command; `output` with Rich's line wrapping folded back into spaces."""

    exit_code: int
    raw: str

    @property
    def output(self) -> str:
        return " ".join(self.raw.split(" ")).replace(" \n", " ").replace("\n", " ")


@dataclass
class Project:
    root: Path
    runner: CliRunner
    servers: dict[str, ScriptedServer] = field(default_factory=dict)
    builds: int = 0

    @property
    def app(self) -> Path:
        return self.root / "app"

    def loaded(self) -> LoadedConfig:
        return load_config(self.root / "freigabe.toml")

    def deploy_path(self, env: str = "staging") -> Path:
        return self.root / "servers" / env

    def write(
        self,
        version: str = "v1",
        healthy: bool = True,
        respond: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> None:
        demo_app.write_app(self.app, version, healthy)
        script = self.app / "public" / "_respond.json"
        if respond:
            script.write_text(json.dumps(respond))
        elif script.exists():
            script.unlink()
        for rel in drop:
            (self.app / rel).unlink()

    def build(self, version: str = "v1", healthy: bool = True, **kw: Any) -> BundleInfo:
        self.write(version, healthy, **kw)
        self.builds += 1
        return build(self.loaded(), sha=f"{self.builds:02d}{version}".ljust(40, "0")).bundle

    def cli(self, *args: str, input: str | None = None) -> CliResult:
        result = self.runner.invoke(
            app, [*args, "--config", str(self.root / "freigabe.toml")], input=input, catch_exceptions=False
        )
        return CliResult(result.exit_code, result.output)

    def plan_id(self, env: str, bundle: Path) -> str:
        result = self.cli("plan", env, "--bundle", str(bundle), "--json")
        assert result.exit_code == 0, result.output
        return str(json.loads(result.raw)["id"])

    def deploy(self, env: str, bundle: Path, phrase: str | None = None) -> Any:
        plan = self.plan_id(env, bundle)
        phrase = phrase or {"staging": "STAGING-TEST FREIGEGEBEN", "production": "PROD-DEPLOY FREIGEGEBEN"}[env]
        return self.cli("deploy", env, "--plan", plan, "--approve", phrase)

    def current(self, env: str = "staging") -> str | None:
        link = self.deploy_path(env) / "current"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def served(self, env: str = "staging") -> str:
        """What the web server actually answers: the release named in /REVISION."""
        return httpx.get(f"{self.servers[env].url}/REVISION", timeout=5).text.strip()

    def served_version(self, env: str = "staging") -> str:
        return httpx.get(f"{self.servers[env].url}/index.html", timeout=5).text

    def ledger(self, env: str = "staging") -> list[dict[str, Any]]:
        """The target's ledger entries."""
        path = self.deploy_path(env) / ".freigabe" / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def releases(self, env: str = "staging") -> list[str]:
        return sorted(p.name for p in (self.deploy_path(env) / "releases").iterdir())

    def marks(self, env: str = "staging") -> dict[str, str]:
        folder = self.deploy_path(env) / ".freigabe" / "marks"
        return {p.stem: json.loads(p.read_text())["mark"] for p in folder.iterdir()} if folder.is_dir() else {}

    def use_ssh(self, sshd: Sshd, env: str = "staging") -> None:
        """Reach `env` through the real sshd on loopback instead of the local transport."""
        toml = self.root / "freigabe.toml"
        text = toml.read_text().replace(
            f'[environments.{env}]\ntarget = "local"', f'[environments.{env}]\ntarget = "{sshd.target}"', 1
        )
        toml.write_text(text + f"\n[environments.{env}.ssh]\n{sshd.toml()}")
        assert self.loaded().config.environments[env].target == sshd.target


def _config(root: Path, urls: dict[str, str]) -> str:
    text = demo_app.config_text(root, urls, "1s")
    # Tests want quick failures: fewer health attempts, short timeouts.
    return (
        text.replace("attempts = 3", "attempts = 2")
        .replace('interval = "0.3s"', 'interval = "0.1s"')
        .replace('timeout = "2s"', 'timeout = "1s"')
        .replace('timeout = "5s"', 'timeout = "2s"')
    )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One real OpenSSH server for the whole session (fails, never skips, when missing)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """One real MariaDB server for the whole session (fails, never skips, when missing)."""
    server = start_mariadb()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setenv("HEALTHCHECK_TOKEN", TOKEN)
    monkeypatch.setenv("FREIGABE_ACTOR", "tester")
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, CliRunner())
    for env in ("staging", "production"):
        demo_app.write_shared(proj.deploy_path(env), TOKEN)
        proj.servers[env] = ScriptedServer(proj.deploy_path(env))
        proj.servers[env].start()
    (root / "freigabe.toml").write_text(_config(root, {n: s.url for n, s in proj.servers.items()}))
    try:
        yield proj
    finally:
        for server in proj.servers.values():
            server.stop()


@pytest.fixture(autouse=True)
def _no_armed_failpoints() -> Iterator[None]:
    yield
    failpoints.disarm_all()


@pytest.fixture(params=["local", "ssh"])
def live(request: pytest.FixtureRequest, project: Project) -> Project:
    """Staging serves a good v1 release, reached locally or through a real sshd."""
    if request.param == "ssh":
        project.use_ssh(request.getfixturevalue("sshd"))
    bundle = project.build("v1")
    result = project.deploy("staging", bundle.path)
    assert result.exit_code == 0, result.output
    assert "v1" in project.served_version()
    return project


@pytest.fixture
def live_ssh(project: Project, sshd: Sshd) -> Project:
    """Staging, reached through the real sshd, serves a good v1 release."""
    project.use_ssh(sshd)
    bundle = project.build("v1")
    result = project.deploy("staging", bundle.path)
    assert result.exit_code == 0, result.output
    return project


@pytest.fixture
def deployed(project: Project) -> Project:
    """A project whose staging already serves a good v1 release."""
    bundle = project.build("v1")
    result = project.deploy("staging", bundle.path)
    assert result.exit_code == 0, result.output
    assert "v1" in project.served_version()
    return project


def tree_snapshot(path: Path) -> dict[str, str]:
    """Every path under `path` with its link target or content digest."""
    import hashlib

    snap = {}
    for item in sorted(path.rglob("*")):
        rel = str(item.relative_to(path))
        if item.is_symlink():
            snap[rel] = "-> " + os.readlink(item)
        elif item.is_file():
            snap[rel] = hashlib.sha256(item.read_bytes()).hexdigest()
        else:
            snap[rel] = "dir"
    return snap


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)
