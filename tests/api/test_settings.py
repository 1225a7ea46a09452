"""Settings from the environment, and a gateway that refuses to start on invalid values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from emotion_contract import layout
from pydantic import ValidationError

from emotion_api.core.config import Settings, usable_cpus
from harness.servers import MODEL_DIR, REPO, free_port, python_env


def test_defaults_and_auto_backend(monkeypatch):
    monkeypatch.chdir(REPO)
    settings = Settings()
    assert settings.resolved_backend == "embedded"
    assert settings.model_base_path.as_posix() == "models/emotion"
    assert settings.rollout_path == settings.model_base_path / "rollout.json"
    assert settings.detect_workers == usable_cpus() == len(os.sched_getaffinity(0))
    assert settings.detect_in == "processes"
    monkeypatch.setenv("SERVING_ADDRESS", "serving:8500")
    monkeypatch.setenv("API_KEYS", " key-one-xyz , key-two-xyz ,")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.resolved_backend == "serving"
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one-xyz", "key-two-xyz"]
    assert "key-one" not in repr(settings), "keys must not leak into logs"
    assert settings.log_level == "debug"


@pytest.mark.parametrize(
    "env",
    [
        {"MAX_BATCH_SIZE": "0"},
        {"QUEUE_SIZE": "-1"},
        {"MAX_WAIT_MS": "abc"},
        {"BACKEND": "serving"},
        {"BACKEND": "onnx"},
        {"SERVING_ADDRESS": "no-port"},
        {"RATE_LIMIT": "lots"},
        {"REDIS_URL": "http://x", "RATE_LIMIT": "5/minute"},
        {"REDIS_URL": "redis://x:6379"},
        {"STREAM_SMOOTHING": "1.5"},
        {"API_KEYS": "short"},
        {"MODEL_BASE_PATH": "/nonexistent/models"},
        {"LOG_LEVEL": "loud"},
        {"REQUEST_TIMEOUT_S": "0"},
        {"DETECT_WORKERS": "0"},
        {"DETECT_IN": "fork"},
        {"EMBEDDED_RUNTIME": "tflite-float16"},
    ],
)
def test_invalid_values_are_refused(monkeypatch, env):
    monkeypatch.chdir(REPO)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("env,needle", [({"MAX_BATCH_SIZE": "0"}, "max_batch_size"), ({"DETECTOR": "nope"}, "nope")])
def test_gateway_process_refuses_to_start(env, needle):
    args = [sys.executable, "-m", "uvicorn", "emotion_api.main:app", "--host", "127.0.0.1", "--port", str(free_port())]
    result = subprocess.run(
        ["nice", "-n", "19", *args], cwd=REPO, env=python_env({"MODEL_BASE_PATH": str(MODEL_DIR), **env}),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert needle in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize(("value", "expected"), [(None, "1"), ("3", "3"), ("0", None)])
def test_embedded_backend_caps_tensorflow_op_threads(monkeypatch, tmp_path, value, expected):
    """The cap reaches TensorFlow through TF_NUM_INTRAOP_THREADS before its runtime starts."""
    from emotion_api.backends import make_backend
    from emotion_api.rollout_state import RolloutWatcher

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    if value is not None:
        monkeypatch.setenv("EMBEDDED_INTRA_OP_THREADS", value)
    backend = make_backend(Settings(), RolloutWatcher(tmp_path / "rollout.json"))
    assert backend.name == "embedded"
    assert os.environ.get("TF_NUM_INTRAOP_THREADS") == expected


@pytest.mark.parametrize(("cpu_max", "expected"), [("max 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1),
                                                   ("100000 100000\n", 1), ("garbled", 2)])
def test_usable_cpus_follow_the_cgroup_quota(tmp_path, monkeypatch, cpu_max, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert usable_cpus(tmp_path / "cpu.max") == expected
    assert usable_cpus(tmp_path / "missing") == 2


def test_default_uncertain_threshold_is_the_served_models():
    """The default flags answers by the served version's own calibration figure (its model card)."""
    import json

    card = json.loads(layout.model_card_path(MODEL_DIR / str(layout.newest_version(MODEL_DIR))).read_text())
    assert Settings().uncertain_threshold == card["uncertain_threshold"]
    with pytest.raises(ValidationError):
        Settings(uncertain_threshold=1.5)
