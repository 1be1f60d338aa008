"""Values a command can only know on the target, filled in when the plan is made.

`{php_fpm_service}` in a reload command becomes `[deploy] php_fpm_service`, or the PHP-FPM
service found on the target. The plan then names the exact command it will run, and a
change on the server (another PHP version) makes a new plan differ from an old one.
"""

from __future__ import annotations

from freigabe.adapters.php_fpm import detect_fpm_service
from freigabe.adapters.transport import Transport
from freigabe.config import LoadedConfig
from freigabe.config.models import Config
from freigabe.errors import UsageError

FPM = "{php_fpm_service}"


def _uses(commands: list[list[str]] | None) -> bool:
    return any(FPM in arg for argv in commands or [] for arg in argv)


def resolved_config(loaded: LoadedConfig, env_name: str, transport: Transport) -> Config:
    config = loaded.config
    env = config.environment(env_name)
    if not (_uses(env.reload) if env.reload is not None else _uses(config.deploy.reload)):
        return config
    name = config.deploy.php_fpm_service
    if name is None:
        name, how = detect_fpm_service(transport)
        if name is None:
            raise UsageError(
                f"the reload command names {FPM}, and the PHP-FPM service of {env_name} could not be found "
                f'({how}); set it once in freigabe.toml: [deploy] php_fpm_service = "php8.3-fpm"'
            )

    def fill(commands: list[list[str]]) -> list[list[str]]:
        return [[arg.replace(FPM, name) for arg in argv] for argv in commands]

    deploy = config.deploy.model_copy(update={"reload": fill(config.deploy.reload)})
    environment = env.model_copy(update={"reload": fill(env.reload) if env.reload is not None else None})
    return config.model_copy(update={"deploy": deploy, "environments": {**config.environments, env_name: environment}})
