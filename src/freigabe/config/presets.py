"""Presets: defaults merged *under* what `freigabe.toml` says.

The laravel preset carries the reference plan's commands, gates and checks; the
generic preset has none. Every value can be overridden in the file: a list in the
file replaces the preset's list, a table is merged key by key.
"""

from __future__ import annotations

import copy
from typing import Any

ARTISAN = ["php", "artisan"]

LARAVEL: dict[str, Any] = {
    "build": {
        # Build phase (reference plan, step 1): Composer with dev tools for the checks,
        # then the Vite build.
        "commands": [
            ["composer", "install", "--no-interaction", "--prefer-dist"],
            ["npm", "ci"],
            ["npm", "run", "build"],
        ],
        # Step 2: static analysis + tests.
        "checks": [
            ["vendor/bin/phpstan", "analyse", "--level=5", "--no-progress"],
            ["vendor/bin/pest"],
        ],
        # What ships: production dependencies only, optimised autoloader.
        "finalize": [
            ["composer", "install", "--no-dev", "--optimize-autoloader", "--no-interaction"],
        ],
        # Never shipped: dependencies built again on the server side, tests, runtime state.
        # `.git`, `.freigabe`, `.env*` are always excluded; [build] exclude adds to this list.
        "default_exclude": [
            ".github",
            "node_modules",
            "tests",
            "storage",
            "bootstrap/cache/*.php",
        ],
    },
    "gates": {
        # The nine structure checks of layers 1-3.
        "required_files": [
            "artisan",
            "composer.json",
            "public/index.php",
            "public/build/manifest.json",
            "vendor/autoload.php",
        ],
        "required_dirs": ["bootstrap", "config", "routes", "app"],
        # Layer 2: PHP can load the autoloader and boot the framework.
        "commands": [
            ["php", "-r", "require 'vendor/autoload.php'; echo 'autoload-ok';"],
            [*ARTISAN, "--version"],
        ],
        # Layer 3 (production): the configuration must cache.
        "production_commands": [[*ARTISAN, "config:cache"]],
    },
    "deploy": {
        "shared_files": [".env"],
        "shared_dirs": ["storage"],
        "create_shared_dirs": [
            "storage/app",
            "storage/logs",
            "storage/framework/cache",
            "storage/framework/sessions",
            "storage/framework/views",
        ],
        # Once, even with several servers running the deploy at the same moment.
        "migrate": [[*ARTISAN, "migrate", "--force", "--isolated"]],
        # Before the switch, in the new release: the public/storage link, and the caches built
        # for this release (config, routes, views, events). Each release has its own
        # bootstrap/cache, so nothing built from the old release can go live with the new one,
        # and the layer-3 `config:cache` gate is not undone. The app's data cache is left alone.
        "cache_before": [
            [*ARTISAN, "storage:link"],
            [*ARTISAN, "optimize"],
        ],
        # After the switch: workers pick up the new code (Horizon's too, where it is installed).
        "cache_after": [
            [*ARTISAN, "queue:restart"],
            ["sh", "-c", "[ ! -d vendor/laravel/horizon ] || exec php artisan horizon:terminate"],
        ],
        # `{php_fpm_service}`: [deploy] php_fpm_service, or the service found on the target.
        "reload": [["sudo", "-n", "service", "{php_fpm_service}", "reload"]],
        "revision_file": "public/REVISION",
    },
    "environment": {
        "readiness": {"grace": 15, "timeout": 120, "probe": {"url": "/REVISION"}},
        # Laravel 11/12's built-in health route. The reference plan's variant (/health and
        # /api/health-check with the bearer token, /healthcheck.php) is in the laravel template.
        "health": [{"name": "up", "url": "/up"}],
        "assets": {"manifest": "/build/manifest.json", "base": "/build/"},
        "server": {
            "nginx_test": ["sudo", "-n", "nginx", "-t"],
            "migrations_status": [*ARTISAN, "migrate:status"],
            # the SQL each pending migration will run, shown and classified in the plan
            "migrations_pretend": [*ARTISAN, "migrate", "--pretend", "--force"],
            "migrations_tables": [*ARTISAN, "db:show", "--counts", "--json"],
        },
    },
}

GENERIC: dict[str, Any] = {}

PRESETS: dict[str, dict[str, Any]] = {"laravel": LARAVEL, "generic": GENERIC}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_preset(data: dict[str, Any]) -> dict[str, Any]:
    """Return `data` with the named preset's defaults filled in underneath it."""
    name = data.get("preset", "generic")
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        return data  # validation reports the unknown preset
    env_defaults = preset.get("environment", {})
    merged = _merge({k: v for k, v in preset.items() if k != "environment"}, data)
    envs = merged.get("environments")
    if isinstance(envs, dict):
        merged["environments"] = {
            name: _merge(env_defaults, env) if isinstance(env, dict) else env for name, env in envs.items()
        }
    return merged
