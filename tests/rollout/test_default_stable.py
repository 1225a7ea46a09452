"""Without a state file, the rollout tool's stable is what the embedded gateway serves by default:
the newest version that loads, not the newest folder when that one is broken."""

from __future__ import annotations

import pytest
from emotion_contract import layout

from emotion_rollout.appliers import EmbeddedRolloutApplier
from emotion_rollout.errors import VersionNotFound
from emotion_rollout.operations import Rollout
from emotion_rollout.settings import RolloutSettings
from harness.http import get
from harness.servers import MODEL_DIR, Gateway

NEWEST = layout.newest_version(MODEL_DIR)


def _broken(folder) -> None:
    """Complete by name (saved_model.pb, labels) but not a SavedModel."""
    (folder / "assets").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01this is not a SavedModel" * 100)
    (folder / "assets" / "labels.txt").write_text("angry\ndisgust\nfear\nhappy\nsad\nsurprise\nneutral\n")


@pytest.mark.slow
def test_without_a_state_file_stable_is_the_newest_version_that_loads(tmp_path):
    base = tmp_path / "emotion"
    base.mkdir()
    (base / str(NEWEST)).symlink_to(MODEL_DIR / str(NEWEST), target_is_directory=True)
    _broken(base / str(NEWEST + 1))
    state_path = tmp_path / "rollout.json"
    rollout = Rollout(RolloutSettings(model_base_path=base, rollout_state_path=state_path),
                      EmbeddedRolloutApplier(), log=lambda _: None)
    gateway = Gateway.launch({"MODEL_BASE_PATH": str(base), "ROLLOUT_STATE_PATH": str(state_path)})
    try:
        status = rollout.status()  # while the gateway boots
        assert status["versions"] == [NEWEST, NEWEST + 1]  # both complete by name
        assert status["state"]["stable"] == NEWEST and status["state"]["canary"] is None
        served = get(f"{gateway.wait().url}/v1/models").json()
        assert served["versions"] == [NEWEST]
        assert served["version_labels"]["stable"] == status["state"]["stable"]
    finally:
        gateway.stop()
    assert not state_path.exists()  # reading the state wrote nothing

    (base / str(NEWEST)).unlink()
    with pytest.raises(VersionNotFound, match="loads as a model"):
        rollout.state()
