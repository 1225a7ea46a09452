"""The rollout tool's Serving applier against the gRPC test double: config file, reload order and labels."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from emotion_contract.rollout import RolloutState, write_state
from emotion_rollout.errors import ServingError, VersionNotFound
from emotion_rollout.operations import Rollout
from emotion_rollout.serving_applier import ServingRolloutApplier
from emotion_rollout.serving_client import ServingClient
from emotion_rollout.serving_config import loaded_versions, model_entry, read_config, with_versions_and_labels
from emotion_rollout.settings import RolloutSettings
from harness.fake_serving import serve
from harness.servers import REPO, free_port
from tests.rollout.conftest import ROLLOUT_PORTS


class RecordingClient(ServingClient):
    """The real gRPC client, remembering every config it pushed (to check their order)."""

    def __init__(self, address: str):
        super().__init__(address)
        self.pushed: list[tuple[set[int], dict[str, int]]] = []

    def reload(self, config):
        entry = model_entry(config, "emotion")
        self.pushed.append((loaded_versions(entry), dict(entry.version_labels)))
        super().reload(config)


def write_initial_config(path, base, versions=(1,), labels=None):
    template = read_config(REPO / "deploy" / "serving" / "models.config")
    config = with_versions_and_labels(template, "emotion", set(versions), labels or {"stable": 1, "canary": 1})
    model_entry(config, "emotion").base_path = str(base)
    path.write_text(text_format.MessageToString(config))
    return path


@pytest.fixture
def serving(model_base, tmp_path):
    config_path = write_initial_config(tmp_path / "models.config", model_base)
    port = free_port(*ROLLOUT_PORTS)
    server, store = serve(port, "emotion", model_base, model_config_file=config_path)
    client = RecordingClient(f"127.0.0.1:{port}")
    write_state(model_base / "rollout.json", RolloutState(stable=1))
    settings = RolloutSettings(model_base_path=model_base, rollout_backend="serving", serving_model_config=config_path)
    rollout = Rollout(settings, ServingRolloutApplier(client, config_path, "emotion", 60), log=lambda _: None)
    yield rollout, store, client, config_path
    client.close()
    server.stop(grace=None)


def labels_only_name_loaded_versions(initially_loaded: set[int], pushed):
    """Serving refuses a label on a version that is not loaded yet: every push must respect that."""
    loaded = set(initially_loaded)
    for versions, labels in pushed:
        assert set(labels.values()) <= loaded, f"label moved to an unloaded version: {labels}, loaded {loaded}"
        # A version counts as loaded once a previous push asked for it (wait_available ran between).
        loaded = versions


def test_canary_promote_rollback_move_labels_in_servings_order(serving):
    rollout, store, client, config_path = serving

    rollout.canary(2, 0.2, skip_gate=True)
    assert store.labels == {"stable": 1, "canary": 2} and set(store.loaded) == {1, 2}
    rollout.promote()
    assert store.labels == {"stable": 2, "canary": 2}
    assert set(store.loaded) == {1, 2}, "the version a rollback returns to must stay loaded"
    rollout.rollback()
    assert store.labels == {"stable": 1, "canary": 1} and set(store.loaded) == {1}

    labels_only_name_loaded_versions({1}, client.pushed)
    # The first push of the canary loads 2 without touching labels; the next moves them.
    assert client.pushed[0] == ({1, 2}, {"stable": 1, "canary": 1})
    assert client.pushed[1] == ({1, 2}, {"stable": 1, "canary": 2})
    # The file on disk is what Serving was last told, so its own file poll changes nothing.
    entry = model_entry(read_config(config_path), "emotion")
    assert (loaded_versions(entry), dict(entry.version_labels)) == client.pushed[-1]
    assert rollout.state().stable == 1


def test_a_half_written_version_is_refused_before_serving_is_asked(serving):
    rollout, _, client, _ = serving
    # Folder 3 has no saved_model.pb yet.
    with pytest.raises(VersionNotFound, match="incomplete"):
        rollout.canary(3, 0.1, skip_gate=True)
    assert client.pushed == [] and rollout.state().canary is None


def test_label_on_unloaded_version_is_refused_locally(tmp_path):
    config = read_config(REPO / "deploy" / "serving" / "models.config")
    with pytest.raises(ServingError, match="would not be loaded"):
        with_versions_and_labels(config, "emotion", {1}, {"stable": 2})


def test_wait_available_times_out_on_a_version_that_never_loads(serving):
    _, _, client, _ = serving
    with pytest.raises(ServingError, match="not AVAILABLE"):
        client.wait_available("emotion", {7}, timeout_s=0.5, poll_s=0.1)
