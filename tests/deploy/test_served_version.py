"""Serving's shipped config, the gateway without a state file and the rollout tool agree on stable.

They must all mean the highest complete version under models/emotion/. When a new version is
committed, the two shipped models.config files must name it (versions and both labels) or these
tests fail: a fresh `docker compose up` would otherwise serve an older model than the tool assumes,
and the first canary would move `stable` without the gate.
"""

from __future__ import annotations

import pytest
from tensorflow_serving.apis import model_pb2

from emotion_api.backends.serving import ServingBackend
from emotion_api.rollout_state import RolloutWatcher, Selector, route
from emotion_rollout import transitions
from emotion_rollout.appliers import EmbeddedRolloutApplier
from emotion_rollout.errors import InvalidTransition
from emotion_rollout.operations import Rollout
from emotion_rollout.serving_applier import ServingRolloutApplier
from emotion_rollout.serving_config import loaded_versions, model_entry, read_config
from emotion_rollout.settings import RolloutSettings
from tests.deploy.conftest import MODELS, REPO, newest_shipped

SHIPPED_CONFIGS = [REPO / "deploy" / "serving" / "models.config", REPO / "deploy" / "k8s" / "serving" / "models.config"]


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=["compose", "k8s"])
def test_shipped_serving_config_serves_the_newest_version_under_both_labels(path):
    newest = newest_shipped()
    entry = model_entry(read_config(path), "emotion")
    assert (loaded_versions(entry), dict(entry.version_labels)) == ({newest}, {"stable": newest, "canary": newest}), (
        f"{path.relative_to(REPO)} must load only version {newest}, the newest under models/emotion/, "
        f"with both labels on it")


def rollout_without_state(tmp_path, backend_name: str) -> Rollout:
    settings = RolloutSettings(model_base_path=MODELS, rollout_state_path=tmp_path / "absent.json",
                               rollout_backend=backend_name, serving_model_config=SHIPPED_CONFIGS[0])
    applier = (ServingRolloutApplier(client=None, config_path=SHIPPED_CONFIGS[0], model="emotion", load_timeout_s=1)
               if backend_name == "serving" else EmbeddedRolloutApplier())
    return Rollout(settings, applier, log=lambda _: None)


@pytest.mark.parametrize("backend_name", ["serving", "embedded"])
def test_rollout_tool_without_a_state_file_calls_the_newest_version_stable(tmp_path, backend_name):
    rollout = rollout_without_state(tmp_path, backend_name)
    newest = newest_shipped()
    assert rollout.state().stable == newest
    # So `candidate N` of the served version is refused as it should be, and a canary of another
    # version leaves `stable` where Serving already has it: nothing moves without the gate.
    with pytest.raises(InvalidTransition, match="already stable"):
        rollout.candidate(newest)
    other = next((v for v in reversed(rollout.status()["versions"]) if v != newest), newest + 1)
    assert transitions.start_canary(rollout.state(), other, 0.1).serving_labels()["stable"] == newest
    assert not (tmp_path / "absent.json").exists()


def test_gateway_without_a_state_file_asks_serving_for_what_the_shipped_config_loads():
    """The gateway sends unpinned traffic without label or version; Serving (here its test double,
    which resolves requests as Serving does) answers with the highest version it loaded."""
    from harness.fake_serving import ModelStore

    target = route(Selector(), None)
    assert (target.version, target.label) == (None, None)
    gateway = ServingBackend("unused:0", model_name="emotion", timeout_s=1, max_message_bytes=1 << 22,
                                    rollout=RolloutWatcher(MODELS / "absent.json"))
    gateway._pb = {"model_pb2": model_pb2}
    spec = gateway._spec(target)

    entry = model_entry(read_config(SHIPPED_CONFIGS[0]), "emotion")
    entry.base_path = str(MODELS)  # the container path /models/emotion is this folder
    store = ModelStore("emotion", MODELS)
    store.apply(entry)
    newest = newest_shipped()
    assert store.resolve(spec)[0] == newest
    assert store.resolve(model_pb2.ModelSpec(name="emotion", version_label="stable"))[0] == newest
