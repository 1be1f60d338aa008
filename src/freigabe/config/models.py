"""The shape of `freigabe.toml`, validated with pydantic.

Unknown keys are errors (a misspelt key must not silently fall back to a default).
Commands are argv lists, never shell strings: a step says exactly what it runs.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from freigabe.core.urls import origin, same_origin

# Folders a deploy path may never be: freigabe creates releases/, shared/, current and .freigabe in it.
SYSTEM_FOLDERS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",  # noqa: S108 — named to be refused, not used
        "/usr",
        "/var",
        "/var/www",
        "/var/lib",
        "/var/log",
        "/usr/local",
        "/usr/share",
    }
)
ENV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: object) -> float:
    """`"1h"`, `"30m"`, `"1h30m"`, `"2.5s"` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '30m' or '1h'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        match = _DURATION.match(text)
        if text and match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise ValueError(f"{value!r} is not a duration; write e.g. '90s', '30m', '1h' or '1h30m'")


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _check_argv(argv: list[str]) -> list[str]:
    if not argv or not argv[0]:
        raise ValueError("a command must be a non-empty list such as ['php', 'artisan', 'migrate']")
    return argv


Argv = Annotated[list[str], AfterValidator(_check_argv)]


def _check_relative(path: str) -> str:
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a path inside the release, e.g. 'public/index.php'")
    return path.rstrip("/")


