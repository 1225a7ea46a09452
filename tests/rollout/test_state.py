"""The rollout state file and its transitions, on a real copy of the model base."""

from __future__ import annotations

import json
import os

import pytest

from emotion_api.rollout_state import RolloutWatcher
from emotion_contract.layout import complete_versions
from emotion_contract.rollout import RolloutState, read_state, write_state
from emotion_rollout import transitions
from emotion_rollout.appliers import EmbeddedRolloutApplier
from emotion_rollout.errors import InvalidTransition, VersionNotFound
from emotion_rollout.operations import Rollout
from emotion_rollout.settings import RolloutSettings
from emotion_rollout.versions import newest_version, require_version


def test_half_written_versions_are_never_offered(model_base):
    # .staging-abc123 is complete inside but hidden; 3 has variables but no saved_model.pb yet.
    assert complete_versions(model_base) == [1, 2]
    assert newest_version(model_base) == 2
    with pytest.raises(VersionNotFound, match="incomplete"):
        require_version(model_base, 3)
    with pytest.raises(VersionNotFound, match="missing"):
        require_version(model_base, 9)


def test_missing_state_file_means_newest_is_stable(model_base):
    state = Rollout(RolloutSettings(model_base_path=model_base), EmbeddedRolloutApplier()).state()
    assert (state.stable, state.canary, state.previous_stable) == (2, None, ())


def test_save_is_atomic_and_readable_by_the_gateway(model_base):
    path = model_base / "rollout.json"
    saved = write_state(path, RolloutState(stable=1, canary=2, canary_weight=0.25, previous_stable=(1,)))
    assert saved.updated_at
    # No temporary file is left beside it, and the gateway's own reader agrees on every field.
    assert sorted(p.name for p in model_base.iterdir() if p.name.startswith(".rollout.json")) == []
    gateway_view = read_state(path)
    assert (gateway_view.stable, gateway_view.canary, gateway_view.canary_weight) == (1, 2, 0.25)
    assert json.loads(path.read_text())["previous_stable"] == [1]
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_gateway_watcher_sees_each_saved_state(model_base):
    path = model_base / "rollout.json"
    watcher = RolloutWatcher(path, poll_s=0.0)
    write_state(path, RolloutState(stable=1))
    assert watcher.current().canary is None
    write_state(path, RolloutState(stable=1, canary=2, canary_weight=0.5))
    assert watcher.current().canary == 2


def test_canary_promote_rollback_cycle():
    state = RolloutState(stable=1)
    state = transitions.start_canary(state, 2, 0.1)
    assert (state.stable, state.canary, state.canary_weight) == (1, 2, 0.1)
    state = transitions.promote(state)
    assert (state.stable, state.canary, state.previous_stable) == (2, None, (1,))
    state = transitions.rollback(state)
    assert (state.stable, state.canary, state.previous_stable) == (1, None, ())


def test_rollback_with_a_live_canary_drops_only_the_canary():
    state = RolloutState(stable=2, canary=3, canary_weight=0.2, previous_stable=(1,))
    state = transitions.rollback(state)
    assert (state.stable, state.canary, state.canary_weight, state.previous_stable) == (2, None, 0.0, (1,))


@pytest.mark.parametrize("change, message", [
    (lambda s: transitions.start_canary(s, 1, 0.1), "already stable"),
    (lambda s: transitions.start_canary(s, 2, 0.0), "weight"),
    (lambda s: transitions.start_canary(s, 2, 1.5), "weight"),
    (lambda s: transitions.promote(s), "no canary"),
    (lambda s: transitions.rollback(s), "nothing to roll back"),
])
def test_nonsense_transitions_are_refused(change, message):
    with pytest.raises(InvalidTransition, match=message):
        change(RolloutState(stable=1))


def test_serving_keeps_the_rollback_target_loaded():
    state = RolloutState(stable=3, canary=4, canary_weight=0.1, previous_stable=(1, 2))
    assert state.serving_versions() == {2, 3, 4}
    assert state.serving_labels() == {"stable": 3, "canary": 4}
    # Without a canary the label still exists, naming stable, for gateways not yet caught up.
    assert RolloutState(stable=3).serving_labels() == {"stable": 3, "canary": 3}
