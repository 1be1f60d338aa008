"""freigabe.toml: presets, durations, and one readable message per problem."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from freigabe.cli import app
from freigabe.config import load_config, parse_config
from freigabe.config.models import approval_phrase, parse_duration
from freigabe.errors import ConfigError, ExitCode


def _env(**extra: object) -> dict[str, Any]:
    return {"environments": {"staging": {"deploy_path": "/srv/app", "url": "http://127.0.0.1:8080", **extra}}}


@pytest.mark.parametrize("preset", ["laravel", "generic"])
def test_templates_are_valid(preset: str) -> None:
    text = resources.files("freigabe.config").joinpath(f"templates/{preset}.toml").read_text()
    config = parse_config(tomllib.loads(text))
    assert set(config.environments) == {"staging", "production"}
    assert config.environments["production"].promotion is not None


def test_laravel_preset_carries_the_reference_plan() -> None:
    config = parse_config({"preset": "laravel", **_env()})
    gates = config.gates
    assert gates.required_files == [
        "artisan",
        "composer.json",
        "public/index.php",
        "public/build/manifest.json",
        "vendor/autoload.php",
    ]
    assert gates.required_dirs == ["bootstrap", "config", "routes", "app"]
    assert len(gates.required_files) + len(gates.required_dirs) == 9
    assert ["php", "artisan", "--version"] in gates.commands
    assert config.deploy.migrate == [["php", "artisan", "migrate", "--force", "--isolated"]]
    env = config.environments["staging"]
    assert [h.url for h in env.health] == ["/up"]  # Laravel 11/12's own health route
    assert env.health[0].attempts == 6
    assert env.readiness.grace == 15 and env.readiness.probe is not None
    assert env.assets.manifest == "/build/manifest.json"


def test_laravel_caches_are_built_for_the_release_and_never_undone() -> None:
    """The layer-3 `config:cache` gate is not undone by a `config:clear`; the release's caches are
    built before the switch; workers restart after it; the app's data cache is left alone."""
    config = parse_config({"preset": "laravel", **_env()})
    deploy = config.deploy
    every = [" ".join(argv) for argv in [*deploy.cache_before, *deploy.cache_after]]
    assert not [c for c in every if "config:clear" in c or "cache:clear" in c or "optimize:clear" in c]
    assert ["php", "artisan", "optimize"] in deploy.cache_before
    assert ["php", "artisan", "storage:link"] in deploy.cache_before
    assert ["php", "artisan", "queue:restart"] in deploy.cache_after
    assert any("horizon:terminate" in c and "vendor/laravel/horizon" in c for c in every)
    assert config.gates.production_commands == [["php", "artisan", "config:cache"]]
    assert deploy.reload == [["sudo", "-n", "service", "{php_fpm_service}", "reload"]]


def test_the_reference_health_variant_in_the_template_is_valid() -> None:
    text = resources.files("freigabe.config").joinpath("templates/laravel.toml").read_text()
    block = text[text.index('# [[environments.production.health]]\n# name = "health"') :].split("\n#\n")[0]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    health = tomllib.loads(uncommented)["environments"]["production"]["health"]
    config = parse_config({"preset": "laravel", **_env(health=health)})
    urls = [h.url for h in config.environments["staging"].health]
    assert urls == ["/health", "/api/health-check", "/healthcheck.php"]


def test_file_overrides_preset_lists() -> None:
    config = parse_config({"preset": "laravel", "deploy": {"reload": [["sudo", "-n", "reload-fpm"]]}, **_env()})
    assert config.deploy.reload == [["sudo", "-n", "reload-fpm"]]
    assert config.deploy.migrate  # untouched keys keep the preset's value