RelPath = Annotated[str, AfterValidator(_check_relative)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectConfig(Model):
    name: str = "app"


class BuildConfig(Model):
    source: str = "."
    output_dir: str = "dist"
    commands: list[Argv] = Field(default_factory=list)
    checks: list[Argv] = Field(default_factory=list)
    finalize: list[Argv] = Field(default_factory=list)
    # The preset's exclusions (replace them here, explicitly) and yours (they extend the list).
    # `.git`, `.freigabe`, `.env` and `.env.*` are excluded always: see core/bundle_policy.py.
    default_exclude: list[str] = Field(default_factory=lambda: ["node_modules", "tests"])
    exclude: list[str] = Field(default_factory=list)
    allow_secrets: list[RelPath] = Field(default_factory=list)  # exact paths that may ship although they look secret
    keep_bundles: int = Field(default=10, ge=1)
    retention_days: int = Field(default=30, ge=1)
    command_timeout: Duration = 1800.0


class GatesConfig(Model):
    required_files: list[RelPath] = Field(default_factory=list)
    required_dirs: list[RelPath] = Field(default_factory=list)
    commands: list[Argv] = Field(default_factory=list)
    production_commands: list[Argv] = Field(default_factory=list)
    command_timeout: Duration = 120.0


ReloadPolicy = Literal["warn", "rollback"]


class DeployConfig(Model):
    shared_files: list[RelPath] = Field(default_factory=list)
    shared_dirs: list[RelPath] = Field(default_factory=list)
    create_shared_dirs: list[RelPath] = Field(default_factory=list)
    migrate: list[Argv] = Field(default_factory=list)
    cache_before: list[Argv] = Field(default_factory=list)
    cache_after: list[Argv] = Field(default_factory=list)
    reload: list[Argv] = Field(default_factory=list)
    on_reload_failure: ReloadPolicy = "rollback"
    # Fills `{php_fpm_service}` in reload commands; unset: found on the target when the plan is made.
    php_fpm_service: str | None = None
    revision_file: RelPath = "REVISION"
    command_timeout: Duration = 600.0


class HealthCheck(Model):
    name: str
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_json: dict[str, Any] | None = None
    body_contains: str | None = None
    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    attempts: int = Field(default=6, ge=1, le=1000)
    interval: Duration = 5.0
    timeout: Duration = 5.0

    @field_validator("expect_status")
    @classmethod
    def _no_auth_failures(cls, status: int) -> int:
        if status in (401, 403):
            raise ValueError(
                "a health check that expects 401/403 cannot fail when auth is wrong; "
                "expect 200 and configure bearer_token_env or basic_auth_user instead"
            )
        return status

    @model_validator(mode="after")
    def _basic_auth_pair(self) -> HealthCheck:
        if (self.basic_auth_user is None) != (self.basic_auth_password_env is None):
            raise ValueError("basic_auth_user and basic_auth_password_env go together; set both")
        return self


class ReleaseProbe(Model):
    """Where the live release names itself, so health proves the *new* release answers."""

    url: str = "/REVISION"
    source: Literal["body", "header", "json"] = "body"
    header: str = "X-Release"
    json_key: str = "release"
    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None


class ReadinessConfig(Model):
    grace: Duration = 0.0  # the fixed wait used only where there is no release probe
    timeout: Duration = 60.0
    interval: Duration = 0.5
    probe_missing_after: Duration = 3.0  # a probe answering 404 this long fails at once (no 60 s wait)
    probe: ReleaseProbe | None = Field(default_factory=ReleaseProbe)


class AssetsConfig(Model):
    manifest: str | None = None
    base: str = "/build/"
    extra: list[str] = Field(default_factory=list)
    timeout: Duration = 10.0
    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None


class BackupConfig(Model):
    enabled: bool = True
    dir: str | None = None
    exclude: list[str] = Field(default_factory=list)
    db_dump: Argv | None = None  # writes the dump to stdout, e.g. ["mysqldump", "--single-transaction", "app"]
    db_restore: Argv | None = None  # reads a dump on stdin, e.g. ["mysql", "app"] (used by `freigabe restore`)
    files: list[str] = Field(default_factory=list)  # absolute paths kept too, e.g. the nginx site config
    keep: int = Field(default=5, ge=1)
    best_effort: bool = False
    timeout: Duration = 1800.0


class ServerAuditConfig(Model):
    """What the server audit may run or read on the target (all optional)."""

    nginx_test: Argv | None = None  # e.g. ["sudo", "-n", "nginx", "-t"]
    nginx_config: list[str] = Field(default_factory=list)  # site files to read for the root/fastcgi set-up
    # PHP-FPM main config files to read for process_control_timeout; empty: those of the running masters
    php_fpm_config: list[str] = Field(default_factory=list)
    migrations_status: Argv | None = None  # run in the live release; lines with "Pending" are pending
    # -- migrations in the plan (see core/migrations.py): run in the pre-flight copy of the bundle
    migrations_pretend: Argv | None = None  # prints each pending migration's SQL, e.g. artisan migrate --pretend
    migrations_tables: Argv | None = None  # row counts as JSON (artisan db:show --counts --json), when one decides
    migrations_dialect: Literal["mysql", "postgres", "sqlite"] = "mysql"  # mysql covers MariaDB
    token_key: str = "HEALTHCHECK_TOKEN"  # noqa: S105 — the key's name in the target's .env


class SshConfig(Model):
    """How to reach `ssh://` targets. Host keys are always checked against known_hosts."""

    key_file: str | None = None  # default: the ssh agent, then ~/.ssh/id_*
    known_hosts: str = "~/.ssh/known_hosts"
    jump: str | None = None  # ssh://user@bastion:22
    connect_timeout: Duration = 15.0
    keepalive: Duration = 15.0


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
KNOWN_ROLES = ("web", "worker", "migrate")  # web: serves HTTP; migrate: runs migrations and the DB dump


def _role_names(roles: list[str]) -> list[str]:
    for role in roles:
        if not ROLE_NAME.fullmatch(role):
            raise ValueError(
                f"role {role!r} must be a lower-case word such as 'web', 'worker', 'migrate' or one of your own"
            )
    return list(dict.fromkeys(roles))


Roles = Annotated[list[str], AfterValidator(_role_names)]


class HostConfig(Model):
    """One host of a fleet (`[environments.production.hosts.web1]`). Unset fields come from the
    environment: `target` defaults to `ssh://<name>`, the SSH settings to `[environments.X.ssh]`."""

    target: str | None = None  # ssh://user@host:port (or "local")
    roles: Roles = Field(default_factory=lambda: ["web"])
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    jump: str | None = None  # ssh://user@bastion:22
    key_file: str | None = None
    url: str | None = None  # where this host answers HTTP itself (its checks go here, not through the balancer)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} must be an http:// or https:// URL with a host, such as 'http://10.0.0.11'")
            return url.rstrip("/")
        return url


class FleetConfig(Model):
    """How a deploy moves through a fleet; the plan shows all of it to the approver."""

    strategy: Literal["all-at-once", "canary", "waves"] = "all-at-once"
    canary: str | None = None  # the host switched and verified first (default: the first web host)
    wave_size: int | str = "50%"  # hosts per wave, or a percentage of the fleet ("25%")
    on_unreachable: Literal["abort", "skip"] = "abort"  # skip: leave out a host unreachable before the switch
    concurrency: int = Field(default=8, ge=1, le=256)  # hosts prepared at once

    @field_validator("wave_size")
    @classmethod
    def _wave(cls, size: int | str) -> int | str:
        if isinstance(size, int):
            if size < 1:
                raise ValueError("wave_size must be at least 1 host")
            return size
        match = re.fullmatch(r"\s*(\d{1,3})\s*%\s*", size)
        if not match or not 1 <= int(match.group(1)) <= 100:
            raise ValueError(f"wave_size {size!r} must be a number of hosts or a percentage such as '25%'")
        return f"{int(match.group(1))}%"


class PromotionConfig(Model):
    requires_stable_in: str
    stable_for: Duration = 3600.0


class EnvironmentConfig(Model):
    target: str | list[str] = "local"
    deploy_path: str
    url: str
    keep_releases: int = Field(default=5, ge=2)
    approval_phrase: str | None = None
    health: list[HealthCheck] = Field(default_factory=list)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    reload: list[Argv] | None = None
    on_reload_failure: ReloadPolicy | None = None
    backup: BackupConfig = Field(default_factory=BackupConfig)
    promotion: PromotionConfig | None = None
    server: ServerAuditConfig = Field(default_factory=ServerAuditConfig)
    ssh: SshConfig = Field(default_factory=SshConfig)
    lock_stale_after: Duration = 7200.0
    # A fleet: hosts by name, or an Ansible inventory ("ansible:inventory.yml", a group per environment).
    hosts: dict[str, HostConfig] = Field(default_factory=dict)
    inventory: str | None = None
    inventory_group: str | None = None  # default: the environment's name
    host_url: str | None = None  # each host's own URL, e.g. "http://{host}:8080" ({host}: its address, {name})
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, hosts: dict[str, HostConfig]) -> dict[str, HostConfig]:
        for name in hosts:
            if not HOST_NAME.fullmatch(name):
                raise ValueError(f"host name {name!r} must be letters, digits, '.', '-', '_' or ':' (e.g. 'web1')")
        return hosts

    @field_validator("inventory")
    @classmethod
    def _inventory(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("ansible:") and value[len("ansible:") :].strip()):
            raise ValueError(f"inventory {value!r} must name an Ansible inventory file: 'ansible:inventory.yml'")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_hosts(self) -> EnvironmentConfig:
        ways = [
            w
            for w, used in (
                ("target", "target" in self.model_fields_set),
                ("hosts", bool(self.hosts)),
                ("inventory", self.inventory is not None),
            )
            if used
        ]
        if len(ways) > 1:
            raise ValueError(
                f"give the hosts one way only, not {' and '.join(ways)}: a target list, [hosts] or an inventory"
            )
        return self

    @field_validator("deploy_path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"{path!r} must be an absolute path such as '/var/www/app'")
        clean = posixpath.normpath(path)
        if ".." in path.split("/") or clean != (path.rstrip("/") or "/"):
            raise ValueError(f"{path!r} must be a plain absolute path (no '..', no '//'), such as '/var/www/app'")
        if clean in SYSTEM_FOLDERS or (clean.count("/") < 2 and clean in ("/srv", "/opt", "/home", "/var")):
            raise ValueError(
                f"{path!r} is a system folder; freigabe would create releases/, shared/ and current in it — "
                "give the app its own folder, such as '/var/www/app'"
            )
        return clean

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must be an http:// or https:// URL with a host")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _checks_stay_on_the_origin(self) -> EnvironmentConfig:
        """Health, readiness and asset URLs are paths on the environment's URL, or full URLs on its
        own origin: a check never sends the environment's credentials anywhere else."""
        urls = [("health", c.url) for c in self.health]
        urls += [("readiness.probe", self.readiness.probe.url)] if self.readiness.probe else []
        urls += [("assets.manifest", self.assets.manifest)] if self.assets.manifest else []
        urls += [("assets.base", self.assets.base), *(("assets.extra", u) for u in self.assets.extra)]
        for where, url in urls:
            if "://" in url and not same_origin(url, self.url):
                raise ValueError(
                    f"{where} {url!r} is not on the environment's origin ({origin(self.url)}); write a path "
                    f"such as '/health', or a URL on {self.url}"
                )
            if "://" not in url and not url.startswith("/"):
                raise ValueError(f"{where} {url!r} must be a path starting with '/' or a full http(s) URL")
        return self

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)


