"""Typed steps: for every action a plan can hold, the model of its arguments. Pure.

A `Step` keeps `action` and `args` as plain data (that is what the plan id covers and what
`plan --json` shows); the pipeline builds `args` from these models, and the engine validates
them with the same model before its handler runs. `ACTIONS` is the complete set: a test
asserts that each has exactly one handler in `freigabe.engine.actions`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Credentials(Args):
    """Names of environment variables, never values; sent only to `origin`."""

    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    origin: str = ""  # the environment's URL: credentials go to its scheme, host and port only


class TargetCheck(Args):
    deploy_path: str
    needs_bytes: int = 0


class HealthCheck(Credentials):
    name: str
    url: str
    expect_status: int = 200
    expect_json: dict[str, Any] | None = None
    body_contains: str | None = None
    attempts: int = 1
    interval: float = 5.0
    timeout: float = 5.0


class UrlCheck(Args):
    url: str
    had_release: bool
    health: list[HealthCheck] = Field(default_factory=list)


class BackupCreate(Args):
    dir: str
    root: str
    exclude: list[str]
    db_dump: list[str] | None = None
    files: list[str] = Field(default_factory=list)
    keep: int = 5
    best_effort: bool = False
    timeout: float = 1800.0


class BundleUpload(Args):
    name: str
    remote: str  # kept as remote + ".part" until bundle.verify
    sha256: str
    into: str  # the hidden partial folder it is unpacked into on arrival


class BundleVerify(Args):
    remote: str
    sha256: str


class ReleaseExtract(Args):
    bundle: str
    release: str
    release_dir: str
    partial_dir: str
    manifest: str
    revision_file: str
    shared: list[str] = Field(default_factory=list)
    preflight: bool = False


class SharedLink(Args):
    release_dir: str
    shared_dir: str
    files: list[str] = Field(default_factory=list)
    dirs: list[str] = Field(default_factory=list)
    create_dirs: list[str] = Field(default_factory=list)


class GateFiles(Args):
    root: str
    files: list[str] = Field(default_factory=list)
    dirs: list[str] = Field(default_factory=list)


class Command(Args):
    argv: list[str]
    cwd: str
    timeout: float


class CheckLink(Args):
    path: str
    into: str


class MigrationsPending(Args):
    argv: list[str]
    cwd: str
    timeout: float = 120.0


class Switch(Args):
    link: str
    target: str
    release: str


class Probe(Credentials):
    url: str
    source: Literal["body", "header", "json"] = "body"
    header: str = "X-Release"
    json_key: str = "release"


class WaitReady(Args):
    grace: float = 0.0
    timeout: float = 60.0
    interval: float = 0.5
    missing_after: float = 3.0
    expect_release: str
    probe: Probe | None = None


class AssetsCheck(Credentials):
    manifest_url: str | None = None
    base_url: str
    extra_urls: list[str] = Field(default_factory=list)
    timeout: float = 10.0


class ReleaseMark(Args):
    release: str
    mark: Literal["good", "bad"]


class Cleanup(Args):
    """Retention after a deploy, or `freigabe cleanup`: old releases and crash leftovers."""

    keep: int
    protect: list[str] = Field(default_factory=list)  # releases never removed (current, previous good, …)
    remove: list[str] = Field(default_factory=list)  # releases named by the plan (`freigabe cleanup`)
    leftovers: bool = True  # partial releases, temporary links and files no live run owns


class ReleaseRemove(Args):
    release: str


class LockClear(Args):
    run: str  # only the lock of this run is cleared
    require_dead: bool = True  # refused while the lock's owner is alive


class GithubProtect(Args):
    branch: str
    body: dict[str, Any]


class ScratchRemove(Args):
    """Temporary folders of a run under `.freigabe/` (the pre-flight's copy): removed however it ends."""

    paths: list[str]


class BackupVerify(Args):
    folder: str


class DbRestore(Args):
    argv: list[str]
    dump: str
    timeout: float = 3600.0


class FilesRestore(Args):
    archive: str
    dest: str
    member: str = "./shared"
    timeout: float = 3600.0


SECRET_KEYS = ("bearer_token_env", "basic_auth_password_env")


def env_names_in(value: Any) -> list[str]:
    """Every environment variable named as a secret anywhere in step arguments, in order."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str) and item and item not in found:
                found.append(item)
            else:
                found += [n for n in env_names_in(item) if n not in found]
    elif isinstance(value, list):
        for item in value:
            found += [n for n in env_names_in(item) if n not in found]
    return found


ACTIONS: dict[str, type[Args]] = {
    "target.check": TargetCheck,
    "url.check": UrlCheck,
    "backup.create": BackupCreate,
    "bundle.upload": BundleUpload,
    "bundle.verify": BundleVerify,
    "release.extract": ReleaseExtract,
    "shared.link": SharedLink,
    "gate.files": GateFiles,
    "command": Command,
    "check.link": CheckLink,
    "migrations.pending": MigrationsPending,
    "switch": Switch,
    "wait.ready": WaitReady,
    "health.check": HealthCheck,
    "assets.check": AssetsCheck,
    "release.mark": ReleaseMark,
    "cleanup": Cleanup,
    "release.remove": ReleaseRemove,
    "lock.clear": LockClear,
    "github.protect": GithubProtect,
    "scratch.remove": ScratchRemove,
    "backup.verify": BackupVerify,
    "db.restore": DbRestore,
    "files.restore": FilesRestore,
}

Action = Literal[
    "target.check",
    "url.check",
    "backup.create",
    "bundle.upload",
    "bundle.verify",
    "release.extract",
    "shared.link",
    "gate.files",
    "command",
    "check.link",
    "migrations.pending",
    "switch",
    "wait.ready",
    "health.check",
    "assets.check",
    "release.mark",
    "cleanup",
    "release.remove",
    "lock.clear",
    "github.protect",
    "scratch.remove",
    "backup.verify",
    "db.restore",
    "files.restore",
]
