"""Rollout end to end: a real gateway under concurrent load while canary, promote and rollback
happen, once with the embedded backend and once with Serving (the gRPC test double).

Checked: zero failed requests; the canary's share of unpinned traffic; and that every response
came from a version the labels allowed while that request was in flight (a request that overlaps
a change may see the old or the new labels, for as long as gateways take to re-read the state).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx
import pytest

from emotion_contract.rollout import RolloutState, write_state
from emotion_rollout.appliers import EmbeddedRolloutApplier
from emotion_rollout.operations import Rollout
from emotion_rollout.settings import RolloutSettings
from harness.servers import Gateway, free_port, launch_fake_serving, wait_grpc_ready
from tests.rollout.conftest import ROLLOUT_PORTS
from tests.rollout.rollout_load import Load, Outcome
from tests.rollout.test_serving_applier import RecordingClient, labels_only_name_loaded_versions, write_initial_config

pytestmark = pytest.mark.slow

POLL_S = 0.2
SETTLE_S = POLL_S + 1.0  # a gateway notices a new state file within ROLLOUT_POLL_S
CANARY_WEIGHT = 0.2
CANARY_REQUESTS = 600  # unpinned requests measured while the canary is live


@dataclass(frozen=True)
class Change:
    started: float
    finished: float
    state: RolloutState

    def versions(self) -> set[int]:
        return {self.state.stable} | ({self.state.canary} if self.state.canary else set())


def allowed_versions(outcome: Outcome, changes: list[Change]) -> set[int]:
    """Versions of every state in effect at some moment of the request's flight."""
    allowed = set()
    for i, change in enumerate(changes):
        begins = change.started
        ends = changes[i + 1].finished + SETTLE_S if i + 1 < len(changes) else math.inf
        if begins <= outcome.done and outcome.sent <= ends:
            allowed |= change.versions()
    return allowed


def unpinned_between(outcomes, start: float, end: float = math.inf):
    return [o for o in outcomes if o.pinned is None and o.sent >= start and o.done <= end]


@pytest.fixture
def face_jpeg(fer_dir) -> bytes:
    return sorted((fer_dir / "val" / "happy").glob("*.jpg"))[0].read_bytes()


def start_gateway(model_base, **extra) -> Gateway:
    return Gateway.launch(gateway_env(model_base, **extra), port=free_port(*ROLLOUT_PORTS)).wait()


def gateway_env(model_base, **extra) -> dict[str, str]:
    return {"MODEL_BASE_PATH": str(model_base), "ROLLOUT_STATE_PATH": str(model_base / "rollout.json"),
            "ROLLOUT_POLL_S": str(POLL_S), "MODEL_POLL_S": "1", "API_KEYS": "", "RATE_LIMIT": "",
            "REDIS_URL": "", "LOG_LEVEL": "warning",
            # Routing is under test, not latency: a slow CI machine must not turn into failures.
            "REQUEST_TIMEOUT_S": "90", "SERVING_TIMEOUT_S": "90", **extra}


def run_rollout_under_load(url: str, rollout: Rollout, image: bytes) -> tuple[list[Outcome], list[Change]]:
    changes = [Change(-math.inf, -math.inf, rollout.state())]

    def change(operation) -> None:
        started = time.monotonic()
        state = operation()
        changes.append(Change(started, time.monotonic(), state))

    def settled_requests(count: int):
        since = changes[-1].finished + SETTLE_S
        return lambda outcomes: len(unpinned_between(outcomes, since)) >= count

    with Load(url, image) as load:
        load.wait_for(lambda o: len(o) >= 40, 120, "stable-only traffic")
        change(lambda: rollout.canary(2, CANARY_WEIGHT, skip_gate=True))
        load.wait_for(settled_requests(CANARY_REQUESTS), 240, "canary traffic")
        change(rollout.promote)
        load.wait_for(settled_requests(60), 120, "traffic after promote")
        change(rollout.rollback)
        load.wait_for(settled_requests(60), 120, "traffic after rollback")
    return load.outcomes, changes


