"""Configuration: pydantic models for freigabe.toml, presets, loading."""

from freigabe.config.load import CONFIG_NAME, LoadedConfig, config_digest, load_config, parse_config
from freigabe.config.models import Config, EnvironmentConfig

__all__ = [
    "CONFIG_NAME",
    "Config",
    "EnvironmentConfig",
    "LoadedConfig",
    "config_digest",
    "load_config",
    "parse_config",
]