def test_every_problem_is_named_with_its_key_path() -> None:
    data = {
        "environments": {
            "staging": {
                "deploy_path": "relative/path",
                "url": "ftp://x",
                "keep_releases": 1,
                "kep_releases": 3,
                "health": [
                    {"name": "h", "url": "/", "expect_status": 401},
                    {"name": "b", "url": "/", "basic_auth_user": "u"},
                ],
                "promotion": {"requires_stable_in": "nowhere", "stable_for": "soon"},
            }
        },
        "deploy": {"migrate": [[]], "shared_files": ["/etc/passwd"]},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    problems = "\n".join(caught.value.problems)
    for fragment in [
        "environments.staging.deploy_path: 'relative/path' must be an absolute path",
        "environments.staging.url: 'ftp://x' must be an http:// or https:// URL",
        "environments.staging.keep_releases: Input should be greater than or equal to 2",
        "environments.staging.kep_releases: Extra inputs are not permitted — remove it or correct the spelling",
        "environments.staging.health.0.expect_status: a health check that expects 401/403 cannot fail",
        "environments.staging.health.1: Value error, basic_auth_user and basic_auth_password_env go together",
        "environments.staging.promotion.stable_for: 'soon' is not a duration",
        "deploy.migrate.0: a command must be a non-empty list",
        "deploy.shared_files.0: '/etc/passwd' must be a path inside the release",
    ]:
        assert fragment.replace("Value error, ", "") in problems, problems
    assert str(len(caught.value.problems)) in caught.value.message


def test_promotion_source_must_exist() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_env(promotion={"requires_stable_in": "qa"}))
    assert "'qa', which is not a configured environment" in caught.value.problems[0]


def test_durations() -> None:
    assert parse_duration("1h") == 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2.5s") == 2.5
    assert parse_duration(90) == 90
    for bad in ("", "1 day", "-1", True, -5):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_approval_phrases() -> None:
    config = parse_config(
        {
            "environments": {
                "staging": {"deploy_path": "/a", "url": "http://x"},
                "production": {"deploy_path": "/b", "url": "http://y"},
                "qa": {"deploy_path": "/c", "url": "http://z"},
                "eu": {"deploy_path": "/d", "url": "http://w", "approval_phrase": "EU GO"},
            }
        }
    )
    envs = config.environments
    assert approval_phrase("staging", envs["staging"]) == "STAGING-TEST FREIGEGEBEN"
    assert approval_phrase("production", envs["production"]) == "PROD-DEPLOY FREIGEGEBEN"
    assert approval_phrase("qa", envs["qa"]) == "DEPLOY-QA FREIGEGEBEN"
    assert approval_phrase("eu", envs["eu"]) == "EU GO"


def test_cli_config_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["status", "staging", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == ExitCode.CONFIG and "does not exist" in missing.output
    broken = tmp_path / "freigabe.toml"
    broken.write_text("[environments.staging\n")
    result = runner.invoke(app, ["status", "staging", "--config", str(broken)])
    assert result.exit_code == ExitCode.CONFIG and "is not valid TOML" in result.output
    broken.write_text('[environments.staging]\ndeploy_path = "x"\n')
    result = runner.invoke(app, ["status", "staging", "--config", str(broken)])
    assert result.exit_code == ExitCode.CONFIG
    assert "deploy_path" in result.output and "url: Field required — add this key" in result.output
    assert "Traceback" not in result.output


def test_init_writes_a_loadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--preset", "laravel"]).exit_code == 0
    assert load_config(tmp_path / "freigabe.toml").config.preset == "laravel"
    again = runner.invoke(app, ["init"])
    assert again.exit_code == ExitCode.CONFIG and "--force" in again.output
    unknown = runner.invoke(app, ["init", "--preset", "rails", "--force"])
    assert unknown.exit_code == ExitCode.CONFIG and "does not exist" in unknown.output


def test_unknown_environment(tmp_path: Path) -> None:
    path = tmp_path / "freigabe.toml"
    path.write_text('[environments.staging]\ndeploy_path = "/srv/a"\nurl = "http://127.0.0.1:1"\n')
    result = CliRunner().invoke(app, ["status", "prod", "--config", str(path)])
    assert result.exit_code == ExitCode.CONFIG
    assert "environment 'prod' is not in freigabe.toml (configured: staging)" in result.output


def test_a_fleet_of_local_targets_and_unreachable_ssh_are_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "freigabe.toml"
    path.write_text(
        '[environments.staging]\ndeploy_path = "/srv/a"\nurl = "http://127.0.0.1:1"\n'
        'target = ["local", "local"]\n[environments.qa]\ndeploy_path = "/srv/b"\n'
        'url = "http://127.0.0.1:1"\ntarget = "ssh://deploy@127.0.0.1:1"\n'
    )
    fleet = CliRunner().invoke(app, ["status", "staging", "--config", str(path)])
    assert fleet.exit_code == ExitCode.CONFIG and "can only be an environment's one target" in fleet.output
    ssh = CliRunner().invoke(app, ["status", "qa", "--config", str(path)])
    assert ssh.exit_code == ExitCode.TARGET and "cannot reach deploy@127.0.0.1:1 over SSH" in ssh.output
