"""The `emotion` command's own settings: environment variables, typed and read once; flags override them.

The in-process pipeline is configured by the gateway's settings (core/config.py), read when it
starts; these are the ones only the command has, plus the stream's smoothing default, which is
the gateway's STREAM_SMOOTHING so the CLI and the WebSocket stream smooth alike.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..core.config import Settings


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    emotion_api_key: SecretStr | None = None  # X-API-Key for --url
    stream_smoothing: float = Field(Settings.model_fields["stream_smoothing"].default, ge=0.0, le=1.0)


@lru_cache(maxsize=1)
def get_cli_settings() -> CliSettings:
    return CliSettings()
