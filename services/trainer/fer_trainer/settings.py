"""The trainer's settings: environment variables, typed and read once; command-line flags override them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from emotion_contract.layout import DEFAULT_BASE_PATH
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Where `train --export` and `export` write the next version; the gateway and the rollout tool
    # read the same variable, so all three agree on where versions live.
    model_base_path: Path = DEFAULT_BASE_PATH
    # Decoded dataset splits (data.py), keyed by the dataset's fingerprint.
    fer_cache_dir: Path = Path.home() / ".cache" / "fer-trainer"


@lru_cache(maxsize=1)
def get_settings() -> TrainerSettings:
    return TrainerSettings()
