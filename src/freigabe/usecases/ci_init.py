"""`freigabe ci init`: write the build and deploy workflows in which freigabe is the deploy step.

How each environment's deploy is approved: as given (`--approval ENV=reviewers|phrase`), else
as `[github.ci] approval` says, else asked of GitHub — the environment's required reviewers
where the repository has them (a paid feature on private repositories), the phrase otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freigabe.adapters.github import GitHub, GitHubError
from freigabe.adapters.github_actions import Actions
from freigabe.config import LoadedConfig
from freigabe.config.models import Config
from freigabe.core.ci_workflows import Approval, generate
from freigabe.core.secret_names import environment_secret_names
from freigabe.errors import UsageError


@dataclass
class Written:
    folder: Path
    files: list[str]
    approvals: dict[str, Approval]
    why: dict[str, str]  # environment → how its approval was chosen
    secrets: list[str]  # the repository secrets the workflows read
    untrusted_ledger: bool  # [ledger] trusted_keys is empty: the CI key is trusted nowhere yet


def _ask_github(loaded: LoadedConfig, env_name: str) -> tuple[Approval, str]:
    assert loaded.config.github is not None
    try:
        with GitHub(loaded.config.github) as gh:
            body = Actions(gh).environment(env_name)
    except GitHubError as exc:
        return "phrase", f"GitHub could not be asked ({exc.message})"
    if body is None:
        return "phrase", f"GitHub has no environment {env_name} yet"
    rules = [r for r in body.get("protection_rules") or [] if r.get("type") == "required_reviewers"]
    if rules and rules[0].get("reviewers"):
        return "reviewers", f"environment {env_name} has required reviewers on GitHub"
    return "phrase", f"environment {env_name} has no required reviewers on GitHub"


def choose_approvals(loaded: LoadedConfig, given: dict[str, Approval]) -> tuple[dict[str, Approval], dict[str, str]]:
    config = loaded.config
    assert config.github is not None
    approvals: dict[str, Approval] = {}
    why: dict[str, str] = {}
    for env_name in config.environments:
        if env_name in given:
            approvals[env_name], why[env_name] = given[env_name], "given with --approval"
        elif env_name in config.github.ci.approval:
            approvals[env_name], why[env_name] = config.github.ci.approval[env_name], "[github.ci] approval"
        else:
            approvals[env_name], why[env_name] = _ask_github(loaded, env_name)
    return approvals, why


def parse_approvals(items: list[str], known: list[str]) -> dict[str, Approval]:
    out: dict[str, Approval] = {}
    for item in items:
        env, _, mode = item.partition("=")
        if env not in known or mode not in ("reviewers", "phrase"):
            raise UsageError(
                f"--approval {item!r} is not ENV=reviewers or ENV=phrase with ENV one of {', '.join(known)}"
            )
        out[env] = "reviewers" if mode == "reviewers" else "phrase"
    return out


def ci_init(loaded: LoadedConfig, approval: list[str], force: bool = False) -> Written:
    config = loaded.config
    if config.github is None:
        raise UsageError('ci init needs a [github] table in freigabe.toml (repo = "owner/name")')
    if not config.environments:
        raise UsageError("ci init needs at least one [environments.NAME] table to deploy to")
    approvals, why = choose_approvals(loaded, parse_approvals(approval, list(config.environments)))
    generated = generate(config, approvals)
    folder = loaded.root / ".github" / "workflows"
    existing = [name for name in generated.files if (folder / name).exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist in {folder}; compare them with a fresh copy "
            "(`freigabe ci init --force` overwrites them)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in generated.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return Written(
        folder, list(generated.files), approvals, why, workflow_secrets(config), not config.ledger.trusted_keys
    )


def workflow_secrets(config: Config) -> list[str]:
    """Every secret the generated workflows read, for the user to create."""
    assert config.github is not None
    ci = config.github.ci
    names = [ci.ledger_key_secret]
    for env_name, env in config.environments.items():
        if any(t.startswith("ssh://") for t in env.targets):
            names += [ci.known_hosts_secret, ci.ssh_key_secret]
        names += environment_secret_names(config, env_name)
    return list(dict.fromkeys(names))