def check_rollout(outcomes: list[Outcome], changes: list[Change]) -> float:
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed, e.g. {failed[:3]}"
    wrong = [(o, allowed_versions(o, changes)) for o in outcomes
             if o.pinned is None and o.version not in allowed_versions(o, changes)]
    assert not wrong, f"{len(wrong)} responses from a version the labels did not allow, e.g. {wrong[:3]}"
    assert all(o.version == 1 for o in outcomes if o.pinned == 1), "a request pinned to version 1 got another"

    canary, promoted = changes[1], changes[2]
    assert (canary.state.canary, promoted.state.stable, changes[3].state.stable) == (2, 2, 1)
    during = unpinned_between(outcomes, canary.finished + SETTLE_S, promoted.started)
    share = sum(o.version == 2 for o in during) / len(during)
    # Binomial spread of the measured share: 3.5 standard deviations, about 5 points at n=600.
    tolerance = 3.5 * math.sqrt(CANARY_WEIGHT * (1 - CANARY_WEIGHT) / len(during))
    assert abs(share - CANARY_WEIGHT) <= tolerance, f"canary share {share:.3f} of {len(during)} requests"
    after_promote = unpinned_between(outcomes, promoted.finished + SETTLE_S, changes[3].started)
    assert after_promote and {o.version for o in after_promote} == {2}
    after_rollback = unpinned_between(outcomes, changes[3].finished + SETTLE_S)
    assert after_rollback and {o.version for o in after_rollback} == {1}
    return share


def check_half_written_versions_never_loaded(url: str, image: bytes) -> None:
    """Folder 3 (no saved_model.pb yet) and .staging-* (hidden) exist on disk the whole time."""
    models = httpx.get(f"{url}/v1/models", timeout=10).json()
    assert set(models["versions"]) <= {1, 2}, models
    assert models["version_labels"]["stable"] == 1
    response = httpx.post(f"{url}/v1/emotions", params={"detect": "false", "model_version": 3},
                          files={"image": ("face.jpg", image, "image/jpeg")}, timeout=30)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "model_not_found"


def test_rollout_with_the_embedded_backend(model_base, face_jpeg):
    write_state(model_base / "rollout.json", RolloutState(stable=1))
    gateway = start_gateway(model_base, BACKEND="embedded")
    try:
        settings = RolloutSettings(model_base_path=model_base)
        rollout = Rollout(settings, EmbeddedRolloutApplier(), log=lambda _: None)
        outcomes, changes = run_rollout_under_load(gateway.url, rollout, face_jpeg)
        share = check_rollout(outcomes, changes)
        print(f"embedded: {len(outcomes)} requests, 0 failed, canary share {share:.3f}")
        check_half_written_versions_never_loaded(gateway.url, face_jpeg)
    finally:
        gateway.stop()


def test_rollout_with_serving(model_base, face_jpeg, tmp_path):
    from emotion_rollout.serving_applier import ServingRolloutApplier

    config_path = write_initial_config(tmp_path / "models.config", model_base)
    write_state(model_base / "rollout.json", RolloutState(stable=1))
    serving, port = launch_fake_serving(model_base, port=free_port(*ROLLOUT_PORTS),
                                        extra=["--model-config-file", str(config_path)])
    address = f"127.0.0.1:{port}"
    gateway = None
    try:
        wait_grpc_ready(serving, port)
        gateway = start_gateway(model_base, BACKEND="serving", SERVING_ADDRESS=address)
        client = RecordingClient(address)
        settings = RolloutSettings(model_base_path=model_base, rollout_backend="serving",
                                   serving_model_config=config_path, serving_address=address)
        rollout = Rollout(settings, ServingRolloutApplier(client, config_path, "emotion", 120), log=lambda _: None)
        outcomes, changes = run_rollout_under_load(gateway.url, rollout, face_jpeg)
        share = check_rollout(outcomes, changes)
        print(f"serving: {len(outcomes)} requests, 0 failed, canary share {share:.3f}")
        labels_only_name_loaded_versions({1}, client.pushed)
        check_half_written_versions_never_loaded(gateway.url, face_jpeg)
        client.close()
    finally:
        if gateway is not None:
            gateway.stop()
        serving.stop()