ImpactLevel = Literal["P0", "P1", "P2"]


def _impacts(*levels: ImpactLevel) -> list[ImpactLevel]:
    return list(levels)


class DecisionPolicy(Model):
    """Default: any P0 failure → NO-GO; a P1 failure → NO-GO for production and CONDITIONAL
    GO elsewhere; `pending` counts as a failure for production (as a condition elsewhere);
    P2 failures and warnings never block but are listed."""

    no_go: list[ImpactLevel] = Field(default_factory=lambda: _impacts("P0"))
    no_go_production: list[ImpactLevel] = Field(default_factory=lambda: _impacts("P0", "P1"))
    pending_is_fail_for_production: bool = True
    production_environments: list[str] = Field(default_factory=lambda: ["production"])
    # The reference plan's abort criteria: these failures stop every deploy whatever their impact.
    always_block: list[str] = Field(
        default_factory=lambda: [
            "server.token-digest",
            "server.unrecorded-switch",
            "server.url",
            "server.live-unverified",
        ]
    )


class BranchPolicy(Model):
    required_checks: list[str] = Field(default_factory=list)
    min_checks: int = Field(default=0, ge=0)
    require_reviews: bool = False
    require_up_to_date: bool = False


def _default_branches() -> dict[str, BranchPolicy]:
    # The reference plan: main needs its 6 required checks, develop ≥4 checks and reviews.
    return {
        "main": BranchPolicy(
            required_checks=[
                "build-frontend",
                "build-backend",
                "static-analysis",
                "run-tests",
                "create-deployment-bundle",
                "check-staging",
            ]
        ),
        "develop": BranchPolicy(min_checks=4, require_reviews=True, require_up_to_date=True),
    }


