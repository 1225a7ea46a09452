"""Applying a new rollout state. The embedded gateway needs only the state file (this module);
TF Serving needs its labels moved first (serving_backend.py, imported only when used: it pulls in
TensorFlow's protos)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from emotion_contract.rollout import RolloutState, write_state

from .versions import newest_version

Log = Callable[[str], None]


class Backend(Protocol):
    name: str

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState: ...

    def default_stable(self, model_base: Path) -> int:
        """What the gateway serves while no state file exists."""
        ...


class EmbeddedBackend:
    """The gateway loads every version the state names itself, before routing to it."""
    name = "embedded"

    def default_stable(self, model_base: Path) -> int:
        # The embedded gateway routes to the newest version it loaded (emotion_contract.rollout).
        return newest_version(model_base)

    def apply(self, new: RolloutState, state_path: Path, log: Log) -> RolloutState:
        saved = write_state(state_path, new)
        log(f"state written to {state_path}")
        return saved
