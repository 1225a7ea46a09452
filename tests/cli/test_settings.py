"""The `emotion` command's settings: read from the environment once, typed; flags override them."""

from __future__ import annotations

import pytest

from emotion_api.cli.main import EXIT_USAGE, _parser, main
from emotion_api.cli.settings import CliSettings, get_cli_settings
from emotion_api.core.config import Settings


@pytest.fixture
def environment(monkeypatch):
    for name in ("EMOTION_API_KEY", "STREAM_SMOOTHING"):
        monkeypatch.delenv(name, raising=False)
    get_cli_settings.cache_clear()
    yield monkeypatch
    get_cli_settings.cache_clear()


def test_smoothing_defaults_to_the_gateways_stream_smoothing(environment):
    assert CliSettings().stream_smoothing == Settings.model_fields["stream_smoothing"].default
    environment.setenv("STREAM_SMOOTHING", "0.25")
    environment.setenv("EMOTION_API_KEY", "cli-key-from-env")
    args = _parser(get_cli_settings()).parse_args(["video", "in.mp4"])
    assert args.smoothing == 0.25 and args.api_key == "cli-key-from-env"
    args = _parser(get_cli_settings()).parse_args(["video", "in.mp4", "--smoothing", "0", "--api-key", "flag"])
    assert args.smoothing == 0.0 and args.api_key == "flag"


def test_an_invalid_setting_is_a_usage_error_naming_the_variable(environment, capsys):
    environment.setenv("STREAM_SMOOTHING", "lots")
    assert main(["image", "photo.jpg"]) == EXIT_USAGE
    assert "stream_smoothing" in capsys.readouterr().err
