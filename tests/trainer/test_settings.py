"""The trainer's settings: read from the environment once, typed, and the CLI's defaults."""

from __future__ import annotations

from pathlib import Path

from emotion_contract.layout import DEFAULT_BASE_PATH
from fer_trainer.settings import TrainerSettings, get_settings


def test_defaults_are_the_contracts_base_path_and_a_home_cache(monkeypatch):
    monkeypatch.delenv("MODEL_BASE_PATH", raising=False)
    monkeypatch.delenv("FER_CACHE_DIR", raising=False)
    settings = TrainerSettings()
    assert settings.model_base_path == DEFAULT_BASE_PATH
    assert settings.fer_cache_dir == Path.home() / ".cache" / "fer-trainer"


def test_model_base_path_is_the_export_default(monkeypatch, tmp_path):
    from fer_trainer.cli import _parser

    monkeypatch.setenv("MODEL_BASE_PATH", str(tmp_path / "versions"))
    get_settings.cache_clear()
    try:
        args = _parser().parse_args(["export", "--model", "run/final.keras"])
        assert args.models == tmp_path / "versions"
    finally:
        get_settings.cache_clear()