class LogGate(Model):
    """A line in the deploy run's log that proves a gate passed (regular expressions)."""

    name: str
    seen: str  # must match at least `count` log lines
    count: int = Field(default=1, ge=1)
    contradicted: str | None = None  # a line that says the opposite (a failed gate, a rollback)

    @field_validator("seen", "contradicted")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{pattern!r} is not a regular expression ({exc}); escape ( ) [ ] . with a backslash"
                ) from None
        return pattern


class PipelineDeploy(Model):
    """How `freigabe e2e ENV` deploys ENV: the workflow it dispatches and its inputs."""

    workflow: str  # file name, e.g. "deploy-staging.yml"
    ref: str | None = None  # default: [github.pipeline] ref
    # Values may name {build_run_id}, {sha}, {ref} and {environment}.
    inputs: dict[str, str] = Field(default_factory=lambda: {"build_run_id": "{build_run_id}"})
    ledger_artifact: str | None = "deployment-ledger-{run_id}"  # None: the workflow keeps no ledger
    gates: list[LogGate] | None = None  # default: the lines of `log_preset`


class PipelineConfig(Model):
    """`[github.pipeline]`: the team's build and deploy workflows, as `freigabe e2e` drives them."""

    build_workflow: str = "build-artifacts.yml"
    ref: str = "main"
    build_inputs: dict[str, str] = Field(default_factory=dict)
    bundle_artifact: str = "deployment-bundle-{sha}"
    deploy: dict[str, PipelineDeploy] = Field(default_factory=dict)
    log_preset: Literal["reference", "freigabe"] = "reference"
    poll_interval: Duration = 5.0
    queue_timeout: Duration = 600.0  # a run still queued after this is given up
    build_timeout: Duration = 1800.0
    deploy_timeout: Duration = 1800.0
    review_timeout: Duration = 3600.0  # waiting for an environment reviewer


