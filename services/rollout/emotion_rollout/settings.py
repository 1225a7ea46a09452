"""Typed settings from environment variables, read once; CLI flags override them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from emotion_contract.layout import DEFAULT_BASE_PATH
from emotion_contract.rollout import default_state_path
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RolloutSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Same variable as the trainer's, so both tools agree on where versions live.
    model_base_path: Path = DEFAULT_BASE_PATH
    # Empty means <model_base_path>/rollout.json, the gateway's default too.
    rollout_state_path: Path | None = None
    # Empty means <model_base_path>/.rollout. Deployments point this and the state file at a
    # writable place of their own, so the tool never needs write access to the model versions.
    rollout_gate_dir: Path | None = None
    rollout_backend: Literal["embedded", "serving"] = "embedded"
    serving_model_config: Path = Path("deploy/serving/models.config")
    serving_address: str = "localhost:8500"
    model_name: str = "emotion"
    # Serving loads and warms a version before it reports AVAILABLE; a GPU cold start is slow.
    serving_load_timeout_s: float = Field(300.0, gt=0)
    rollout_data: str = "../shared/datasets/fer2013"
    rollout_eval_margin: float = Field(0.01, ge=0, le=1)
    rollout_eval_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    rollout_canary_weight: float = Field(0.1, ge=0, le=1)

    def state_path(self) -> Path:
        return self.rollout_state_path or default_state_path(self.model_base_path)

    def gate_dir(self) -> Path:
        return self.rollout_gate_dir or self.model_base_path / ".rollout"


@lru_cache
def get_settings() -> RolloutSettings:
    return RolloutSettings()
