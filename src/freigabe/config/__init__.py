"""Configuration: pydantic models for freigabe.toml, presets, loading."""

from freigabe.config.load import LoadedConfig, config_digest, load_config, parse_config
from freigabe.config.models import Config, EnvironmentConfig
from freigabe.core.names import CONFIG_NAME

__all__ = [
    "CONFIG_NAME",
    "Config",
    "EnvironmentConfig",
    "LoadedConfig",
    "config_digest",
    "load_config",
    "parse_config",
]
