"""Rollout appliers: how a new rollout state reaches what serves the model.

An applier is not an inference backend (those are the gateway's `emotion_api.backends`): it puts a
decided state into effect. With the embedded gateway that is only the state file (this module);
TF Serving needs its versions loaded and labels moved first (serving_applier.py, imported only
when used: it pulls in TensorFlow Serving's protos)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from emotion_contract.rollout import RolloutState, write_state

from . import gate

Log = Callable[[str], None]


class RolloutApplier(Protocol):
    name: str  # the serving backend it applies to: "embedded" or "serving" (ROLLOUT_BACKEND)

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState: ...

    def default_stable(self, model_base: Path) -> int:
        """What the gateway serves while no state file exists."""
        ...


class EmbeddedRolloutApplier:
    """Writes the state file; the embedded gateway loads every version it names before routing to it."""
    name = "embedded"

    def default_stable(self, model_base: Path) -> int:
        # The embedded gateway routes to the newest version it loaded (emotion_contract.rollout),
        # and refuses a folder that does not load: the newest folder is not stable if it is broken.
        return gate.newest_loading_version(model_base)

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState:
        saved = write_state(state_path, new)
        log(f"state written to {state_path}")
        return saved
