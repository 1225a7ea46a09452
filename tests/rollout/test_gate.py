"""The evaluation gate on real validation images, and the CLI's refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emotion_contract.rollout import RolloutState, write_state
from emotion_rollout.errors import GateMissing, GateRefused
from emotion_rollout.gate import judge, save_verdict
from emotion_rollout.operations import Rollout
from emotion_rollout.appliers import EmbeddedRolloutApplier
from emotion_rollout.settings import RolloutSettings
from fer_trainer.settings import get_settings
from harness.servers import REPO, python_env
from tests.rollout.conftest import make_model_base

# A fixed random subset of val: enough to tell a trained model from an untrained one, fast.
LIMIT = 400
SCORES = {"images": LIMIT, "plain": {"accuracy": 0.5, "macro_f1": 0.4}}


@pytest.fixture(scope="module")
def gate_base(tmp_path_factory, fer_dir):
    """Versions 1 and 2 (same trained model) and 4, an untrained network exported the real way."""
    import keras

    from fer_trainer.architectures import build
    from fer_trainer.export import export

    base = make_model_base(tmp_path_factory.mktemp("gate"))
    keras.utils.set_random_seed(0)
    (base / "3").rename(base / ".half-written-3")  # keep the next number free for the export
    worse = export(build("seed-cnn"), base, np.full((2, 48, 48), 128, np.uint8), tflite=False)
    assert worse.name == "3"
    return base


@pytest.fixture(scope="module")
def fer_cache(tmp_path_factory):
    """One decoded copy of the val split for every test here (and the CLI's subprocesses)."""
    return tmp_path_factory.mktemp("fer-cache")


@pytest.fixture
def cache_in_process(fer_cache, monkeypatch):
    """fer_cache as FER_CACHE_DIR for the gate's in-process evaluation (the trainer reads its
    settings once per process, so they are read again here and after the test)."""
    monkeypatch.setenv("FER_CACHE_DIR", str(fer_cache))
    get_settings.cache_clear()
    yield fer_cache
    get_settings.cache_clear()


@pytest.fixture
def rollout(gate_base, fer_dir, cache_in_process, tmp_path):
    state_path = tmp_path / "rollout.json"
    write_state(state_path, RolloutState(stable=1))
    settings = RolloutSettings(model_base_path=gate_base, rollout_state_path=state_path, rollout_data=str(fer_dir))
    return Rollout(settings, EmbeddedRolloutApplier(), log=lambda _: None)


def test_equal_candidate_passes_and_may_then_canary(rollout):
    verdict = rollout.candidate(2, limit=LIMIT)
    assert verdict.passed and verdict.images == LIMIT
    assert verdict.candidate_score == pytest.approx(verdict.baseline_score)  # same weights, same images
    assert rollout.canary(2, 0.1).canary == 2


def test_canary_needs_a_verdict_against_the_current_stable(rollout):
    write_state(rollout.state_path, RolloutState(stable=3, previous_stable=(1,)))
    with pytest.raises(GateMissing, match="has not been through"):
        rollout.canary(1, 0.1)
    # A passing verdict for 2, but judged against 1: stable moved on since.
    save_verdict(rollout.gate_dir, judge(2, 1, {2: SCORES, 1: SCORES}, "accuracy", 0.01))
    with pytest.raises(GateMissing, match="stable is now 3"):
        rollout.canary(2, 0.1)


def run_cli(*args, env=None):
    """The CLI with only PATH, PYTHONPATH and ``env``: no setting leaks in from the caller."""
    return subprocess.run([sys.executable, "-m", "emotion_rollout", *args], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": python_env()["PYTHONPATH"], "PATH": "/usr/bin:/bin", **(env or {})},
                          timeout=300)


def test_cli_refuses_a_worse_candidate_with_a_json_error(gate_base, fer_dir, fer_cache, tmp_path):
    state = tmp_path / "rollout.json"
    write_state(state, RolloutState(stable=1))
    env = {"MODEL_BASE_PATH": str(gate_base), "ROLLOUT_STATE_PATH": str(state),
           "FER_CACHE_DIR": str(fer_cache)}
    result = run_cli("candidate", "3", "--data", str(fer_dir), "--limit", str(LIMIT), env=env)
    assert result.returncode == 3, result.stderr
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "gate_refused" and "candidate 3 accuracy" in error["message"]
    assert "worse than the allowed margin" in error["message"]

    # The verdict is kept beside the versions, so canary refuses the version too.
    result = run_cli("canary", "3", "--weight", "0.1", env=env)
    assert result.returncode == 3
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == "gate_refused"
    assert json.loads(state.read_text())["canary"] is None

    result = run_cli("canary", "9", env=env)
    assert result.returncode == 2
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == "version_not_found"

    result = run_cli("status", env=env)
    assert result.returncode == 0
    assert json.loads(result.stdout)["versions"] == [1, 2, 3]


def test_a_version_that_does_not_load_is_refused_and_never_labelled(gate_base, fer_dir, cache_in_process, tmp_path):
    """Complete by name (saved_model.pb present) but not a model: the gate refuses it cleanly, so
    canary, which needs a passing verdict, refuses it too."""
    base = tmp_path / "emotion"
    base.mkdir()
    (base / "1").symlink_to(gate_base / "1", target_is_directory=True)
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    state_path = tmp_path / "rollout.json"
    write_state(state_path, RolloutState(stable=1))
    settings = RolloutSettings(model_base_path=base, rollout_state_path=state_path, rollout_data=str(fer_dir))
    rollout = Rollout(settings, EmbeddedRolloutApplier(), log=lambda _: None)
    with pytest.raises(GateRefused, match="version 2 does not load as a model"):
        rollout.candidate(2, limit=LIMIT)
    with pytest.raises(GateMissing):
        rollout.canary(2, 0.1)
    assert rollout.state().stable == 1 and rollout.state().canary is None