class CiConfig(Model):
    """`[github.ci]`: what `freigabe ci init` writes into the workflows."""

    runs_on: str = "ubuntu-24.04"
    python: str = "3.11"
    install: str = "freigabe==0.1.0"  # the pip requirement the jobs install
    branches: list[str] = Field(default_factory=lambda: ["main"])
    # Per environment: "reviewers" (the GitHub Environment's required reviewers approve the plan of the
    # same run) or "phrase" (a second dispatch with the plan id and the phrase). Unset: asked of GitHub.
    approval: dict[str, Literal["reviewers", "phrase"]] = Field(default_factory=dict)
    known_hosts_secret: str = "FREIGABE_KNOWN_HOSTS"  # noqa: S105 — a secret's name
    ssh_key_secret: str = "FREIGABE_SSH_KEY"  # noqa: S105 — a secret's name
    # the deploy job signs ledger entries with this secret's key (`freigabe ledger key --new FILE`)
    ledger_key_secret: str = "FREIGABE_LEDGER_KEY"  # noqa: S105 — a secret's name


class GitHubConfig(Model):
    repo: str  # owner/name
    api_url: str = "https://api.github.com"
    token_env: list[str] = Field(default_factory=lambda: ["GITHUB_TOKEN", "GH_TOKEN"])
    branches: dict[str, BranchPolicy] = Field(default_factory=_default_branches)
    build_workflow: str = "build-artifacts.yml"
    deploy_workflows: list[str] = Field(default_factory=lambda: ["deploy-staging.yml", "deploy-production.yml"])
    recent_runs: int = Field(default=5, ge=1, le=500)
    failed_in_a_row: int = Field(default=3, ge=1)
    bundle_prefix: str = "deployment-bundle-"
    timeout: Duration = 15.0
    pipeline: PipelineConfig | None = None
    ci: CiConfig = Field(default_factory=CiConfig)

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, repo: str) -> str:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise ValueError(f"{repo!r} must be owner/name, e.g. 'acme/shop'")
        return repo


class LedgerConfig(Model):
    # Public keys (base64, as `freigabe ledger key` prints them) of every machine or CI secret that
    # deploys: an entry signed by any other key fails `ledger verify` and stops a deploy.
    trusted_keys: list[str] = Field(default_factory=list)

    @field_validator("trusted_keys")
    @classmethod
    def _public_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                raw = base64.b64decode(key, validate=True)
            except (ValueError, binascii.Error):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    f"{key[:16]!r}… is not an Ed25519 public key (base64 of 32 bytes); copy the line "
                    "`freigabe ledger key` prints"
                )
        return keys


class Config(Model):
    preset: Literal["laravel", "generic"] = "generic"
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    github: GitHubConfig | None = None
    policy: DecisionPolicy = Field(default_factory=DecisionPolicy)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)

    @field_validator("environments", mode="before")
    @classmethod
    def _names_are_identifiers(cls, environments: Any) -> Any:
        for name in environments if isinstance(environments, dict) else ():
            if not ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"environment name {name!r} must be a short identifier (letters, digits, '-' and '_', "
                    "starting with a letter), such as 'staging'"
                )
        return environments

    @model_validator(mode="after")
    def _promotion_sources_exist(self) -> Config:
        for name, env in self.environments.items():
            if env.promotion and env.promotion.requires_stable_in not in self.environments:
                raise ValueError(
                    f"environments.{name}.promotion.requires_stable_in names "
                    f"{env.promotion.requires_stable_in!r}, which is not a configured environment"
                )
        pipeline = self.github.pipeline if self.github else None
        for name in pipeline.deploy if pipeline else {}:
            if name not in self.environments:
                raise ValueError(
                    f"github.pipeline.deploy.{name} names an environment that is not configured; "
                    f"add [environments.{name}] or remove [github.pipeline.deploy.{name}]"
                )
        return self

    def environment(self, name: str) -> EnvironmentConfig:
        from freigabe.errors import UsageError

        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise UsageError(
                f"environment {name!r} is not in freigabe.toml (configured: {known}); "
                f"add an [environments.{name}] table or pick one of those"
            ) from None


DEFAULT_PHRASES = {
    "staging": "STAGING-TEST FREIGEGEBEN",
    "production": "PROD-DEPLOY FREIGEGEBEN",
}
FIX_PHRASE = "PROD-FIX FREIGEGEBEN"


def approval_phrase(name: str, env: EnvironmentConfig) -> str:
    if env.approval_phrase:
        return env.approval_phrase
    return DEFAULT_PHRASES.get(name, f"DEPLOY-{name.upper()} FREIGEGEBEN")
