"""A version TF Serving fails to load, rolled out with ROLLOUT_BACKEND=serving: the tool fails at once
(serving_error, with Serving's load error), not after SERVING_LOAD_TIMEOUT_S, and nothing is
half-applied: models.config, Serving's versions and labels and rollout.json are as before, and
stable keeps answering throughout. Serving is the gRPC test double, which reports a failed load as
TF Serving does (GetModelStatus: state END with the error)."""

from __future__ import annotations

import json
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from emotion_contract import signature
from emotion_contract.rollout import RolloutState, read_state, write_state
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from emotion_rollout import cli
from emotion_rollout.errors import ServingError
from emotion_rollout.operations import Rollout
from emotion_rollout.serving_applier import ServingRolloutApplier
from emotion_rollout.settings import RolloutSettings
from harness.fake_serving import serve
from harness.servers import free_port
from tests.api.test_broken_versions import _corrupt, _publish
from tests.rollout.test_serving_applier import RecordingClient, write_initial_config

BROKEN = 4
ROLLOUT_PORTS = (18600, 18899)  # the rollout tests' share of loopback ports
LOAD_TIMEOUT_S = 300  # what a failed load must not wait for (the default)
FAST_S = 30  # "at once", with room for a loaded test machine


@pytest.fixture
def serving_with_broken_version(model_base, tmp_path):
    """The double serving version 1 as stable and canary; version 4 on disk does not load."""
    _publish(model_base, BROKEN, _corrupt)
    config_path = write_initial_config(tmp_path / "models.config", model_base)
    port = free_port(*ROLLOUT_PORTS)
    server, store = serve(port, "emotion", model_base, model_config_file=config_path)
    write_state(model_base / "rollout.json", RolloutState(stable=1))
    yield store, f"127.0.0.1:{port}", config_path
    server.stop(grace=None)


class StableTraffic:
    """Predict on the stable and canary labels and unpinned, in a loop, remembering each answer."""

    def __init__(self, address: str):
        self._channel = grpc.insecure_channel(address)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._stop = threading.Event()
        self.answers: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _predict(self, label: str) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "emotion"
        if label:
            request.model_spec.version_label = label
        request.inputs[signature.INPUT_KEY].CopyFrom(tf.make_tensor_proto(np.zeros((1, 48, 48, 1), np.uint8)))
        try:
            response = self._stub.Predict(request, timeout=10)
            self.answers.append((label, response.model_spec.version.value))
        except grpc.RpcError as err:
            self.errors.append(f"{label or 'unpinned'}: {err.code().name}: {err.details()}")

    def _run(self) -> None:
        while not self._stop.is_set():
            for label in ("stable", "canary", ""):
                self._predict(label)

    def __enter__(self) -> StableTraffic:
        for label in ("stable", "canary", ""):  # at least one answer each before the change
            self._predict(label)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for label in ("stable", "canary", ""):  # and after it
            self._predict(label)
        self._channel.close()


def assert_nothing_changed(store, config_path, config_before: str, model_base) -> None:
    assert config_path.read_text() == config_before, "models.config must be back to what it was"
    assert store.labels == {"stable": 1, "canary": 1}
    assert set(store.loaded) == {1}
    assert BROKEN not in store.failed, "the failed version must be unloaded again, not left wanted"
    state = read_state(model_base / "rollout.json")
    assert (state.stable, state.canary) == (1, None)


@pytest.mark.parametrize("operation", ["canary", "promote"])
def test_a_version_serving_fails_to_load_is_refused_at_once_and_nothing_is_half_applied(
        serving_with_broken_version, model_base, operation):
    store, address, config_path = serving_with_broken_version
    config_before = config_path.read_text()
    client = RecordingClient(address)
    settings = RolloutSettings(model_base_path=model_base, rollout_backend="serving", serving_model_config=config_path)
    applier = ServingRolloutApplier(client, config_path, "emotion", LOAD_TIMEOUT_S)
    rollout = Rollout(settings, applier, log=lambda _: None)

    with StableTraffic(address) as traffic:
        started = time.monotonic()
        with pytest.raises(ServingError) as refused:
            if operation == "canary":
                rollout.canary(BROKEN, 0.2, skip_gate=True)
            else:
                rollout.promote(BROKEN)
        took = time.monotonic() - started

    assert took < FAST_S, f"a failed load must be reported at once, not after {LOAD_TIMEOUT_S}s (took {took:.1f}s)"
    message = refused.value.message
    assert f"failed to load emotion version {BROKEN}" in message and "saved_model.pb" in message, message
    assert "nothing changed" in message, message
    # Serving was asked to load 4 with the labels untouched, then given the original config back.
    assert [labels for _, labels in client.pushed] == [{"stable": 1, "canary": 1}] * 2
    assert [versions for versions, _ in client.pushed] == [{1, BROKEN}, {1}]
    assert_nothing_changed(store, config_path, config_before, model_base)
    assert traffic.errors == []
    assert {version for _, version in traffic.answers} == {1}
    assert {label for label, _ in traffic.answers} == {"stable", "canary", ""}

    # The failed attempt leaves nothing behind: a good version rolls out as usual afterwards.
    rollout.canary(2, 0.2, skip_gate=True)
    client.close()
    assert store.labels == {"stable": 1, "canary": 2} and set(store.loaded) == {1, 2}


def test_the_cli_answers_serving_error_with_servings_message(serving_with_broken_version, model_base, capsys,
                                                             monkeypatch):
    store, address, config_path = serving_with_broken_version
    config_before = config_path.read_text()
    monkeypatch.setenv("SERVING_LOAD_TIMEOUT_S", str(LOAD_TIMEOUT_S))
    started = time.monotonic()
    code = cli.main(["--models", str(model_base), "--backend", "serving", "--serving-config", str(config_path),
                     "--serving-address", address, "canary", str(BROKEN), "--skip-gate"])
    took = time.monotonic() - started

    assert code == 4 and took < FAST_S, (code, took)
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert error["code"] == "serving_error"
    assert f"version {BROKEN}: OSError" in error["message"] and "nothing changed" in error["message"], error
    assert_nothing_changed(store, config_path, config_before, model_base)


class SilentClient(RecordingClient):
    """Serving that never reports version 2 at all (still loading, say): the wait runs out."""

    def version_states(self, model):
        return {v: s for v, s in super().version_states(model).items() if v != 2}


def test_a_version_not_available_in_time_is_unloaded_again(serving_with_broken_version, model_base):
    store, address, config_path = serving_with_broken_version
    config_before = config_path.read_text()
    client = SilentClient(address)
    settings = RolloutSettings(model_base_path=model_base, rollout_backend="serving", serving_model_config=config_path)
    rollout = Rollout(settings, ServingRolloutApplier(client, config_path, "emotion", 0.5), log=lambda _: None)

    with pytest.raises(ServingError, match="not AVAILABLE after .*nothing changed"):
        rollout.canary(2, 0.2, skip_gate=True)
    client.close()
    assert_nothing_changed(store, config_path, config_before, model_base)
